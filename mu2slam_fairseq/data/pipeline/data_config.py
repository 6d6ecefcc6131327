"""The pre-training data config: which corpora, of which type, and how they are batched.

The data type of a corpus is declared here, never guessed from its rows (the package's DESIGN.md). A
complete example (paths are relative to the YAML file's folder)::

    vocab:
      spm: vocab/spm.model          # SentencePiece model of the text pieces
      dict: vocab/dict.txt          # the joint fairseq dictionary
    speech_tokenizer: tokenizer.pt  # optional when every speech manifest has a units column
    features:
      global_cmvn: cmvn.npz         # optional (fairseq's mean/std npz)
    specaugment:                    # optional: on speech inputs of training splits (fairseq's keys;
      freq_mask_N: 2                #   or the path of a fairseq config.yaml with such a section)
      freq_mask_F: 27
      time_mask_N: 2
      time_mask_T: 40
      time_mask_p: 1.0
    masking: {speech_ratio: 0.5, speech_span: 10, text_ratio: 0.5, mt_ratio: 0.25}
                                    # optional: paired_target_ratio (Eq. 6's masked ℓ_p targets)
    batching:
      shares: {speech: 4, text: 8, ast: 1, asr: 1, mt: 1}
      sentences_per_share: 1        # sub-batch of type t holds at most shares[t] x this examples
      max_tokens: 24000             # optional: one budget, split over present types by share
                                    #   (fairseq's --max-tokens overrides it; --batch-size is a
                                    #   sentence budget split the same way)
      max_tokens_per_type: {}       # optional: a type's own budget (overrides the split)
      max_sentences_per_type: {}    # optional: a type's own sentence cap
      updates_per_epoch: null       # default: what the longest type needs to be seen once
    corpora:
      - name: asr_nl
        type: asr                   # speech | text | asr | ast | mt | t2t (fine-tuning: text -> text)
        splits: {train: asr_nl_train.tsv, valid: asr_nl_dev.tsv}
        temperature: 1.0            # across this corpus's languages; default text 3, mt 2, else 1
        src_lang: nl                # optional defaults for rows with an empty language column
        views: [asr_s2t, asr_t2s, asr_align]   # optional: a subset of the type's loss terms

A split may name, instead of a ``.tsv`` manifest, the folder ``mu2slam-binarize`` wrote from
one (``splits: {train: text_train-bin}``; a folder holding ``meta.json``): its rows are then
memory-mapped and read per example instead of held, for corpora of millions of rows. It
must have been binarized with this config's dictionary, and with the corpus's
``src_lang``/``tgt_lang`` defaults, if any (``--src-lang``/``--tgt-lang``).

A split may also be a list of shards, one per epoch (epoch e reads shard (e - 1) mod n, so
no process ever indexes the whole corpus): fairseq's colon-separated paths
(``train: a.tsv:b.tsv``), a YAML list, or the folder ``mu2slam-binarize --shards N`` wrote
(it holds ``shards.json``). Temperature and the mixing of corpora by size hold across
shards when the shards of a corpus are equal slices with the same language mix, as
``--shards`` writes them (each language's rows dealt round-robin): the language shares of
a shard are then those of the whole corpus, and a corpus of n shards weighs n shards' rows.

Budgets count encoder positions (a 40 ms speech step or a text token) of an example's
longest view, with fairseq's padded rule: max size x examples <= budget.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from ...objectives import DATA_TYPES, view_names
from ..io.binarized import shard_folders
from .augment import specaugment_config
from .masking import MaskConfig

PAPER_SHARES = {"speech": 4, "text": 8, "ast": 1, "asr": 1, "mt": 1}
DEFAULT_TEMPERATURE = {"text": 3.0, "mt": 2.0}


class DataConfigError(ValueError):
    """A problem in the data config, located by file and key path."""

    def __init__(self, path: os.PathLike, key: str, problem: str):
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")


@dataclass
class CorpusConfig:
    name: str
    type: str
    splits: Dict[str, Tuple[Path, ...]]  # each split's shards (one for an unsharded split)
    temperature: float
    src_lang: Optional[str] = None
    tgt_lang: Optional[str] = None
    views: Optional[List[str]] = None

    def shard(self, split: str, epoch: int = 1) -> Path:
        """The manifest of ``split`` that epoch ``epoch`` (from 1) reads."""
        shards = self.splits[split]
        return shards[(epoch - 1) % len(shards)]


@dataclass
class VocabConfig:
    dict: Path
    spm: Optional[Path] = None


@dataclass
class FeaturesConfig:
    global_cmvn: Optional[Path] = None


@dataclass
class BatchingConfig:
    shares: Dict[str, float] = field(default_factory=lambda: dict(PAPER_SHARES))
    sentences_per_share: Optional[int] = None
    max_tokens: Optional[int] = None
    max_tokens_per_type: Dict[str, int] = field(default_factory=dict)
    max_sentences_per_type: Dict[str, int] = field(default_factory=dict)
    updates_per_epoch: Optional[int] = None


@dataclass
class DataConfig:
    path: Path
    vocab: VocabConfig
    corpora: List[CorpusConfig]
    speech_tokenizer: Optional[Path] = None
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    masking: MaskConfig = field(default_factory=MaskConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    specaugment: Optional[Dict[str, Any]] = None  # fairseq SpecAugment settings (training splits)

    def corpora_for(self, split: str) -> List[CorpusConfig]:
        """Corpora that have a manifest for ``split``, in config order."""
        return [c for c in self.corpora if split in c.splits]

    def types_for(self, split: str) -> List[str]:
        present = {c.type for c in self.corpora_for(split)}
        return [t for t in DATA_TYPES if t in present]

    def sharded(self, split: str) -> bool:
        """Whether some corpus reads ``split`` from several shards (one per epoch)."""
        return any(len(c.splits[split]) > 1 for c in self.corpora_for(split))


class _Reader:
    """Typed access to the YAML mapping with errors that name the file and key."""

    def __init__(self, path: Path, check_paths: bool):
        self.path, self.root, self.check_paths = path, path.parent, check_paths

    def fail(self, key: str, problem: str) -> DataConfigError:
        return DataConfigError(self.path, key, problem)

    def mapping(self, value: Any, key: str, allowed: Optional[tuple] = None) -> Dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        if allowed is not None:
            unknown = [k for k in value if k not in allowed]
            if unknown:
                raise self.fail(
                    f"{key}.{unknown[0]}" if key else str(unknown[0]),
                    f"unknown key; expected one of {', '.join(allowed)}",
                )
        return value

    def number(
        self, value: Any, key: str, kind=float, positive: bool = True, optional: bool = False
    ):
        if value is None and optional:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (kind is int and value != int(value))
        ):
            raise self.fail(
                key, f"must be {'an integer' if kind is int else 'a number'}, got {value!r}"
            )
        if positive and value <= 0:
            raise self.fail(key, f"must be > 0, got {value!r}")
        return kind(value)

    def string(self, value: Any, key: str, optional: bool = False) -> Optional[str]:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def file(self, value: Any, key: str, optional: bool = False) -> Optional[Path]:
        text = self.string(value, key, optional)
        if text is None:
            return None
        path = Path(text)
        path = path if path.is_absolute() else self.root / path
        if self.check_paths and not path.exists():
            raise self.fail(key, f"file {path} does not exist")
        return path

    def shards(self, value: Any, key: str) -> Tuple[Path, ...]:
        """A split's shards: one path, ``a:b:c``, a list, or a folder of binarized shards."""
        parts = value.split(":") if isinstance(value, str) else value
        if not isinstance(parts, list) or not parts:
            raise self.fail(key, f"must be a path, PATH:PATH..., or a list of paths, got {value!r}")
        out: List[Path] = []
        for i, part in enumerate(parts):
            path = self.file(part, key if len(parts) == 1 else f"{key}[{i}]")
            listed = shard_folders(path) if path.is_dir() else None
            out.extend(listed if listed is not None else [path])
        return tuple(out)

    def per_type(self, value: Any, key: str, kind) -> Dict[str, Any]:
        table = self.mapping(value, key, DATA_TYPES)
        return {t: self.number(v, f"{key}.{t}", kind) for t, v in table.items()}


def load_data_config(path: os.PathLike, check_paths: bool = True) -> DataConfig:
    """Read and validate a data config; every error names the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataConfigError(path, "", f"cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise DataConfigError(path, "", f"not valid YAML: {e}") from None
    r = _Reader(path, check_paths)
    top = r.mapping(
        raw,
        "",
        ("vocab", "speech_tokenizer", "features", "specaugment", "masking", "batching", "corpora"),
    )

    vocab_raw = r.mapping(top.get("vocab"), "vocab", ("spm", "dict"))
    if "dict" not in vocab_raw:
        raise r.fail("vocab.dict", "missing (the joint dictionary, dict.txt)")
    vocab = VocabConfig(
        dict=r.file(vocab_raw["dict"], "vocab.dict"),
        spm=r.file(vocab_raw.get("spm"), "vocab.spm", optional=True),
    )

    features_raw = r.mapping(top.get("features"), "features", ("global_cmvn",))
    features = FeaturesConfig(
        global_cmvn=r.file(features_raw.get("global_cmvn"), "features.global_cmvn", optional=True)
    )

    specaugment = _specaugment(r, top.get("specaugment"))

    masking_raw = r.mapping(
        top.get("masking"),
        "masking",
        ("speech_ratio", "speech_span", "text_ratio", "mt_ratio", "paired_target_ratio"),
    )
    values = {}
    for k, v in masking_raw.items():
        values[k] = r.number(
            v, f"masking.{k}", int if k == "speech_span" else float, positive=k == "speech_span"
        )
    try:
        masking = MaskConfig(**values)
    except ValueError as e:
        raise r.fail("masking", str(e)) from None

    b_raw = r.mapping(
        top.get("batching"),
        "batching",
        (
            "shares",
            "sentences_per_share",
            "max_tokens",
            "max_tokens_per_type",
            "max_sentences_per_type",
            "updates_per_epoch",
        ),
    )
    shares = dict(PAPER_SHARES)
    shares.update(r.per_type(b_raw.get("shares"), "batching.shares", float))
    batching = BatchingConfig(
        shares=shares,
        sentences_per_share=r.number(
            b_raw.get("sentences_per_share"), "batching.sentences_per_share", int, optional=True
        ),
        max_tokens=r.number(b_raw.get("max_tokens"), "batching.max_tokens", int, optional=True),
        max_tokens_per_type=r.per_type(
            b_raw.get("max_tokens_per_type"), "batching.max_tokens_per_type", int
        ),
        max_sentences_per_type=r.per_type(
            b_raw.get("max_sentences_per_type"), "batching.max_sentences_per_type", int
        ),
        updates_per_epoch=r.number(
            b_raw.get("updates_per_epoch"), "batching.updates_per_epoch", int, optional=True
        ),
    )

    corpora_raw = top.get("corpora")
    if not isinstance(corpora_raw, list) or not corpora_raw:
        raise r.fail("corpora", "must be a non-empty list of corpora")
    corpora, names = [], set()
    for i, c_raw in enumerate(corpora_raw):
        key = f"corpora[{i}]"
        c = r.mapping(
            c_raw, key, ("name", "type", "splits", "temperature", "src_lang", "tgt_lang", "views")
        )
        name = r.string(c.get("name"), f"{key}.name")
        key = f"corpora[{i}] ({name})"
        if name in names:
            raise r.fail(f"{key}.name", "duplicate corpus name")
        names.add(name)
        ctype = c.get("type")
        if ctype not in DATA_TYPES:
            raise r.fail(f"{key}.type", f"must be one of {', '.join(DATA_TYPES)}, got {ctype!r}")
        splits_raw = r.mapping(c.get("splits"), f"{key}.splits")
        if not splits_raw:
            raise r.fail(
                f"{key}.splits", "missing: give at least one split, e.g. {train: train.tsv}"
            )
        splits = {str(s): r.shards(p, f"{key}.splits.{s}") for s, p in splits_raw.items()}
        views = c.get("views")
        if views is not None:
            known = view_names(ctype)
            if not isinstance(views, list) or not views or not all(v in known for v in views):
                raise r.fail(
                    f"{key}.views",
                    f"must be a non-empty list of {ctype} views ({', '.join(known)}), got {views!r}",
                )
        corpora.append(
            CorpusConfig(
                name=name,
                type=ctype,
                splits=splits,
                temperature=r.number(
                    c.get("temperature", DEFAULT_TEMPERATURE.get(ctype, 1.0)), f"{key}.temperature"
                ),
                src_lang=r.string(c.get("src_lang"), f"{key}.src_lang", optional=True),
                tgt_lang=r.string(c.get("tgt_lang"), f"{key}.tgt_lang", optional=True),
                views=views,
            )
        )
    return DataConfig(
        path=path,
        vocab=vocab,
        corpora=corpora,
        speech_tokenizer=r.file(top.get("speech_tokenizer"), "speech_tokenizer", optional=True),
        features=features,
        masking=masking,
        batching=batching,
        specaugment=specaugment,
    )


def _specaugment(r: _Reader, value: Any) -> Optional[Dict[str, Any]]:
    """The ``specaugment`` mapping, or the ``specaugment`` section of a fairseq config.yaml."""
    if value is None:
        return None
    key = "specaugment"
    if isinstance(value, str):
        path = r.file(value, key)
        try:
            fairseq_cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise r.fail(key, f"cannot read {path}: {e}") from None
        if not isinstance(fairseq_cfg, dict) or not isinstance(
            fairseq_cfg.get("specaugment"), dict
        ):
            raise r.fail(key, f"{path} has no specaugment section")
        value, key = fairseq_cfg["specaugment"], f"specaugment ({path})"
    raw = r.mapping(value, key)
    try:
        return specaugment_config(raw)
    except ValueError as e:
        raise r.fail(key, str(e)) from None
