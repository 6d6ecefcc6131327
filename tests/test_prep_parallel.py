"""Parallel text fixtures: WMT-style aligned files (one with CRLF, a stray CR, a gz split) and
TED-style all_talks_<split>.tsv with NULL markers."""

import gzip

from mu2slam_manifests import parallel
from prep_fixtures import check_manifest, dropped, projection, tsv, write_text

DE = [
    'Er sagte: "Hallo',
    "Pfad C:\\temp",
    "Teil A\rTeil B",
    "Zeile\u2028mit Trenner",
    "Ohne Übersetzung",
    "Ende.",
]
EN = [
    'He said: "Hello',
    "Path C:\\temp",
    "Part A Part B",
    "Line\u2028with separator",
    "",
    "The end.",
]


def test_aligned(tmp_path, capsys):
    data = tmp_path / "wmt"
    write_text(data / "train.de", "\n".join(DE) + "\n")
    write_text(data / "train.en", "\r\n".join(EN) + "\r\n")  # CRLF line ends
    data.joinpath("newstest2014.de.gz").write_bytes(gzip.compress("Guten Morgen.\n".encode()))
    data.joinpath("newstest2014.en.gz").write_bytes(gzip.compress("Good morning.\n".encode()))
    out = tmp_path / "out"
    args = [
        "aligned",
        "--src-lang",
        "de",
        "--tgt-lang",
        "en",
        "--split",
        "train",
        str(data / "train"),
        "--split",
        "test",
        str(data / "newstest2014"),
        "--out",
        str(out),
        "--no-progress",
    ]
    assert parallel.main(args) == 0
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == ["test_mt_de_en.tsv", "train_mt_de_en.tsv"]
    rows = check_manifest(out / "train_mt_de_en.tsv", "mt")
    # the stray CR drops its own pair only: every later pair stays aligned
    assert projection(rows, "id", "src_text", "tgt_text", "src_lang", "tgt_lang") == [
        ("train_1", 'Er sagte: "Hallo', 'He said: "Hello', "de", "en"),
        ("train_2", "Pfad C:\\temp", "Path C:\\temp", "de", "en"),
        ("train_4", "Zeile\u2028mit Trenner", "Line\u2028with separator", "de", "en"),
        ("train_6", "Ende.", "The end.", "de", "en"),
    ]
    assert projection(
        check_manifest(out / "test_mt_de_en.tsv", "mt"), "id", "src_text", "tgt_text"
    ) == [("newstest2014_1", "Guten Morgen.", "Good morning.")]
    assert dropped(stdout) == {"source: line break inside a text": 1, "target: empty text": 1}
    assert "validator: no problems" in stdout


def test_aligned_refuses_misaligned_files(tmp_path, capsys):
    write_text(tmp_path / "train.de", "a\nb\n")
    write_text(tmp_path / "train.en", "a\n")
    out = tmp_path / "out"
    args = [
        "aligned",
        "--src-lang",
        "de",
        "--tgt-lang",
        "en",
        "--split",
        "train",
        str(tmp_path / "train"),
        "--out",
        str(out),
    ]
    assert parallel.main(args) == 2
    assert "has 2 lines but" in capsys.readouterr().err
    assert not out.exists() or not list(out.iterdir())


def test_ted(tmp_path, capsys):
    root = tmp_path / "ted"
    header = ["talk_name", "en", "pt-br", "de", "zh-cn"]
    write_text(
        root / "all_talks_train.tsv",
        tsv(
            [
                header,
                [
                    "JaneDoe_2010",
                    'we &apos;re " here " .',
                    'nós estamos " aqui " .',
                    'wir sind " hier " .',
                    '我们 在 " 这里 " 。',
                ],
                ["JaneDoe_2010", "thank you .", "__NULL__", "danke .", "谢谢 。"],
                ["JohnRoe_2012", "so .", "então .", "_ _ NULL _ _", "所以 。"],
                ["JohnRoe_2012", "__NULL__", "sim .", "ja .", "是 。"],
            ]
        ),
    )
    write_text(
        root / "all_talks_dev.tsv",
        tsv([header, ["Dev_2014", "hello .", "olá .", "hallo .", "你好 。"]]),
    )
    out = tmp_path / "out"
    assert (
        parallel.main(
            [
                "ted",
                "--root",
                str(root),
                "--src-langs",
                "pt-br",
                "de",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_mt_de_en.tsv",
        "dev_mt_pt-br_en.tsv",
        "train_mt_de_en.tsv",
        "train_mt_pt-br_en.tsv",
    ]
    assert projection(
        check_manifest(out / "train_mt_pt-br_en.tsv", "mt"),
        "id",
        "src_text",
        "tgt_text",
        "src_lang",
        "tgt_lang",
    ) == [
        ("JaneDoe_2010_2", 'nós estamos " aqui " .', 'we &apos;re " here " .', "pt-br", "en"),
        ("JohnRoe_2012_4", "então .", "so .", "pt-br", "en"),
    ]
    assert projection(
        check_manifest(out / "train_mt_de_en.tsv", "mt"), "id", "src_text", "tgt_text"
    ) == [
        ("JaneDoe_2010_2", 'wir sind " hier " .', 'we &apos;re " here " .'),
        ("JaneDoe_2010_3", "danke .", "thank you ."),
    ]
    assert projection(check_manifest(out / "dev_mt_de_en.tsv", "mt"), "src_text", "tgt_text") == [
        ("hallo .", "hello .")
    ]
    assert dropped(stdout) == {"no translation (NULL marker)": 4}
    assert "validator: no problems" in stdout
