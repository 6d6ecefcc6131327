"""The rows of each default-corpus manifest, made from ``Sources``.

Every function returns ``{manifest name: rows}``; rows are dicts keyed by column, and a
training manifest never gets a unit (dialogue line, Wesnoth string) marked as held out.
"""

import hashlib
from typing import Dict, List, Sequence, Tuple

from . import fillets, fortunes
from .default_sources import SPEECH_LANGS, Sources, Utterance, lang_code
from .holdout import SPLITS, normalize, stable_hash
from .rows import Row, pair_row

TEXT_DEV_PER_MILLE = 20  # share of fortunes held out for dev_text
SYNTH_MAX_WORDS = 20


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def dedupe(rows: List[Row], key_columns: Sequence[str]) -> Tuple[List[Row], int]:
    """Rows sorted by id, keeping the first of those whose normalised key columns agree."""
    seen = set()
    out = []
    for row in sorted(rows, key=lambda r: r["id"]):
        key = tuple(normalize(row[c]) if c.endswith("_text") else row[c] for c in key_columns)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out, len(rows) - len(out)


def speech_manifests(real: List[Utterance]) -> Dict[str, List[Row]]:
    """ASR and speech translation per language and split; unlabeled speech for train and dev."""
    out: Dict[str, List[Row]] = {}
    for lang in SPEECH_LANGS:
        for split in SPLITS:
            asr, st = [], []
            for u in real:
                if u.lang != lang or u.split != split or u.transcript is None:
                    continue
                row = {
                    "id": u.uid,
                    "audio": u.audio,
                    "n_frames": str(u.n_frames),
                    "src_text": u.transcript,
                    "tgt_text": u.transcript,
                    "src_lang": lang,
                    "tgt_lang": lang,
                    "speaker": fillets.speaker_of(u.dialogue_id),
                }
                asr.append(row)
                if u.english is not None:
                    st.append(dict(row, tgt_text=u.english, tgt_lang="en"))
            out[f"{split}_asr_{lang}.tsv"] = asr
            out[f"{split}_st_{lang}_en.tsv"] = st
    for split in ("train", "dev"):
        out[f"{split}_speech.tsv"] = [
            {
                "id": u.uid,
                "audio": u.audio,
                "n_frames": str(u.n_frames),
                "src_lang": u.lang,
                "speaker": fillets.speaker_of(u.dialogue_id),
            }
            for u in real
            if u.split == split
        ]
    return out


def mt_manifests(src: Sources) -> Dict[str, List[Row]]:
    """xx -> en pairs per split; the test pairs also per corpus (test_mt_fillets, test_mt_wesnoth)."""
    mt: Dict[str, List[Row]] = {s: [] for s in SPLITS}
    by_corpus: Dict[str, List[Row]] = {"fillets": [], "wesnoth": []}
    for key, unit in src.units.items():
        split = src.level_split[key[0]]
        if not src.line_usable_for(key, split):
            continue
        for lang, line in unit.items():
            if lang == "en":
                continue
            english, _ = fillets.clean_text(line.english)
            text, reason = fillets.clean_text(line.text)
            if english is None:
                src.dropped["fillets MT: English line unusable or missing"] += 1
            elif text is None:
                src.dropped[f"fillets MT: translation {reason}"] += 1
            elif normalize(text) == normalize(english):
                src.dropped["fillets MT: untranslated"] += 1
            else:
                row = pair_row(f"mt/fillets/{lang}/{key[0]}/{key[1]}", text, english, lang, "en")
                mt[split].append(row)
                if split == "test":
                    by_corpus["fillets"].append(row)
    for key, pairs in src.pairs.items():
        split = src.domain_split[key[0]]
        if not src.pair_usable_for(key, split):
            continue
        domain, english = key
        for p in pairs:
            code = lang_code(p.lang)
            uid = f"mt/wesnoth/{code}/{domain}/{short_hash(english)}"
            row = pair_row(uid, p.translation, english, code, "en")
            mt[split].append(row)
            if split == "test":
                by_corpus["wesnoth"].append(row)
    out: Dict[str, List[Row]] = {}
    key_columns = ("src_lang", "src_text", "tgt_text")
    for split in SPLITS:
        out[f"{split}_mt.tsv"], n = dedupe(mt[split], key_columns)
        src.dropped[f"mt_{split}: duplicate pair"] += n
    for corpus, rows in by_corpus.items():
        out[f"test_mt_{corpus}.tsv"], _ = dedupe(rows, key_columns)
    return out


def text_manifests(src: Sources, seed: int) -> Dict[str, List[Row]]:
    """Monolingual text: fortunes plus every side of the train (resp. dev) dialogue and pairs."""
    text: Dict[str, List[Row]] = {"train": [], "dev": []}
    for lang, files in fortunes.fortune_files(src.root).items():
        for path in files:
            for n, t in fortunes.read_fortunes(path, src.dropped):
                split = (
                    "dev"
                    if stable_hash(str(seed), "fortune", normalize(t)) % 1000 < TEXT_DEV_PER_MILLE
                    else "train"
                )
                if split == "train" and src.held.hits(t):
                    src.dropped["fortunes: equal to a dev/test sentence"] += 1
                    continue
                text[split].append(
                    {"id": f"text/fortunes/{lang}/{path.name}/{n}", "src_text": t, "src_lang": lang}
                )
    for split in ("train", "dev"):
        for key, unit in src.units.items():
            if src.line_usable_for(key, split):
                for lang, line in unit.items():
                    t, _ = fillets.clean_text(line.text)
                    if t is not None:
                        text[split].append(
                            {
                                "id": f"text/fillets/{lang}/{key[0]}/{key[1]}",
                                "src_text": t,
                                "src_lang": lang,
                            }
                        )
        for key, pairs in src.pairs.items():
            if src.pair_usable_for(key, split):
                domain, english = key
                h = short_hash(english)
                text[split].append(
                    {"id": f"text/wesnoth/en/{domain}/{h}", "src_text": english, "src_lang": "en"}
                )
                for p in pairs:
                    code = lang_code(p.lang)
                    text[split].append(
                        {
                            "id": f"text/wesnoth/{code}/{domain}/{h}",
                            "src_text": p.translation,
                            "src_lang": code,
                        }
                    )
    out: Dict[str, List[Row]] = {}
    for split in ("train", "dev"):
        out[f"{split}_text.tsv"], n = dedupe(text[split], ("src_lang", "src_text"))
        src.dropped[f"text_{split}: duplicate"] += n
    return out


def synthetic_sentences(src: Sources, lang: str, seed: int, limit: int) -> List[Tuple[str, str]]:
    """``[(id, sentence)]`` for espeak-ng: training sentences only, distinct, spread by hash."""
    candidates = []
    for key, unit in src.units.items():
        if src.line_usable_for(key, "train") and lang in unit:
            t, _ = fillets.clean_text(unit[lang].text)
            if t is not None:
                candidates.append((f"synth/{lang}/fillets/{key[0]}/{key[1]}", t))
    for key, pairs in src.pairs.items():
        if src.pair_usable_for(key, "train"):
            texts = (
                [key[1]]
                if lang == "en"
                else [p.translation for p in pairs if lang_code(p.lang) == lang]
            )
            for t in texts:
                if len(t.split()) <= SYNTH_MAX_WORDS:
                    candidates.append((f"synth/{lang}/wesnoth/{key[0]}/{short_hash(key[1])}", t))
    seen, chosen = set(), []
    for uid, t in sorted(candidates, key=lambda c: (stable_hash(str(seed), "synth", c[0]), c[0])):
        if normalize(t) not in seen:
            seen.add(normalize(t))
            chosen.append((uid, t))
            if len(chosen) >= limit:
                break
    return chosen
