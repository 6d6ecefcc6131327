"""SpecAugment on the log-Mel input of training batches (noisy fine-tuning, paper §2.4).

The transform is fairseq's own ``SpecAugmentTransform``, configured with the keys of a
fairseq speech_to_text ``config.yaml`` ``specaugment`` section::

    specaugment: {freq_mask_N: 2, freq_mask_F: 27, time_mask_N: 2, time_mask_T: 40,
                  time_mask_p: 1.0, time_warp_W: 0}

(``time_wrap_W``, the spelling fairseq's data preparation scripts write, is accepted for
``time_warp_W``.) fairseq's transform draws from NumPy's global generator; here every call
runs under a seed derived from (training seed, epoch, example index), so an example's
augmentation is reproducible and a resumed run repeats it, while data-loader workers stay
independent.
"""

from typing import Any, Dict, Mapping, Tuple

import numpy as np
import torch
from fairseq.data import data_utils
from fairseq.data.audio.feature_transforms.specaugment import SpecAugmentTransform

SPECAUGMENT_KEYS = {
    "freq_mask_N": int,
    "freq_mask_F": int,
    "time_mask_N": int,
    "time_mask_T": int,
    "time_mask_p": float,
    "time_warp_W": int,
    "mask_value": float,
}
KEY_ALIASES = {"time_wrap_W": "time_warp_W"}
_SALT = 7919  # keeps augmentation draws apart from any other use of (seed, epoch, index)


def specaugment_config(raw: Mapping[str, Any]) -> Dict[str, Any]:
    """Validated fairseq SpecAugment settings; raises ValueError naming the bad key."""
    out: Dict[str, Any] = {}
    for key, value in raw.items():
        name = KEY_ALIASES.get(key, key)
        if name not in SPECAUGMENT_KEYS:
            raise ValueError(f"unknown key {key!r}; expected one of {', '.join(SPECAUGMENT_KEYS)}")
        kind = SPECAUGMENT_KEYS[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and value != int(value))
        ):
            raise ValueError(
                f"{key} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
            )
        if value < 0:
            raise ValueError(f"{key} must be >= 0, got {value!r}")
        out[name] = kind(value)
    if out.get("freq_mask_N", 0) > 0 and out.get("freq_mask_F", 0) <= 0:
        raise ValueError("freq_mask_F must be > 0 when freq_mask_N > 0")
    if out.get("time_mask_N", 0) > 0 and out.get("time_mask_T", 0) <= 0:
        raise ValueError("time_mask_T must be > 0 when time_mask_N > 0")
    if out.get("time_warp_W", 0) > 0:
        try:
            import cv2  # noqa: F401  (fairseq's time warp resizes with OpenCV)
        except ImportError:
            raise ValueError(
                "time_warp_W > 0 needs OpenCV (pip install opencv-python-headless)"
            ) from None
    return out


class SpecAugment:
    """``augment(features, (seed, epoch, index))`` for the datasets; picklable."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = specaugment_config(config)
        self.transform = SpecAugmentTransform.from_config_dict(self.config)

    def __call__(self, feats: torch.Tensor, seed: Tuple[int, int, int]) -> torch.Tensor:
        with data_utils.numpy_seed(*seed, _SALT):
            out = self.transform(feats.numpy())
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32))

    def __repr__(self) -> str:
        return repr(self.transform)
