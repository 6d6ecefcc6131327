"""A few real Fish Fillets utterances (Dutch speech, Dutch transcript, English line) for tests."""

import re
from pathlib import Path
from typing import Dict, List

from mu2slam_fairseq.data.io.audio import fbank, load_waveform
from mu2slam_fairseq.data.io.features import write_feature_zip
from mu2slam_fairseq.data.io.manifest import write_manifest

_PAIR = re.compile(
    r'dialogId\("([^"]+)",\s*"[^"]*",\s*"((?:[^"\\]|\\.)*)"\)\s*dialogStr\("((?:[^"\\]|\\.)*)"\)'
)


def dutch_lines(fillets_root: Path, level: str) -> Dict[str, tuple]:
    """{dialogue id: (English, Dutch)} of one level."""
    text = (fillets_root / "script" / level / "dialogs_nl.lua").read_text(encoding="utf-8")
    return {m.group(1): (m.group(2), m.group(3)) for m in _PAIR.finditer(text)}


def st_manifest(fillets_root: Path, out_dir: Path, level: str = "airplane", limit: int = 6) -> Path:
    """nl->en speech translation manifest with features in ``out_dir/fbank80.zip``."""
    lines = dutch_lines(fillets_root, level)
    clips = [
        c for c in sorted((fillets_root / "sound" / level / "nl").glob("*.ogg")) if c.stem in lines
    ][:limit]
    feats = {f"nl_{c.stem}": fbank(load_waveform(c)) for c in clips}
    refs = write_feature_zip(out_dir / "fbank80.zip", feats.items())
    rows: List[dict] = []
    for c in clips:
        key = f"nl_{c.stem}"
        en, nl = lines[c.stem]
        rows.append(
            {
                "id": key,
                "audio": refs[key],
                "n_frames": str(len(feats[key])),
                "src_text": nl,
                "tgt_text": en,
                "src_lang": "nl",
                "tgt_lang": "en",
                "speaker": c.stem.split("-")[1],
            }
        )
    path = out_dir / "st_nl_en_train.tsv"
    write_manifest(path, rows)
    return path
