"""A w2v-BERT checkpoint's quantizer as a frozen tokenizer (kind ``w2vbert``).

Only what the code ids depend on is kept: the input CMVN, the front end with its layer
norm (``W2vBertFeatures``) and the quantizer's projection and code vectors; the Conformer
modules and heads are dropped. The tokenizer file is self-contained, and it computes the
ids with the model's own modules and ``code_ids``, so they are the model's ids.
"""

import os
from types import SimpleNamespace
from typing import Any, Dict, Tuple

import torch
from torch import nn

from .errors import TokenizerError

MODEL = "mu2slam_w2vbert"
_KEPT_PREFIXES = ("features.", "quantizer.")
_CONFIG_KEYS = (
    "input_feat_per_channel",
    "conv_channels",
    "embed_dim",
    "latent_vars",
    "latent_groups",
    "latent_dim",
    "latent_temp",
)


def _is_w2vbert(name: Any) -> bool:
    from fairseq.models import ARCH_MODEL_REGISTRY

    from ..models.w2vbert import W2vBertModel

    return name == MODEL or ARCH_MODEL_REGISTRY.get(name) is W2vBertModel


def read_w2vbert_checkpoint(
    path: os.PathLike,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, Dict[str, Any]]:
    """(mean, std, code vectors, payload) of a ``mu2slam_w2vbert`` checkpoint, as plain data."""
    from .hidden import load_checkpoint, plain

    path = str(path)
    state = load_checkpoint(path)
    cfg = plain(state.get("cfg"))
    model_cfg = cfg.get("model") if isinstance(cfg, dict) else None
    if not isinstance(model_cfg, dict) or not _is_w2vbert(model_cfg.get("_name")):
        name = model_cfg.get("_name") if isinstance(model_cfg, dict) else None
        raise TokenizerError(f"{path}: model {name!r} is not a {MODEL} model")
    weights = state["model"]
    payload = {
        "checkpoint": os.path.basename(path),
        "config": {k: model_cfg[k] for k in _CONFIG_KEYS},
        "weights": {
            k: v.detach().clone().contiguous()
            for k, v in weights.items()
            if k.startswith(_KEPT_PREFIXES)
        },
    }
    W2vBertUnits(payload)  # fail now, not at the first utterance, if the weights do not fit
    codebook = weights["quantizer.vars"][0].float().clone()  # (G V, latent_dim / G)
    return weights["input_mean"].float(), weights["input_std"].float(), codebook, payload


class W2vBertUnits(nn.Module):
    """Normalised log-Mel (n, F) -> X (grid_length(n), D), and X -> code ids."""

    def __init__(self, payload: Dict[str, Any]):
        super().__init__()
        from ..models.w2vbert import W2vBertFeatures, build_quantizer

        cfg = SimpleNamespace(**payload["config"])
        with torch.random.fork_rng(devices=[]):  # init is overwritten: leave the caller's RNG
            self.features = W2vBertFeatures(
                cfg.input_feat_per_channel, cfg.conv_channels, cfg.embed_dim
            )
            self.quantizer = build_quantizer(cfg)
        try:
            self.load_state_dict(payload["weights"], strict=True)
        except RuntimeError as e:
            raise TokenizerError(f"quantizer weights do not fit the model config: {e}") from None
        self.eval()

    @property
    def codebook_size(self) -> int:
        return self.quantizer.num_vars**self.quantizer.groups

    @torch.inference_mode()
    def vectors(self, feats: torch.Tensor) -> torch.Tensor:
        x, _ = self.features(feats[None], torch.tensor([len(feats)]))
        return x[0]

    @torch.inference_mode()
    def ids(self, vectors: torch.Tensor) -> torch.Tensor:
        from ..models.w2vbert import code_ids

        return code_ids(self.quantizer, vectors)
