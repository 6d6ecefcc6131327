"""Fine-tuning data configs for a corpus in the default corpus's layout.

``mu2slam-finetune-configs --corpus CORPUS --vocab VOCAB --out OUT`` writes into OUT:

- ``ast.yaml``: every ``{train,dev,test}_st_<src>_<tgt>.tsv`` of CORPUS (type ast);
- ``asr.yaml``: every ``{train,dev,test}_asr_<lang>.tsv`` (type asr);
- ``mt.yaml``: ``{train,dev,test}_mt.tsv`` (type mt);
- ``multitask.yaml``: all three with the paper's batch shares AST 4, ASR 2, MT 2 (the first
  stage of gradual fine-tuning; ``--no-valid mt`` validates it on AST and ASR only);
- ``ast_noisy.yaml``, ``asr_noisy.yaml``, ``multitask_noisy.yaml``: the same with SpecAugment
  on training batches (noisy fine-tuning; add ``--synonym-noise 0.06`` to the command).

Manifest names follow fairseq's ``{split}_{task}_{langs}.tsv`` (``<name>_{split}.tsv``
works too). Each corpus has the splits ``train``, ``valid`` (its dev manifest) and
``test``; every manifest is also a generation subset by its file stem (``--gen-subset
test_st_nl_en``), and further manifests beside them by ``CORPUS:STEM`` (``mt:test_mt_wesnoth``).
Paths are absolute, so OUT can be the ``DATA`` argument of ``fairseq-train`` and
``fairseq-generate`` wherever the corpus lies. VOCAB is the pre-training vocabulary
folder (``dict.txt``, ``spm.model``, optionally ``cmvn.npz``): fine-tuning must use the
dictionary the checkpoint was trained with.
"""

import argparse
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from mu2slam_fairseq.data.pipeline.data_config import load_data_config
from mu2slam_fairseq.data.io.manifest import atomic_write_text

COMMAND = "mu2slam-finetune-configs"
SPLITS = {"train": "train", "valid": "dev", "test": "test"}
# fairseq's "ld" policy with time masks bounded by 20% of an utterance (short clips)
SPECAUGMENT = {
    "freq_mask_N": 2,
    "freq_mask_F": 27,
    "time_mask_N": 2,
    "time_mask_T": 100,
    "time_mask_p": 0.2,
    "time_warp_W": 0,
}
SHARES = {"ast": 4, "asr": 2, "mt": 2}
NAMES = {"ast": r"st_[a-zA-Z-]+_[a-zA-Z-]+", "asr": r"asr_[a-zA-Z-]+", "mt": r"mt"}


def corpora(corpus: Path, types: Sequence[str], no_valid: Sequence[str] = ()) -> List[Dict]:
    """Corpus entries of the data config, one per training manifest of each type."""
    out = []
    for t in types:
        for path in sorted(corpus.glob("*.tsv")):
            m = re.match(rf"^(?:train_({NAMES[t]})|({NAMES[t]})_train)\.tsv$", path.name)
            if not m:
                continue
            name = m.group(1) or m.group(2)
            files = {
                s: corpus / (f"{stem}_{name}.tsv" if m.group(1) else f"{name}_{stem}.tsv")
                for s, stem in SPLITS.items()
            }
            splits = {
                s: str(f.resolve())
                for s, f in files.items()
                if f.exists() and not (s == "valid" and t in no_valid)
            }
            out.append({"name": name, "type": t, "splits": splits})
    return out


def config(
    corpus: Path,
    vocab: Path,
    types: Sequence[str],
    noisy: bool,
    max_tokens: Optional[int],
    no_valid: Sequence[str] = (),
) -> Dict:
    cfg: Dict = {
        "vocab": {
            "dict": str((vocab / "dict.txt").resolve()),
            "spm": str((vocab / "spm.model").resolve()),
        }
    }
    if (vocab / "cmvn.npz").exists():
        cfg["features"] = {"global_cmvn": str((vocab / "cmvn.npz").resolve())}
    if noisy:
        cfg["specaugment"] = dict(SPECAUGMENT)
    batching: Dict = {"shares": {t: SHARES[t] for t in types}}
    if max_tokens:
        batching["max_tokens"] = max_tokens
    cfg["batching"] = batching
    cfg["corpora"] = corpora(corpus, types, no_valid)
    return cfg


def write_configs(
    corpus: Path,
    vocab: Path,
    out: Path,
    max_tokens: Optional[int] = None,
    no_valid: Sequence[str] = (),
) -> List[Path]:
    """Write every config (see the module doc) and check that each loads; returns their paths."""
    recipes = {"ast": ["ast"], "asr": ["asr"], "mt": ["mt"], "multitask": ["ast", "asr", "mt"]}
    written = []
    for name, types in recipes.items():
        for noisy in (False, True):
            if noisy and name == "mt":
                continue
            cfg = config(
                corpus, vocab, types, noisy, max_tokens, no_valid if name == "multitask" else ()
            )
            if not cfg["corpora"]:
                continue
            path = out / f"{name}{'_noisy' if noisy else ''}.yaml"
            atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
            load_data_config(path)
            written.append(path)
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog=COMMAND, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--corpus", type=Path, required=True, help="folder of the manifests (default corpus layout)"
    )
    p.add_argument(
        "--vocab",
        type=Path,
        required=True,
        help="pre-training vocabulary folder (dict.txt, spm.model)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder for the data configs")
    p.add_argument(
        "--max-tokens", type=int, default=None, help="batching.max_tokens of every config"
    )
    p.add_argument(
        "--no-valid",
        default="",
        metavar="TYPES",
        help="types whose dev manifests multitask*.yaml leaves out of validation (comma-separated, "
        "e.g. mt: the default corpus's 7,646 MT dev pairs would make each validation long)",
    )
    a = p.parse_args(argv)
    no_valid = [t for t in a.no_valid.split(",") if t]
    if set(no_valid) - set(NAMES):
        p.error(
            f"--no-valid: unknown type(s) {sorted(set(no_valid) - set(NAMES))}; choose among {', '.join(NAMES)}"
        )
    paths = write_configs(a.corpus, a.vocab, a.out, a.max_tokens, no_valid)
    if not paths:
        print(f"{COMMAND}: no *_train.tsv manifest of type ast, asr or mt in {a.corpus}")
        return 1
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
