"""Manifest columns and rows, built one way for every corpus script."""

from typing import Dict

Row = Dict[str, str]

SPEECH_COLUMNS = (
    "id",
    "audio",
    "n_frames",
    "src_text",
    "tgt_text",
    "src_lang",
    "tgt_lang",
    "speaker",
)
UNLABELED_COLUMNS = ("id", "audio", "n_frames", "src_lang", "speaker")
TEXT_COLUMNS = ("id", "audio", "n_frames", "src_text", "src_lang")
MT_COLUMNS = ("id", "audio", "n_frames", "src_text", "tgt_text", "src_lang", "tgt_lang")


def asr_row(uid: str, audio: str, n_frames: int, text: str, lang: str, speaker: str) -> Row:
    """An ASR row: the transcript is both source and target (fairseq reads ``tgt_text``)."""
    return {
        "id": uid,
        "audio": audio,
        "n_frames": str(n_frames),
        "src_text": text,
        "tgt_text": text,
        "src_lang": lang,
        "tgt_lang": lang,
        "speaker": speaker,
    }
