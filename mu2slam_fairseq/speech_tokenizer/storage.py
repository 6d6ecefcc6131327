"""The tokenizer file: one ``torch.save`` of plain tensors and containers, read back with
``torch.load(weights_only=True)`` so that loading can never run code.

A SHA-256 of the content guards against damage that still unpickles. Writes go to a
temporary file in the same folder and are renamed into place, so a reader never sees
half a file. Every way a file can be wrong (missing, truncated,
corrupt, some other torch file, a newer format, inconsistent content) becomes a
``TokenizerFileError`` naming the file.
"""

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any, Dict, Union

import torch

from ..atomic import atomic_write
from .errors import TokenizerError, TokenizerFileError
from .tokenizer import FORMAT, VERSION, SpeechTokenizer

PathLike = Union[str, os.PathLike]
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
REQUIRED_KEYS = ("format", "version", "kind", "mean", "std", "codebook", "checksum")


def content_digest(obj: Any) -> str:
    """SHA-256 over every tensor's bytes, dtype and shape and every other value, in key order.

    Stored in the file and checked on load: a torch archive does not verify its own
    content, so without it a flipped byte inside a tensor would load as a wrong codebook.
    """
    h = hashlib.sha256()

    def walk(x: Any, where: str) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"{where}|tensor|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, dict):
            h.update(f"{where}|dict|{len(x)}|".encode())
            for k in sorted(x, key=str):
                walk(x[k], f"{where}/{k}")
        elif isinstance(x, (list, tuple)):
            h.update(f"{where}|list|{len(x)}|".encode())
            for i, v in enumerate(x):
                walk(v, f"{where}/{i}")
        else:
            h.update(f"{where}|{type(x).__name__}|{x!r}|".encode())

    walk({k: v for k, v in obj.items() if k != "checksum"}, "")
    return h.hexdigest()


def save_state(state: Dict[str, Any], path: PathLike) -> None:
    path = Path(path)
    state = dict(state, checksum=content_digest(state))
    with atomic_write(path) as f:
        torch.save(state, f)


def read_state(path: PathLike) -> Dict[str, Any]:
    """The checked content of a tokenizer file."""
    path = Path(path)
    if not path.is_file():
        raise TokenizerFileError(path, "no such tokenizer file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic:
        raise TokenizerFileError(path, "empty file, not a speech tokenizer")
    if magic != ZIP_MAGIC:
        raise TokenizerFileError(
            path, "not a speech tokenizer file (not a torch archive: some other format, or corrupt)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise TokenizerFileError(
            path,
            "not a speech tokenizer file (it holds objects other than plain tensors and containers)",
        ) from None
    except Exception as e:  # torch raises many types for damaged archives
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise TokenizerFileError(
            path, f"corrupt or truncated speech tokenizer file ({reason})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TokenizerFileError(path, f"not a speech tokenizer file (no {FORMAT!r} format marker)")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise TokenizerFileError(path, f"speech tokenizer file lacks {', '.join(missing)}")
    version = state["version"]
    if not isinstance(version, int) or version < 1:
        raise TokenizerFileError(path, f"invalid format version {version!r}")
    if version > VERSION:
        raise TokenizerFileError(
            path,
            f"format version {version} is newer than this code reads ({VERSION}); upgrade mu2slam-fairseq",
        )
    if state.get("checksum") != content_digest(state):
        raise TokenizerFileError(
            path, "corrupt speech tokenizer file (its content does not match its checksum)"
        )
    return state


def load_tokenizer(path: PathLike) -> SpeechTokenizer:
    """Load a tokenizer file; any problem is a ``TokenizerFileError`` naming the file."""
    state = read_state(path)
    try:
        tok = SpeechTokenizer.from_state(state)
        if tok.hidden is not None:
            tok.hidden_model()  # check the stored model now rather than at the first utterance
        if tok.quantizer is not None:
            tok.units_model()
    except TokenizerFileError:
        raise
    except (TokenizerError, KeyError, TypeError, AttributeError, RuntimeError) as e:
        raise TokenizerFileError(path, f"inconsistent speech tokenizer file ({e})") from None
    return tok
