"""Reading a manifest's rows into examples, one reader per data type.

A reader knows its type's columns and which of them hold which sequence of the
objectives (``S`` speech, ``v`` source text, ``t`` text; see ``objectives/``). Texts are
encoded once, here (their lengths drive bucketing); features are loaded later, one
example at a time, by the dataset.

Bad rows, so that none stops training hours in: a manifest with duplicate ids, or rows
whose audio is missing, empty or beyond the end of its feature zip, is refused (the
error names the manifest, the line and the id, and counts the rows like it); rows with
empty text or audio are skipped with a counted warning. The row checks are
``mu2slam-validate``'s too (``row_checks``). The language of an example for
sampling is its source language (speech, text, asr) or its language pair (ast, mt, t2t).
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from fairseq.data import Dictionary

from ...symbols import lang_symbol
from ..io.manifest import ManifestError, Row, read_manifest
from ..io.row_checks import RowChecks

logger = logging.getLogger(__name__)

TextEncodeFn = Callable[[str, str], List[int]]
SEGMENT_SEPARATOR = "</s>"  # between the input segments of a t2t row's src_text


@dataclass
class Example:
    id: str
    line: int
    audio: str = ""
    n_frames: int = 0
    units: Optional[np.ndarray] = None  # unit ids (not dictionary indices)
    src: Optional[np.ndarray] = None  # encoded text ids
    tgt: Optional[np.ndarray] = None
    src_lang: str = ""
    tgt_lang: str = ""


class RowReader:
    """Reads the rows of one data type; subclasses say which columns and sequences.

    ``needs_units``: parse the ``units`` column (some selected view reads units);
    ``tokenizer``: a speech tokenizer serves rows without one; ``n_units``: the
    dictionary's unit count.
    """

    data_type = ""
    needs_speech = False  # rows carry speech, the sequence S (language: src_lang)
    texts: Dict[str, Tuple[str, str]] = {}  # text sequence -> (example field, language field)
    lang_key_fields: Tuple[str, ...] = ("src_lang",)  # joined by '-': the language for sampling

    def __init__(
        self,
        manifest: Path,
        dictionary: Dictionary,
        default_langs: Tuple[Optional[str], Optional[str]],
        audio_root: Path,
        needs_units: bool = False,
        tokenizer: bool = False,
        n_units: int = 0,
    ):
        self.manifest, self.dictionary, self.default_langs = manifest, dictionary, default_langs
        self.audio_root, self.needs_units, self.tokenizer, self.n_units = (
            audio_root,
            needs_units,
            tokenizer,
            n_units,
        )
        self.checks = RowChecks(audio_root, n_units)

    def read(self, encode: Optional[TextEncodeFn]) -> List[Example]:
        """The usable examples, in manifest order; refuses the manifest on the problems
        listed in the module doc."""
        rows = read_manifest(self.manifest, required=self._required_columns())
        if self.needs_units and not self.tokenizer:
            missing = [r["id"] for r in rows if not r["units"]]
            if missing:
                raise ManifestError(
                    self.manifest,
                    None,
                    f"{len(missing)} row(s) (first: {missing[0]}) have no units and no speech tokenizer was given",
                )
        for i, row in enumerate(rows):
            first = self.checks.duplicate_of(row["id"], i + 2)
            if first is not None:
                raise self.error(i + 2, row["id"], f"duplicate id (first on line {first})")
        return list(self.stream(rows, encode))

    def stream(self, rows: Iterable[Row], encode: Optional[TextEncodeFn]) -> Iterator[Example]:
        """The usable examples of ``rows`` (line 2 onwards), one at a time, so that a huge
        manifest is never held whole (``mu2slam-binarize``). A bad row raises where it
        stands; the problems counted over the manifest (no usable example, unusable audio)
        raise after the last row."""
        skipped, first_skipped, bad, usable, n = 0, (0, ""), [], 0, 0
        for n, row in enumerate(rows, 1):
            line = n + 1
            first = self.checks.duplicate_of(row["id"], line)
            if first is not None:
                raise self.error(line, row["id"], f"duplicate id (first on line {first})")
            ex = self._parse(row, line, encode)
            if ex is None:
                skipped += 1
                first_skipped = first_skipped if skipped > 1 else (line, row["id"])
                continue
            usable += 1
            problem = self.checks.audio(ex.audio) if ex.audio else None
            if problem:
                bad.append((ex, problem))
            elif not bad:
                yield ex
        if skipped:
            logger.warning(
                "%s: skipped %d of %d rows with empty text or audio (first: line %d, id %r)",
                self.manifest,
                skipped,
                n,
                *first_skipped,
            )
        if not usable:
            raise ManifestError(self.manifest, None, f"no usable {self.data_type} examples")
        if bad:
            ex, problem = bad[0]
            more = f"; {len(bad) - 1} more row(s) with unusable audio" if len(bad) > 1 else ""
            raise self.error(
                ex.line, ex.id, f"{problem}{more} (mu2slam-validate lists every problem)"
            )

    def _required_columns(self) -> Sequence[str]:
        return ("id", "audio", "n_frames") if self.needs_speech else ("id", "src_text")

    def error(self, line: int, row_id: str, problem: str) -> ManifestError:
        return ManifestError(self.manifest, line, f"id {row_id!r}: {problem}")

    def _lang(self, row: Dict[str, str], column: str, line: int) -> str:
        lang = row[column] or self.default_langs[0 if column == "src_lang" else 1]
        if not lang:
            raise self.error(
                line, row["id"], f"empty {column} and the corpus sets no default {column}"
            )
        if lang_symbol(lang) not in self.dictionary.indices:
            raise self.error(
                line,
                row["id"],
                f"language {lang!r} has no tag {lang_symbol(lang)} in the dictionary",
            )
        return lang

    def _encode(
        self, encode: Optional[TextEncodeFn], text: str, lang: str, line: int, row_id: str
    ) -> Optional[np.ndarray]:
        if encode is None:
            raise ValueError(f"{self.manifest}: {self.data_type} data needs a text encoder")
        text = text.strip()
        if not text:
            return None
        ids = np.asarray(encode(text, lang), dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self.dictionary)):
            raise self.error(line, row_id, "the text encoder returned ids outside the dictionary")
        return ids if len(ids) else None

    def _speech(self, row: Dict[str, str], line: int) -> Optional[Example]:
        if not row["audio"]:
            return None
        n_frames, problem = self.checks.n_frames(row["n_frames"])
        if n_frames is None:
            raise self.error(line, row["id"], problem)
        if problem:  # no frames: skipped like an empty audio field
            return None
        units = None
        if row["units"] and self.needs_units:
            units, problem = self.checks.units(row["units"], n_frames)
            if problem:
                raise self.error(line, row["id"], problem)
        return Example(id=row["id"], line=line, audio=row["audio"], n_frames=n_frames, units=units)

    def _parse(
        self, row: Dict[str, str], line: int, encode: Optional[TextEncodeFn]
    ) -> Optional[Example]:
        raise NotImplementedError

    def lang_key(self, ex: Example) -> str:
        """The language of an example for sampling: its source language, or language pair."""
        return "-".join(getattr(ex, f) for f in self.lang_key_fields)


class SpeechRows(RowReader):
    """Unlabeled speech S."""

    data_type = "speech"
    needs_speech = True

    def _parse(self, row, line, encode):
        ex = self._speech(row, line)
        if ex is not None:
            ex.src_lang = self._lang(row, "src_lang", line)
        return ex


class TextRows(RowReader):
    """Unlabeled text t (``src_text``)."""

    data_type = "text"
    texts = {"t": ("src", "src_lang")}

    def _parse(self, row, line, encode):
        lang = self._lang(row, "src_lang", line)
        ids = self._encode(encode, row["src_text"], lang, line, row["id"])
        return None if ids is None else Example(id=row["id"], line=line, src=ids, src_lang=lang)


class PairedSpeechRows(RowReader):
    """Speech S with a text t (ASR: its transcript; AST: its translation).

    The transcript of an ASR row is ``src_text``, or ``tgt_text`` when ``src_text`` is
    empty (fairseq's own ASR manifests keep the transcript there).
    """

    needs_speech = True
    texts = {"t": ("tgt", "tgt_lang")}

    def _parse(self, row, line, encode):
        ex = self._speech(row, line)
        if ex is None:
            return None
        if self.data_type == "asr":
            # one language for speech and transcript, from whichever column has it
            column = "src_lang" if row["src_lang"] or not row["tgt_lang"] else "tgt_lang"
            ex.src_lang = ex.tgt_lang = self._lang(row, column, line)
            text = row["src_text"] or row["tgt_text"]
        else:
            ex.src_lang = self._lang(row, "src_lang", line)
            ex.tgt_lang = self._lang(row, "tgt_lang", line)
            text = row["tgt_text"]
        ex.tgt = self._encode(encode, text, ex.tgt_lang, line, row["id"])
        return None if ex.tgt is None else ex


class AsrRows(PairedSpeechRows):
    data_type = "asr"


class AstRows(PairedSpeechRows):
    data_type = "ast"
    lang_key_fields = ("src_lang", "tgt_lang")


class MtRows(RowReader):
    """Parallel text: source v (``src_text``) and target t (``tgt_text``)."""

    data_type = "mt"
    texts = {"v": ("src", "src_lang"), "t": ("tgt", "tgt_lang")}
    lang_key_fields = ("src_lang", "tgt_lang")

    def _required_columns(self):
        return ("id", "src_text", "tgt_text")

    def _parse(self, row, line, encode):
        ls, lt = self._lang(row, "src_lang", line), self._lang(row, "tgt_lang", line)
        v = self._encode(encode, row["src_text"], ls, line, row["id"])
        t = self._encode(encode, row["tgt_text"], lt, line, row["id"])
        if v is None or t is None:
            return None
        return Example(id=row["id"], line=line, src=v, tgt=t, src_lang=ls, tgt_lang=lt)


class TextToTextRows(MtRows):
    """Text understanding as text -> text (paper §3.5): classification, extractive QA.

    ``src_text`` holds the input segments separated by ``</s>`` (``premise </s>
    hypothesis``, ``question </s> context``); each segment is encoded on its own and the
    encoder sees them joined by the end-of-sequence symbol, which no text piece can spell.
    ``tgt_text`` is the output (a label word, the answer span).
    """

    data_type = "t2t"

    def _parse(self, row, line, encode):
        ls, lt = self._lang(row, "src_lang", line), self._lang(row, "tgt_lang", line)
        segments = [
            self._encode(encode, s, ls, line, row["id"])
            for s in row["src_text"].split(SEGMENT_SEPARATOR)
        ]
        t = self._encode(encode, row["tgt_text"], lt, line, row["id"])
        if t is None or any(s is None for s in segments):
            return None
        sep = np.array([self.dictionary.eos()], dtype=np.int64)
        v = np.concatenate([part for s in segments for part in (sep, s)][1:])
        return Example(id=row["id"], line=line, src=v, tgt=t, src_lang=ls, tgt_lang=lt)


READERS = {r.data_type: r for r in (SpeechRows, TextRows, AsrRows, AstRows, MtRows, TextToTextRows)}
