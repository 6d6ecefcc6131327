"""Manifest columns and rows, built one way for every corpus script."""

from typing import Tuple

from mu2slam_fairseq.data.io.manifest import COLUMNS, Row


def _columns(*unused: str) -> Tuple[str, ...]:
    """The reader's columns (in its order) but ``unused``, so no script writes one it lacks."""
    return tuple(c for c in COLUMNS if c not in unused)


SPEECH_COLUMNS = _columns("units")
UNLABELED_COLUMNS = _columns("units", "src_text", "tgt_text", "tgt_lang")
TEXT_COLUMNS = _columns("units", "tgt_text", "tgt_lang", "speaker")
MT_COLUMNS = _columns("units", "speaker")


def pair_row(uid: str, src_text: str, tgt_text: str, src_lang: str, tgt_lang: str) -> Row:
    """A source and its target: translation pairs, the text tasks' input and answer."""
    return {
        "id": uid,
        "src_text": src_text,
        "tgt_text": tgt_text,
        "src_lang": src_lang,
        "tgt_lang": tgt_lang,
    }


def st_row(
    uid: str, text: str, translation: str, src_lang: str, tgt_lang: str, speaker: str = ""
) -> Row:
    """A speech translation row, but for its clip (see ``with_clip``)."""
    return {**pair_row(uid, text, translation, src_lang, tgt_lang), "speaker": speaker}


def asr_row(uid: str, text: str, lang: str, speaker: str = "") -> Row:
    """An ASR row, but for its clip: the transcript is both source and target (fairseq reads
    ``tgt_text``)."""
    return st_row(uid, text, text, lang, lang, speaker)


def speech_row(uid: str, lang: str, speaker: str = "") -> Row:
    """An unlabeled speech row, but for its clip."""
    return {"id": uid, "src_lang": lang, "speaker": speaker}


def text_row(uid: str, text: str, lang: str) -> Row:
    """A monolingual text row."""
    return {"id": uid, "src_text": text, "src_lang": lang}


def with_clip(row: Row, audio: str, n_frames: int) -> Row:
    """``row`` with its clip: the ``audio`` field and the clip's length in frames."""
    return {**row, "audio": audio, "n_frames": str(n_frames)}
