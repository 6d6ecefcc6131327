import pytest

from mu2slam_fairseq.data.io.manifest import ManifestError, read_manifest, write_manifest


def test_roundtrip_keeps_quotes_and_backslashes_verbatim(tmp_path):
    rows = [
        {
            "id": "a",
            "src_text": 'He said "hi',
            "tgt_text": 'back\\slash "quoted"',
            "src_lang": "nl",
        },
        {"id": "b", "src_text": "ünïcödé 'x'", "tgt_text": "", "src_lang": "cs"},
    ]
    path = tmp_path / "m.tsv"
    write_manifest(path, rows)
    assert (
        path.read_text(encoding="utf-8").splitlines()[1]
        == 'a\tHe said "hi\tback\\slash "quoted"\tnl'
    )
    back = read_manifest(path)
    assert [r["src_text"] for r in back] == ['He said "hi', "ünïcödé 'x'"]
    assert back[0]["tgt_text"] == 'back\\slash "quoted"'
    assert back[1]["audio"] == ""  # absent standard columns read as empty


def test_columns_are_selected_by_name_in_any_order(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("tgt_text\textra\tid\nhello\tx\tu1\n", encoding="utf-8")
    (row,) = read_manifest(path, required=("id", "tgt_text"))
    assert (row["id"], row["tgt_text"], row["extra"]) == ("u1", "hello", "x")


def test_tab_inside_a_text_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("id\nold\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m.tsv:3: column 'src_text' contains a tab"):
        write_manifest(path, [{"id": "a", "src_text": "ok"}, {"id": "b", "src_text": "bad\ttab"}])
    assert path.read_text(encoding="utf-8") == "id\nold\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.tsv"]  # no temporary left behind


def test_stray_tab_names_file_and_line(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("id\tsrc_text\na\tfine\nb\tone\ttoo many\n", encoding="utf-8")
    with pytest.raises(ManifestError) as e:
        read_manifest(path)
    assert (e.value.path, e.value.line) == (str(path), 3)
    assert "3 fields but the header has 2" in str(e.value)


def test_missing_column_is_named(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("id\ttgt_text\na\tb\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m.tsv:1: missing column\(s\) audio, n_frames"):
        read_manifest(path, required=("id", "audio", "n_frames"))


def test_byte_order_mark_is_skipped(tmp_path):
    """Spreadsheet exports start the file with U+FEFF; it is not part of the first column name."""
    rows = [{"id": "a", "src_text": "hallo", "src_lang": "nl"}]
    plain, marked = tmp_path / "plain.tsv", tmp_path / "marked.tsv"
    write_manifest(plain, rows)
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert read_manifest(marked) == read_manifest(plain)
    assert read_manifest(marked)[0]["id"] == "a"
