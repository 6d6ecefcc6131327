"""FLEURS fixture: headerless 7-column TSVs, 16 kHz wav under audio/<split>/, repeated ids."""

import pytest

from mu2slam_manifests import fleurs
from prep_fixtures import check_manifest, dropped, projection, speech, tsv, write_clip, write_text

# (lang, split, sentence id, file_name, raw, normalized, gender)
RECORDINGS = [
    (
        "nl_nl",
        "train",
        "1753",
        "10004088536354799741.wav",
        'De "Kamer" stemde in.',
        "de kamer stemde in",
        "FEMALE",
    ),
    (
        "nl_nl",
        "train",
        "1753",
        "11231525378456372451.wav",
        'De "Kamer" stemde in.',
        "de kamer stemde in",
        "MALE",
    ),
    (
        "nl_nl",
        "dev",
        "88",
        "1269875163154231347.wav",
        "Het kost €5 \\ stuk.",
        "het kost vijf euro per stuk",
        "OTHER",
    ),
    (
        "nl_nl",
        "test",
        "2001",
        "5402893617520188432.wav",
        "Geen vertaling.",
        "geen vertaling",
        "MALE",
    ),
    (
        "en_us",
        "train",
        "1753",
        "8751253016436120077.wav",
        'The "House" agreed.',
        "the house agreed",
        "MALE",
    ),
    (
        "en_us",
        "dev",
        "88",
        "3166151318458112938.wav",
        "It costs €5 each.",
        "it costs five euros each",
        "FEMALE",
    ),
]


def chars(text):
    return " | ".join(" ".join(w) for w in text.split())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root):
    root = tmp_path_factory.mktemp("fleurs")
    frames, lines = {}, {}
    for (lang, split, sid, name, raw, norm, gender), wav in zip(
        RECORDINGS, speech(fillets_root, len(RECORDINGS))
    ):
        frames[name] = write_clip(root / lang / "audio" / split / name, wav)
        lines.setdefault((lang, split), []).append(
            [sid, name, raw, norm, chars(norm), str(len(wav)), gender]
        )
    lines[("nl_nl", "train")].append(
        list(lines[("nl_nl", "train")][0])
    )  # the same recording listed twice
    for (lang, split), rows in lines.items():
        write_text(root / lang / f"{split}.tsv", tsv(rows))
    return root, frames


def test_fleurs_asr_and_st(corpus, tmp_path, capsys):
    root, frames = corpus
    out = tmp_path / "out"
    args = [
        "--root",
        str(root),
        "--langs",
        "nl_nl",
        "en_us",
        "--translate-to",
        "en_us",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert fleurs.main(args) == 0
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_asr_en_us.tsv",
        "dev_asr_nl_nl.tsv",
        "dev_st_nl_nl_en_us.tsv",
        "test_asr_nl_nl.tsv",
        "train_asr_en_us.tsv",
        "train_asr_nl_nl.tsv",
        "train_st_nl_nl_en_us.tsv",
    ]
    cols = ("id", "audio", "n_frames", "src_text", "tgt_text", "src_lang", "tgt_lang")
    # both speakers of sentence 1753 are kept (keyed on file_name), the repeated row is not
    assert projection(check_manifest(out / "train_asr_nl_nl.tsv", "asr"), *cols) == [
        (n[:-4], str(root / "nl_nl/audio/train" / n), str(frames[n]), raw, raw, "nl_nl", "nl_nl")
        for lang, split, _, n, raw, _, _ in RECORDINGS[:2]
    ]
    assert projection(
        check_manifest(out / "train_st_nl_nl_en_us.tsv", "ast"),
        "id",
        "src_text",
        "tgt_text",
        "tgt_lang",
    ) == [
        ("10004088536354799741", 'De "Kamer" stemde in.', 'The "House" agreed.', "en_us"),
        ("11231525378456372451", 'De "Kamer" stemde in.', 'The "House" agreed.', "en_us"),
    ]
    assert projection(
        check_manifest(out / "dev_st_nl_nl_en_us.tsv", "ast"), "id", "src_text", "tgt_text"
    ) == [("1269875163154231347", "Het kost €5 \\ stuk.", "It costs €5 each.")]
    assert projection(check_manifest(out / "test_asr_nl_nl.tsv", "asr"), "id", "src_text") == [
        ("5402893617520188432", "Geen vertaling.")
    ]
    assert projection(check_manifest(out / "dev_asr_en_us.tsv", "asr"), "id", "src_lang") == [
        ("3166151318458112938", "en_us")
    ]
    assert dropped(stdout) == {"duplicate file_name": 1, "sentence id not in en_us": 1}
    assert "note: test_st_nl_nl_en_us.tsv: no rows left, not written" in stdout
    assert "validator: no problems" in stdout


def test_fleurs_normalized(corpus, tmp_path, capsys):
    root, _ = corpus
    out = tmp_path / "out"
    assert (
        fleurs.main(
            [
                "--root",
                str(root),
                "--langs",
                "nl_nl",
                "--text",
                "normalized",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    rows = check_manifest(out / "dev_asr_nl_nl.tsv", "asr")
    assert projection(rows, "src_text", "tgt_text") == [
        ("het kost vijf euro per stuk", "het kost vijf euro per stuk")
    ]
