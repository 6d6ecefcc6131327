"""Hidden states of a fairseq wav2vec 2.0 or HuBERT checkpoint, stored inside the tokenizer file.

Only what the chosen layer depends on is kept: the convolutional feature extractor, its
projection and the first ``layer`` Transformer blocks (the pre-training heads, the
quantizer and the deeper blocks are dropped), together with a plain-dict model config.
The tokenizer file is therefore self-contained: it runs without the original checkpoint.
Both architectures share fairseq's ``Wav2Vec2Model`` feature path (HuBERT reuses its
feature extractor and ``TransformerEncoder``), so one runner serves both.

``layer`` counts Transformer blocks from 1 (HuBERT's convention): layer L is the output of
block L, before any final layer norm.
"""

import dataclasses
import enum
import os
import re
from argparse import Namespace
from types import SimpleNamespace
from typing import Any, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .errors import TokenizerError

PRETRAINED = ("wav2vec2", "hubert")
FINETUNED = ("wav2vec_ctc", "wav2vec_seq2seq")
FINETUNED_PREFIX = "w2v_encoder.w2v_model."
_KEPT_PREFIXES = ("feature_extractor.", "layer_norm.", "post_extract_proj.", "encoder.")
_LAYER_KEY = re.compile(r"^encoder\.layers\.(\d+)\.")


def plain(obj: Any) -> Any:
    """A config as nested dicts/lists of str, int, float, bool and None (loadable with weights_only)."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(obj):
            try:
                obj = OmegaConf.to_container(obj, resolve=True, enum_to_str=True)
            except Exception:  # unresolvable interpolations: keep them as text
                obj = OmegaConf.to_container(obj, resolve=False, enum_to_str=True)
    except ImportError:  # pragma: no cover - omegaconf comes with fairseq
        pass
    if isinstance(obj, Namespace):
        obj = vars(obj)
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return plain(obj.value)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def is_needed(key: str, layer: int) -> bool:
    """Whether a weight of the checkpoint is used to compute the states of block ``layer``."""
    if not key.startswith(_KEPT_PREFIXES):
        return False
    m = _LAYER_KEY.match(key)
    return m is None or int(m.group(1)) < layer


def _model_and_task(
    state: Dict[str, Any], path: str
) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, torch.Tensor]]:
    cfg = state.get("cfg")
    if cfg is None and state.get("args") is not None:
        from fairseq.dataclass.utils import convert_namespace_to_omegaconf

        cfg = convert_namespace_to_omegaconf(state["args"])
    cfg = plain(cfg) if cfg is not None else None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict) or "model" not in state:
        raise TokenizerError(f"{path}: not a fairseq checkpoint (no model config or weights)")
    model_cfg, task_cfg, weights = cfg["model"], cfg.get("task") or {}, state["model"]
    name = model_cfg.get("_name")
    if name in FINETUNED:
        inner = plain(model_cfg.get("w2v_args"))
        if not isinstance(inner, dict) or not isinstance(inner.get("model"), dict):
            raise TokenizerError(
                f"{path}: fine-tuned checkpoint without its pre-training config (w2v_args)"
            )
        model_cfg = inner["model"]
        task_cfg = {**(inner.get("task") or {}), **task_cfg}
        weights = {
            k[len(FINETUNED_PREFIX) :]: v
            for k, v in weights.items()
            if k.startswith(FINETUNED_PREFIX)
        }
        name = model_cfg.get("_name")
    if name not in PRETRAINED:
        raise TokenizerError(
            f"{path}: model {name!r} is neither a wav2vec 2.0 nor a HuBERT model ({', '.join(PRETRAINED)})"
        )
    return model_cfg, task_cfg, weights


def load_checkpoint(path: str) -> Dict[str, Any]:
    """A fairseq checkpoint's state on the CPU; a missing or unreadable file is a TokenizerError."""
    from fairseq import checkpoint_utils

    from ..checkpoint_safety import allow_fairseq_checkpoint_globals

    allow_fairseq_checkpoint_globals()
    if not os.path.isfile(path):
        raise TokenizerError(f"{path}: no such checkpoint file")
    try:
        return checkpoint_utils.load_checkpoint_to_cpu(path)
    except Exception as e:
        raise TokenizerError(
            f"{path}: cannot load as a fairseq checkpoint ({type(e).__name__}: {e})"
        ) from None


def read_checkpoint(path: os.PathLike, layer: int) -> Dict[str, Any]:
    """The part of a fairseq wav2vec 2.0 / HuBERT checkpoint needed for block ``layer``, as plain data."""
    path = str(path)
    model_cfg, task_cfg, weights = _model_and_task(load_checkpoint(path), path)
    total = int(model_cfg.get("encoder_layers", 0))
    if not 1 <= layer <= total:
        raise TokenizerError(
            f"{path}: layer {layer} is outside 1..{total} (the model has {total} Transformer blocks)"
        )
    config = dict(model_cfg, encoder_layers=layer)
    payload = {
        "architecture": model_cfg["_name"],
        "checkpoint": os.path.basename(path),
        "layer": int(layer),
        "total_layers": total,
        "normalize_waveform": bool(task_cfg.get("normalize", False)),
        "config": config,
        "weights": {
            k: v.detach().clone().contiguous() for k, v in weights.items() if is_needed(k, layer)
        },
    }
    HiddenStates(payload)  # fail now, not at the first utterance, if the weights do not fit
    return payload


def _runner_config(stored: Dict[str, Any]) -> SimpleNamespace:
    """fairseq's defaults overlaid with the stored config, minus everything training-only."""
    from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config

    merged = {}
    for f in dataclasses.fields(Wav2Vec2Config):
        if f.default is not dataclasses.MISSING:
            merged[f.name] = plain(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            merged[f.name] = plain(f.default_factory())  # type: ignore[misc]
    merged.update(stored)
    # Inference only: no layer drop (it would also draw from numpy's global generator),
    # no Gumbel quantizer, no cropping; dropout is inactive in eval mode anyway.
    merged.update(
        encoder_layerdrop=0.0,
        quantize_targets=False,
        quantize_input=False,
        crop_seq_to_multiple=1,
        checkpoint_activations=False,
    )
    return SimpleNamespace(**merged)


class HiddenStates(nn.Module):
    """Waveform -> (frames, dim) hidden states of one block, every 20 ms (for the usual conv stack)."""

    def __init__(self, payload: Dict[str, Any]):
        super().__init__()
        from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Model

        self.layer = int(payload["layer"])
        self.normalize_waveform = bool(payload["normalize_waveform"])
        with torch.random.fork_rng(
            devices=[]
        ):  # random init is overwritten; keep the caller's generator untouched
            model = Wav2Vec2Model(_runner_config(payload["config"]))
        own = model.state_dict()
        needed = {k for k in own if is_needed(k, self.layer)}
        weights = payload["weights"]
        missing = sorted(needed - set(weights))
        unexpected = sorted(set(weights) - needed)
        wrong = sorted(
            k for k in needed & set(weights) if tuple(weights[k].shape) != tuple(own[k].shape)
        )
        if missing or unexpected or wrong:
            raise TokenizerError(
                "hidden-state weights do not fit the model config: "
                f"missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]}"
            )
        model.load_state_dict(weights, strict=False)
        model.eval()
        self.model = model
        self.dim = int(model.cfg.encoder_embed_dim)

    @torch.inference_mode()
    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = waveform.float().reshape(1, -1)
        if self.normalize_waveform:
            x = F.layer_norm(x, x.shape[1:])
        out = self.model.extract_features(x, padding_mask=None, mask=False, layer=self.layer - 1)
        return out["x"][0]
