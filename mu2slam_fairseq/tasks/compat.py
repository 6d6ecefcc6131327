"""Does a checkpoint fit this run? Vocabulary and architecture, said plainly.

fairseq's ``--finetune-from-model`` copies the weights with a strict ``load_state_dict``
and, on any mismatch, reports only "please ensure that the architectures match". Both
tasks store the joint dictionary's symbols in the checkpoint's task state
(``DICTIONARY_KEY``), so fine-tuning and generation can say which symbols differ, and the
fine-tuning task compares the saved model configuration with the run's before training.
"""

import os
from argparse import Namespace
from typing import Any, Dict, List, Optional, Sequence

from ..checkpoint_safety import load_checkpoint_file

DICTIONARY_KEY = "mu2slam_dictionary"
# model settings that change parameter shapes or what the weights compute
ARCH_FIELDS = (
    "embed_dim",
    "input_feat_per_channel",
    "conv_channels",
    "encoder_layers",
    "encoder_ffn_embed_dim",
    "encoder_attention_heads",
    "encoder_conv_kernel_size",
    "encoder_conv_norm_groups",
    "decoder_layers",
    "decoder_ffn_embed_dim",
    "decoder_attention_heads",
    "decoder_activation_fn",
    "mlm_activation_fn",
    "no_scale_embedding",
    "no_share_encoder_decoder_embed",
    "no_share_decoder_input_output_embed",
    "no_share_mlm_head_embed",
    "no_share_ctc_head_embed",
)
EMBEDDING_KEY = "encoder.embed_tokens.weight"


class CheckpointMismatchError(ValueError):
    """The checkpoint's vocabulary or architecture differs from this run's."""


def dictionary_difference(saved: Sequence[str], current: Sequence[str]) -> Optional[str]:
    """None when equal, else what differs: sizes, the first differing index, symbols only in one."""
    saved, current = list(saved), list(current)
    if saved == current:
        return None
    parts = [f"the checkpoint's dictionary has {len(saved)} symbols, this run's {len(current)}"]
    first = next(
        (i for i, (a, b) in enumerate(zip(saved, current)) if a != b), min(len(saved), len(current))
    )
    a = repr(saved[first]) if first < len(saved) else "(end)"
    b = repr(current[first]) if first < len(current) else "(end)"
    parts.append(f"first difference at index {first}: {a} in the checkpoint, {b} in this run")
    only_saved = [s for s in saved if s not in set(current)]
    only_current = [s for s in current if s not in set(saved)]
    for name, symbols in (
        ("only in the checkpoint", only_saved),
        ("only in this run", only_current),
    ):
        if symbols:
            more = f" and {len(symbols) - 8} more" if len(symbols) > 8 else ""
            parts.append(f"{name}: {' '.join(symbols[:8])}{more}")
    return "; ".join(parts)


def _as_dict(cfg: Any) -> Dict[str, Any]:
    if cfg is None:
        return {}
    if isinstance(cfg, Namespace):
        return vars(cfg)
    if isinstance(cfg, dict):
        return cfg
    try:
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)
    except Exception:
        return {k: getattr(cfg, k) for k in ARCH_FIELDS if hasattr(cfg, k)}


def architecture_differences(saved: Any, current: Any) -> List[str]:
    """``field: checkpoint X, this run Y`` for every shape-relevant model setting that differs."""
    s, c = _as_dict(saved), _as_dict(current)
    out = []
    for k in ARCH_FIELDS:
        if k in s and k in c and s[k] is not None and c[k] is not None and str(s[k]) != str(c[k]):
            out.append(f"{k}: checkpoint {s[k]}, this run {c[k]}")
    return out


def read_checkpoint(path: os.PathLike) -> Dict[str, Any]:
    """The checkpoint's state, weights-only and memory-mapped where possible (only a few
    entries are read); a damaged or tampered file is a ``CheckpointFileError`` naming it."""
    return load_checkpoint_file(path)


def check_checkpoint(path: os.PathLike, symbols: Sequence[str], model_cfg: Any) -> None:
    """Raise ``CheckpointMismatchError`` listing everything in which checkpoint ``path``
    does not fit a model of ``model_cfg`` over the dictionary ``symbols``."""
    state = read_checkpoint(path)
    problems = []
    saved_cfg = state.get("cfg") or {}
    saved_model = saved_cfg.get("model") if isinstance(saved_cfg, dict) else None
    if saved_model is None and state.get("args") is not None:
        saved_model = state["args"]
    model_name = _as_dict(saved_model).get("_name") or _as_dict(saved_model).get("arch")
    if model_name and not str(model_name).startswith("mu2slam"):
        problems.append(f"it holds a {model_name!r} model, not a mu2slam one")
    saved_symbols = (state.get("task_state") or {}).get(DICTIONARY_KEY)
    if saved_symbols is not None:
        diff = dictionary_difference(saved_symbols, symbols)
        if diff:
            problems.append(diff)
    elif EMBEDDING_KEY in state.get("model", {}):
        rows = state["model"][EMBEDDING_KEY].shape[0]
        if rows != len(symbols):
            problems.append(
                f"its token embedding has {rows} rows, this run's dictionary {len(symbols)} symbols"
            )
    problems += architecture_differences(saved_model, model_cfg)
    if problems:
        arch = _as_dict(saved_model).get("_name") or _as_dict(saved_model).get("arch") or "?"
        raise CheckpointMismatchError(
            f"{path} does not fit this run:\n  - "
            + "\n  - ".join(problems)
            + f"\nFine-tune with the checkpoint's architecture (--arch {arch} and the same sizes) and with a data "
            "config whose vocab.dict is the pre-training dictionary."
        )
