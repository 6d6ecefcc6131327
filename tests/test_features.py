import zipfile

import numpy as np
import pytest
import soundfile as sf

from mu2slam_fairseq.data.io.audio import AudioError, fbank, load_waveform, n_fbank_frames
from mu2slam_fairseq.data.io.cmvn import global_cmvn
from mu2slam_fairseq.data.io.features import load_features, write_feature_zip
from mu2slam_fairseq.data.io.manifest import write_manifest


@pytest.fixture(scope="module")
def clips(fillets_root):
    return sorted((fillets_root / "sound" / "airplane" / "nl").glob("*.ogg"))[:3]


def test_fbank_has_80_dims_and_kaldi_frame_count(clips):
    wav = load_waveform(clips[0])
    sr_native = sf.info(str(clips[0])).samplerate
    assert sr_native != 16000  # the game's clips are resampled
    assert abs(len(wav) - sf.info(str(clips[0])).frames * 16000 / sr_native) <= 1
    feats = fbank(wav)
    assert feats.shape == (n_fbank_frames(len(wav)), 80)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()


def test_zip_refs_are_exact_for_non_ascii_member_names(tmp_path, clips):
    feats = {k: fbank(load_waveform(c)) for k, c in zip(["čeština/ü-1", "plain", "日本"], clips)}
    refs = write_feature_zip(tmp_path / "fbank80.zip", feats.items())
    for key, arr in feats.items():
        name, off, length = refs[key].split(":")
        assert name == "fbank80.zip"
        np.testing.assert_array_equal(load_features(refs[key], tmp_path), arr)
    with zipfile.ZipFile(tmp_path / "fbank80.zip") as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}


def test_audio_path_and_zip_give_identical_features(tmp_path, clips):
    refs = write_feature_zip(tmp_path / "f.zip", [("a", fbank(load_waveform(clips[1])))])
    np.testing.assert_array_equal(load_features(str(clips[1])), load_features(refs["a"], tmp_path))


def test_bad_audio_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.ogg"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty.ogg: cannot read audio"):
        load_features(str(empty))
    with pytest.raises(AudioError, match="missing.wav"):
        load_features("missing.wav", tmp_path)
    (tmp_path / "t.zip").write_bytes(b"PK" + b"\0" * 10)
    with pytest.raises(AudioError, match="zip is truncated"):
        load_features("t.zip:4:100", tmp_path)


def test_global_cmvn_matches_numpy_over_all_frames(tmp_path, clips):
    rows = [{"id": f"u{i}", "audio": str(c), "n_frames": "0"} for i, c in enumerate(clips)]
    write_manifest(tmp_path / "m.tsv", rows)
    mean, std = global_cmvn([tmp_path / "m.tsv"])
    allf = np.concatenate([fbank(load_waveform(c)) for c in clips]).astype(np.float64)
    np.testing.assert_allclose(mean, allf.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, allf.std(0), rtol=1e-4, atol=1e-4)


def _zipfile_reference(path, items):
    """The same members written by Python's zipfile, as write_feature_zip once did."""
    import io

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, feats in items:
            buf = io.BytesIO()
            np.save(buf, np.asarray(feats, dtype=np.float32), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


@pytest.mark.parametrize("limit", [None, 1000])
def test_zip_bytes_are_zipfiles_own(tmp_path, monkeypatch, limit):
    """Byte for byte what zipfile writes, zip64 records included (forced here by a low
    limit: real zips need them past 2 GiB), and zipfile reads every member back."""
    from mu2slam_fairseq.data.io import features

    if limit is not None:
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", limit)
        monkeypatch.setattr(features, "ZIP64_LIMIT", limit)
    rng = np.random.default_rng(0)
    items = [(f"nl/utt{i}" if i % 3 else f"čs/ňě{i}", rng.random((2, 3))) for i in range(12)]
    refs = write_feature_zip(tmp_path / "new.zip", items)
    _zipfile_reference(tmp_path / "old.zip", items)
    assert (tmp_path / "new.zip").read_bytes() == (tmp_path / "old.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "new.zip") as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [f"{k}.npy" for k, _ in items]
    for key, feats in items:
        np.testing.assert_array_equal(load_features(refs[key], tmp_path), feats.astype(np.float32))
