"""mC4 fixture: gzipped JSON lines named c4-<lang>[-validation].tfrecord-<i>-of-<n>.json.gz,
multi-line documents."""

import gzip
import json

from mu2slam_manifests import mc4
from prep_fixtures import check_manifest, dropped, projection


def write_shard(path, docs, raw_lines=()):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {"text": t, "timestamp": "2020-02-17T07:13:51Z", "url": f"https://example.org/{i}"},
            ensure_ascii=False,
        )
        for i, t in enumerate(docs)
    ]
    with gzip.open(path, "wb") as f:
        f.write(("\n".join(lines + list(raw_lines)) + "\n").encode("utf-8"))


def corpus(root):
    write_shard(
        root / "c4-iw.tfrecord-00000-of-01024.json.gz",
        [
            'שלום "עולם\nשורה שנייה עם \\ לוכסן\n\n  \nסוף',
            "עמודה\tעם טאב\r\nאחרי CRLF\rאחרי CR",
        ],
        raw_lines=['{"text": "truncated'],
    )
    write_shard(root / "c4-iw.tfrecord-00001-of-01024.json.gz", ["מסמך שלישי"])
    write_shard(root / "c4-iw-validation.tfrecord-00000-of-00004.json.gz", ["אימות"])
    write_shard(
        root / "sub" / "c4-ru-Latn.tfrecord-00000-of-00128.json.gz",
        ["Privet, mir! Kak dela? Khorosho.\nDa"],
    )


def test_mc4_lines(tmp_path, capsys):
    corpus(tmp_path / "mc4")
    out = tmp_path / "out"
    assert mc4.main([str(tmp_path / "mc4"), "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert sorted(p.name for p in out.glob("*.tsv")) == [
        "dev_text_iw.tsv",
        "train_text_iw.tsv",
        "train_text_ru-Latn.tsv",
    ]
    rows = check_manifest(out / "train_text_iw.tsv", "text")
    assert projection(rows, "id", "src_text", "src_lang") == [
        ("0_0_0", 'שלום "עולם', "iw"),
        ("0_0_1", "שורה שנייה עם \\ לוכסן", "iw"),
        ("0_0_4", "סוף", "iw"),
        ("0_1_1", "אחרי CRLF", "iw"),
        ("0_1_2", "אחרי CR", "iw"),
        ("1_0_0", "מסמך שלישי", "iw"),
    ]
    assert projection(check_manifest(out / "dev_text_iw.tsv", "text"), "id", "src_text") == [
        ("0_0_0", "אימות")
    ]
    assert projection(
        check_manifest(out / "train_text_ru-Latn.tsv", "text"), "src_text", "src_lang"
    ) == [
        ("Privet, mir! Kak dela? Khorosho.", "ru-Latn"),
        ("Da", "ru-Latn"),
    ]
    assert dropped(stdout) == {"tab inside a text": 1, "document is not JSON with a text field": 1}
    assert "validator: no problems" in stdout


def test_mc4_sentences_and_limits(tmp_path, capsys):
    corpus(tmp_path / "mc4")
    write_shard(
        tmp_path / "mc4" / "c4-zh.tfrecord-00000-of-00001.json.gz", ["你好。今天好吗？好！\n第二行"]
    )
    out = tmp_path / "out"
    args = [
        str(tmp_path / "mc4"),
        "--langs",
        "ru-Latn",
        "zh",
        "iw",
        "--sentences",
        "--max-lines",
        "3",
        "--min-chars",
        "3",
        "--out",
        str(out),
        "--no-progress",
    ]
    assert mc4.main(args) == 0
    stdout = capsys.readouterr().out
    assert projection(check_manifest(out / "train_text_ru-Latn.tsv", "text"), "id", "src_text") == [
        ("0_0_0_0", "Privet, mir!"),
        ("0_0_0_1", "Kak dela?"),
        ("0_0_0_2", "Khorosho."),
    ]
    assert projection(check_manifest(out / "train_text_zh.tsv", "text"), "id", "src_text") == [
        ("0_0_0_0", "你好。"),
        ("0_0_0_1", "今天好吗？"),
        ("0_0_1_0", "第二行"),
    ]
    assert projection(check_manifest(out / "train_text_iw.tsv", "text"), "id") == [
        ("0_0_0_0",),
        ("0_0_1_0",),
        ("0_0_4_0",),
    ]
    assert dropped(stdout) == {"shorter than --min-chars": 1}  # "好！"; "Da" comes after the limit
    assert "note: train_text_ru-Latn.tsv: reached --max-lines 3; the rest was not read" in stdout
