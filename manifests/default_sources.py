"""Reading the default corpus's packages, splitting them, and marking what training must avoid.

One ``Sources`` object holds everything the manifests are made from: the Fish Fillets
dialogue lines grouped by (level, dialogue id), the Wesnoth pairs grouped by (domain,
English), the split of every level and domain, and the training units to drop because one
of their sentences also occurs in dev or test.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

from . import fillets, wesnoth
from .holdout import HeldOut, group_split, split_groups

GAME = Path("usr/share/games/fillets-ng")
SPEECH_LANGS = ("cs", "nl")  # recorded with transcripts; the English game audio is unlabeled
GAME_AUDIO_LANG = "en"

Unit = Dict[str, fillets.Line]  # one dialogue line in every language it exists in


@dataclass
class Utterance:
    """One real recording: where it is, which level and split, what is said."""

    uid: str
    lang: str
    level: str
    dialogue_id: str
    path: Path
    split: str
    transcript: Optional[str]  # cleaned, or None when unusable as a label
    english: Optional[str]
    tainted: bool  # a training utterance whose sentence also occurs in dev/test
    n_frames: int = 0
    audio: str = ""


@dataclass
class Sources:
    root: Path
    game: Path
    units: Dict[Tuple[str, str], Unit]
    level_splits: Dict[str, List[str]]
    level_split: Dict[str, str]
    pairs: Dict[Tuple[str, str], List[wesnoth.Pair]]
    campaign_splits: Dict[str, List[str]]
    domain_split: Dict[str, str]
    held: HeldOut
    tainted_lines: Set[Tuple[str, str]]
    tainted_pairs: Set[Tuple[str, str]]
    dropped: Counter = field(default_factory=Counter)

    def line_usable_for(self, key: Tuple[str, str], split: str) -> bool:
        """A Fish Fillets line may go into a ``split`` manifest (training avoids held-out ones)."""
        s = self.level_split[key[0]]
        return s == split and not (s == "train" and key in self.tainted_lines)

    def pair_usable_for(self, key: Tuple[str, str], split: str) -> bool:
        s = self.domain_split[key[0]]
        return s == split and not (s == "train" and key in self.tainted_pairs)


def lang_code(wesnoth_locale: str) -> str:
    """``pt_BR`` -> ``pt-BR``; ``sr@latin`` -> ``sr``."""
    return wesnoth_locale.split("@")[0].replace("_", "-")


def unit_texts(unit: Unit) -> List[str]:
    return [t for line in unit.values() for t in (line.text, line.english)]


def load_sources(root: Path, seed: int, wesnoth_langs: Iterable[str]) -> Sources:
    """Parse the unpacked packages under ``root``, split them, and find held-out overlaps."""
    dropped: Counter = Counter()
    game = root / GAME
    units: Dict[Tuple[str, str], Unit] = defaultdict(dict)
    for line in fillets.iter_all_lines(game):
        units[(line.level, line.dialogue_id)].setdefault(line.lang, line)
    units = dict(sorted(units.items()))
    levels = fillets.levels(game)
    level_splits = split_groups(levels, seed)
    level_split = group_split(level_splits)
    level_split[fillets.SHARE] = "train"  # jokes and shouts heard in every level

    wanted = set(wesnoth_langs)
    locales = [
        loc for loc in wesnoth.catalogue_langs(root) if lang_code(loc) in wanted or loc in wanted
    ]
    pairs: Dict[Tuple[str, str], List[wesnoth.Pair]] = defaultdict(list)
    for p in wesnoth.read_pairs(root, locales, dropped):
        pairs[(p.domain, p.english)].append(p)
    pairs = dict(sorted(pairs.items()))
    domains = sorted({d for d, _ in pairs})
    campaign_splits = split_groups([d for d in domains if d in wesnoth.CAMPAIGNS], seed)
    domain_split = group_split(campaign_splits)
    for d in domains:
        domain_split.setdefault(d, "train")

    held = HeldOut()
    for level in levels:
        if level_split[level] != "train":
            held.add(*fillets.level_strings(game, level))
    # Every string of a held-out campaign in every locale, not only the pairs used: the
    # same short line ("Aha.") is often a sentence of another corpus too.
    all_locales = wesnoth.catalogue_langs(root)
    for domain in domains:
        if domain_split[domain] != "train":
            held.add(*wesnoth.catalogue_strings(root, all_locales, domain))
    tainted_lines = {
        k for k, u in units.items() if level_split[k[0]] == "train" and held.hits(*unit_texts(u))
    }
    tainted_pairs = {
        k
        for k, ps in pairs.items()
        if domain_split[k[0]] == "train" and held.hits(k[1], *[p.translation for p in ps])
    }
    dropped["fillets: training dialogue lines equal to a dev/test sentence"] = len(tainted_lines)
    dropped["wesnoth: training strings equal to a dev/test sentence"] = len(tainted_pairs)
    return Sources(
        root=root,
        game=game,
        units=units,
        level_splits=level_splits,
        level_split=level_split,
        pairs=pairs,
        campaign_splits=campaign_splits,
        domain_split=domain_split,
        held=held,
        tainted_lines=tainted_lines,
        tainted_pairs=tainted_pairs,
        dropped=dropped,
    )


def _who(lang: str) -> str:
    return "en game audio" if lang == GAME_AUDIO_LANG else f"{lang} recordings"


def utterances(src: Sources) -> List[Utterance]:
    """The real recordings that some manifest will use, with what they say."""
    utts: List[Utterance] = []
    matched = set()
    for (level, did), unit in src.units.items():
        split = src.level_split[level]
        for lang in SPEECH_LANGS + (GAME_AUDIO_LANG,):
            line = unit.get(lang)
            if line is None:
                continue
            path = fillets.audio_path(src.game, line, lang)
            if not path.is_file():
                continue
            matched.add(path)
            text, reason = fillets.clean_text(line.text)
            english, en_reason = fillets.clean_text(line.english)
            # Sound effects (growls, clicks, keys) have no dialogue text: not speech.
            if text is None and not (reason or "").startswith("format"):
                src.dropped[f"{_who(lang)}: no speech ({reason} dialogue text)"] += 1
                continue
            labeled = lang in SPEECH_LANGS
            if labeled and text is None:
                src.dropped[
                    f"{_who(lang)}: transcript has {reason} (kept as unlabeled speech only)"
                ] += 1
            elif labeled and english is None:
                src.dropped[f"{_who(lang)}: English line has {en_reason} (no translation)"] += 1
            u = Utterance(
                uid=f"{lang}/{level}/{did}",
                lang=lang,
                level=level,
                dialogue_id=did,
                path=path,
                split=split,
                transcript=text if labeled else None,
                english=english if labeled else None,
                tainted=(level, did) in src.tainted_lines,
            )
            in_training = split == "train" and not u.tainted
            if in_training or split == "dev" or (split == "test" and u.transcript is not None):
                utts.append(u)
            elif u.tainted:
                src.dropped[f"{_who(lang)}: train utterance equal to a dev/test sentence"] += 1
            else:
                src.dropped[f"{_who(lang)}: test level, unlabeled"] += 1
    for lang in SPEECH_LANGS + (GAME_AUDIO_LANG,):
        for p in sorted((src.game / "sound").glob(f"**/{lang}/*.ogg")):
            if p not in matched:
                src.dropped[f"{_who(lang)}: no dialogue line for the recording"] += 1
    return utts
