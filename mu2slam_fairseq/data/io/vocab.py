"""The joint vocabulary: SentencePiece text pieces, speech units, language tags and <mask>.

One fairseq Dictionary serves encoder input, decoder and every output head, so that
speech is "one more language" (paper §2.2). Text for SentencePiece is sampled across
languages with a temperature, as mT5/mSLAM do, so that low-resource languages keep
their characters and pieces.
"""

import argparse
import random
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import sentencepiece as spm
from fairseq.data import Dictionary

from ...atomic import write_text
from ...symbols import MASK, lang_symbol, unit_symbol
from .manifest import read_manifest

SPM_SPECIALS = {"<unk>", "<s>", "</s>", "<pad>"}


def texts_by_language(manifests: Iterable[Path]) -> Dict[str, List[str]]:
    """Every non-empty source and target text of the manifests, grouped by language."""
    texts: Dict[str, List[str]] = defaultdict(list)
    for path in manifests:
        for row in read_manifest(path):
            for text_col, lang_col in (("src_text", "src_lang"), ("tgt_text", "tgt_lang")):
                text = row[text_col].strip()
                if text:
                    texts[row[lang_col] or "und"].append(text)
    return dict(texts)


def temperature_probs(counts: Dict[str, int], temperature: float) -> Dict[str, float]:
    """p_l ∝ (n_l / N)^(1/T): T=1 keeps the data's shares, large T tends to uniform."""
    total = sum(counts.values())
    weights = {k: (n / total) ** (1.0 / temperature) for k, n in counts.items() if n > 0}
    z = sum(weights.values())
    return {k: w / z for k, w in weights.items()}


def sample_sentences(
    texts: Dict[str, List[str]], temperature: float, budget: int, seed: int
) -> List[str]:
    """A temperature-balanced sample of ``budget`` sentences (with replacement where a language is short)."""
    rng = random.Random(seed)
    probs = temperature_probs({k: len(v) for k, v in texts.items()}, temperature)
    sample = []
    for lang in sorted(probs):
        pool = texts[lang]
        want = max(1, round(probs[lang] * budget))
        if want <= len(pool):
            sample.extend(rng.sample(pool, want))
        else:
            sample.extend(pool + [rng.choice(pool) for _ in range(want - len(pool))])
    rng.shuffle(sample)
    return sample


def train_sentencepiece(
    sentences: Sequence[str], model_prefix: Path, kind: str, vocab_size: int
) -> Path:
    """Train a char or unigram model; returns the .model path."""
    if kind not in ("char", "unigram"):
        raise ValueError(f"unknown SentencePiece kind {kind!r} (char or unigram)")
    model_prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_prefix=str(model_prefix),
        model_type=kind,
        vocab_size=vocab_size,
        hard_vocab_limit=kind == "unigram",
        character_coverage=1.0 if kind == "char" else 0.9995,
        unk_id=3,
        bos_id=0,
        eos_id=2,
        pad_id=1,  # the fairseq order, as its prep scripts use
        num_threads=2,
        shuffle_input_sentence=False,
        minloglevel=2,
    )
    return model_prefix.with_suffix(".model")


def joint_dictionary(spm_model: Path, n_units: int, languages: Iterable[str]) -> Dictionary:
    """fairseq Dictionary: pieces, then ``<unit_0..n-1>``, then language tags, then ``<mask>``."""
    proc = spm.SentencePieceProcessor(model_file=str(spm_model))
    d = Dictionary()
    for i in range(proc.get_piece_size()):
        piece = proc.id_to_piece(i)
        if piece not in SPM_SPECIALS:
            d.add_symbol(piece)
    for k in range(n_units):
        d.add_symbol(unit_symbol(k))
    for lang in sorted(set(languages)):
        d.add_symbol(lang_symbol(lang))
    d.add_symbol(MASK)
    return d


def save_dictionary(d: Dictionary, path: Path) -> None:
    """fairseq's dict.txt format, written atomically."""
    lines = [f"{d[i]} {d.count[i]}" for i in range(d.nspecial, len(d))]
    write_text(path, "\n".join(lines) + "\n")


class TextEncoder:
    """Text <-> joint-dictionary ids through SentencePiece (no tags, no eos)."""

    def __init__(self, spm_model: Path, dictionary: Dictionary):
        self.sp = spm.SentencePieceProcessor(model_file=str(spm_model))
        self.dictionary = dictionary

    def encode(self, text: str) -> List[int]:
        return [self.dictionary.index(p) for p in self.sp.encode(text, out_type=str)]

    def decode(self, ids: Iterable[int]) -> str:
        d = self.dictionary
        pieces = [d[i] for i in ids if i >= d.nspecial and not d[i].startswith("<")]
        return self.sp.decode_pieces(pieces)


def build_vocab(
    manifests: Sequence[Path],
    out_dir: Path,
    kind: str = "char",
    vocab_size: int = 4000,
    n_units: int = 1024,
    temperature: float = 3.0,
    budget: int = 1_000_000,
    seed: int = 1,
    extra_languages: Iterable[str] = (),
) -> Dictionary:
    """Write ``spm.model``, ``spm.vocab`` and ``dict.txt`` into ``out_dir``."""
    texts = texts_by_language(manifests)
    if not texts:
        raise ValueError(f"no text found in {', '.join(map(str, manifests))}")
    speech_langs = {
        r["src_lang"] for p in manifests for r in read_manifest(p) if r["audio"] and r["src_lang"]
    }
    budget = min(budget, sum(len(v) for v in texts.values()))
    sentences = sample_sentences(texts, temperature, budget, seed)
    out_dir = Path(out_dir)
    model = train_sentencepiece(sentences, out_dir / "spm", kind, vocab_size)
    d = joint_dictionary(model, n_units, set(texts) | speech_langs | set(extra_languages))
    save_dictionary(d, out_dir / "dict.txt")
    return d


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(
        description="Build the joint vocabulary (SentencePiece + speech units + language tags + <mask>) "
        "from manifests: writes spm.model, spm.vocab and dict.txt into OUT.",
    )
    p.add_argument(
        "manifests", nargs="+", type=Path, help="TSV manifests whose src_text/tgt_text to use"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--kind",
        choices=["char", "unigram"],
        default="char",
        help="char (paper: ~4k) or unigram (paper: 64k)",
    )
    p.add_argument(
        "--vocab-size", type=int, default=4000, help="SentencePiece size (an upper bound for char)"
    )
    p.add_argument("--units", type=int, default=1024, help="speech-tokenizer codebook size")
    p.add_argument(
        "--temperature",
        type=float,
        default=3.0,
        help="language sampling temperature for SentencePiece text",
    )
    p.add_argument(
        "--budget",
        type=int,
        default=1_000_000,
        help="sentences fed to SentencePiece (at most the corpus size)",
    )
    p.add_argument("--langs", default="", help="extra comma-separated language codes to give a tag")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    d = build_vocab(
        a.manifests,
        a.out,
        a.kind,
        a.vocab_size,
        a.units,
        a.temperature,
        a.budget,
        a.seed,
        [x for x in a.langs.split(",") if x],
    )
    print(
        f"wrote {a.out / 'dict.txt'}: {len(d)} symbols ({a.units} units, {sum(s.startswith('<lang_') for s in d.symbols)} languages)"
    )


if __name__ == "__main__":
    main()
