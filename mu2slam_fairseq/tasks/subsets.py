"""Which corpus and manifest a generation subset (``--gen-subset``) names.

A subset is a split of the data config (``test``), the file stem of one corpus's manifest
(``test_st_nl_en``), ``CORPUS:SPLIT``, or ``CORPUS:STEM`` for a manifest ``STEM.tsv``
that the config does not list, beside the config or CORPUS's manifests (per-language test
sets); the target language of every row comes from its manifest (or the corpus's default).
"""

from pathlib import Path
from typing import List, Tuple

from ..data.pipeline.data_config import CorpusConfig, DataConfig


def split_names(data_cfg: DataConfig) -> List[str]:
    """Every split some corpus of the config lists."""
    return sorted({s for c in data_cfg.corpora for s in c.splits})


def _manifests(corpus: CorpusConfig) -> List[Path]:
    """Every manifest (every shard) of every split of ``corpus``."""
    return [path for shards in corpus.splits.values() for path in shards]


def resolve_subset(data_cfg: DataConfig, data_dir: str, name: str) -> Tuple[CorpusConfig, Path]:
    """(corpus, manifest) of a generation subset that is not a split name.

    ``NAME`` or ``CORPUS:NAME``, where NAME is a manifest stem the config lists, a split of
    CORPUS, or a manifest ``NAME.tsv`` it does not list, beside the data config, in
    ``data_dir`` or beside CORPUS's manifests (its rows then follow CORPUS, which may be
    left out when the config has one corpus only).
    """
    corpus_name, _, stem = name.rpartition(":")
    corpora = data_cfg.corpora
    if corpus_name:
        corpora = [c for c in corpora if c.name == corpus_name]
        if not corpora:
            raise ValueError(f"{data_cfg.path}: no corpus {corpus_name!r} (in {name!r})")
        if stem in corpora[0].splits:
            return corpora[0], corpora[0].shard(stem)
    found = [(c, path) for c in corpora for path in _manifests(c) if path.stem == stem]
    if len({(c.name, path) for c, path in found}) > 1:
        raise ValueError(
            f"{data_cfg.path}: manifest {stem!r} belongs to several corpora "
            f"({', '.join(f'{c.name} ({c.type})' for c, _ in found)}); name one as CORPUS:{stem}"
        )
    if found:
        return found[0]
    folders = [data_cfg.path.parent, Path(data_dir)]
    folders += [p.parent for p in _manifests(corpora[0])] if len(corpora) == 1 else []
    path = next((d / f"{stem}.tsv" for d in folders if (d / f"{stem}.tsv").is_file()), None)
    if path is not None and len(corpora) == 1:
        return corpora[0], path
    stems = sorted({p.stem for c in data_cfg.corpora for p in _manifests(c)})
    if path is not None:
        raise ValueError(
            f"{path} is not in {data_cfg.path}: name the corpus whose type and languages its rows "
            f"follow, as CORPUS:{stem} (corpora: {', '.join(c.name for c in data_cfg.corpora)})"
        )
    raise ValueError(
        f"{data_cfg.path}: no split or manifest {name!r}; splits: {', '.join(split_names(data_cfg))}; "
        f"manifests: {', '.join(stems)}; or CORPUS:SPLIT, or CORPUS:STEM for an unlisted manifest STEM.tsv beside the corpus's manifests"
    )
