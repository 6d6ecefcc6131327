"""The main job's stages: skipped only when finished with the same command, clear on failure."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from demo import Stage  # noqa: E402


def _writes(out: Path, text: str) -> list:
    return [sys.executable, "-c", f"open({str(out)!r}, 'w').write({text!r})"]


def test_a_finished_stage_is_skipped_until_its_command_or_outputs_change(tmp_path, capsys):
    out = tmp_path / "out.txt"
    stage = Stage("write", _writes(out, "a"), [out])
    assert not stage.is_done(tmp_path)
    stage.run(tmp_path)
    assert out.read_text() == "a" and stage.is_done(tmp_path)
    assert "[demo] write: " in capsys.readouterr().out  # the command, printed before it runs
    stage.run(tmp_path)
    assert "write: done already, skipping" in capsys.readouterr().out
    assert not Stage("write", _writes(out, "b"), [out]).is_done(tmp_path)  # another command
    out.unlink()
    assert not stage.is_done(tmp_path)  # an output went missing


def test_a_failing_stage_names_itself_and_leaves_no_marker(tmp_path):
    stage = Stage("broken", [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(SystemExit, match="broken: failed with exit status 3") as e:
        stage.run(tmp_path)
    assert "re-run the same command" in str(e.value)
    assert not stage.marker(tmp_path).exists() and not stage.is_done(tmp_path)


def test_a_stage_writes_its_config_and_is_redone_when_the_config_changes(tmp_path):
    config, out = tmp_path / "data.yaml", tmp_path / "out.txt"
    copy = [sys.executable, "-c", f"open({str(out)!r}, 'w').write(open({str(config)!r}).read())"]
    Stage("train", copy, [out], {config: "shares: 1\n"}).run(tmp_path)
    assert out.read_text() == "shares: 1\n"
    assert Stage("train", copy, [out], {config: "shares: 1\n"}).is_done(tmp_path)
    assert not Stage("train", copy, [out], {config: "shares: 2\n"}).is_done(tmp_path)


def _flag(command, flag):
    return command[command.index(flag) + 1]


@pytest.mark.parametrize(
    "size,pretrain,stage1,stage2",
    [
        ("quick", "40", "8", "ast:4,asr:4"),
        ("default", "400", "400", "ast:300,asr:700"),
        ("long", "2000", "1000", "ast:1500,asr:3000"),
    ],
)
def test_each_size_of_the_main_job_carries_its_budget(tmp_path, size, pretrain, stage1, stage2):
    import demo

    by_name = {s.name: s for s in demo.stages(tmp_path, size)}
    assert _flag(by_name["pretrain"].command, "--max-update") == pretrain
    assert _flag(by_name["finetune"].command, "--stage1-updates") == stage1
    assert _flag(by_name["finetune"].command, "--stage2-updates") == stage2


def test_quick_and_long_are_refused_together(capsys):
    import demo

    with pytest.raises(SystemExit) as exit:
        demo.main(["--quick", "--long"])
    assert exit.value.code == 2 and "--quick and --long" in capsys.readouterr().err


@pytest.mark.slow
def test_the_w2vbert_tokenizer_option_trains_and_exports_one_codebook_of_the_vocab_units(
    default_corpus, tmp_path
):
    """``--tokenizer w2vbert``: w2v-BERT on the corpus's speech (quick: 6 updates), then its
    quantizer exported as the tokenizer the pre-training data config names, with one
    codebook of exactly the vocabulary's unit count and one id per 40 ms step."""
    import demo

    from mu2slam_fairseq.data.io.features import load_features
    from mu2slam_fairseq.data.io.manifest import read_manifest
    from mu2slam_fairseq.grid import grid_length
    from mu2slam_fairseq.speech_tokenizer import load_tokenizer

    (tmp_path / "corpus").symlink_to(default_corpus)
    by_name = {s.name: s for s in demo.stages(tmp_path, "quick", tokenizer="w2vbert")}
    names = list(by_name)
    assert names.index("cmvn") < names.index("w2vbert") < names.index("tokenizer")
    for name in ("cmvn", "w2vbert", "tokenizer"):
        by_name[name].run(tmp_path)
    tok = load_tokenizer(tmp_path / "vocab" / "tokenizer.pt")
    units = demo.Budget.of("quick").units
    assert tok.kind == "w2vbert" and tok.codebook_size == units
    row = read_manifest(default_corpus / "dev_speech.tsv")[0]
    feats = load_features(row["audio"], default_corpus)
    ids = tok.units_for_features(feats)
    assert len(ids) == grid_length(len(feats)) and 0 <= int(ids.min()) <= int(ids.max()) < units


def test_the_mslam_option_pretrains_alike_and_fine_tunes_by_the_same_recipe(tmp_path):
    """``--mslam``: mSLAM-CTC pre-training for as long as Mu2SLAM's pre-training took (its
    update count until that has run), with its token budget and optimiser, and an mslam
    column in the comparison, its encoder from that checkpoint."""
    import demo

    by_name = {s.name: s for s in demo.stages(tmp_path, "default", mslam=True)}
    names = list(by_name)
    assert names.index("pretrain") < names.index("mslam-pretrain") < names.index("finetune")
    mslam, pre = by_name["mslam-pretrain"].command, by_name["pretrain"].command
    assert _flag(mslam, "--task") == "mu2slam_slam" and _flag(mslam, "--slam-preset") == "mslam"
    for flag in (
        "--max-update",
        "--max-tokens",
        "--lr",
        "--warmup-updates",
        "--clip-norm",
        "--seed",
    ):
        assert _flag(mslam, flag) == _flag(pre, flag), flag
    assert mslam[1] == pre[1]  # the same data folder and data config
    # the codebook settings of the w2v-BERT tokenizer, for this corpus
    assert _flag(mslam, "--diversity-weight") == demo.W2VBERT_DIVERSITY
    assert _flag(mslam, "--latent-temp") == demo.W2VBERT_TEMPERATURE
    finetune = by_name["finetune"].command
    assert _flag(finetune, "--runs") == "pretrained,scratch,mslam"
    assert _flag(finetune, "--mslam") == str(by_name["mslam-pretrain"].outputs[0])
    assert "mslam-pretrain" not in {s.name for s in demo.stages(tmp_path, "default")}
    (tmp_path / "pretrain" / "train.log").parent.mkdir(parents=True)
    (tmp_path / "pretrain" / "train.log").write_text(
        "... | INFO | fairseq_cli.train | done training in 1080.0 seconds\n"
    )
    timed = {s.name: s for s in demo.stages(tmp_path, "default", mslam=True)}["mslam-pretrain"]
    assert _flag(timed.command, "--stop-time-hours") == "0.300000"
    assert int(_flag(timed.command, "--max-update")) > 400


@pytest.mark.parametrize("cuda,cpu", [(False, False), (True, False), (True, True)])
def test_the_main_job_trains_on_the_gpu_where_there_is_one(tmp_path, monkeypatch, cuda, cpu):
    """fairseq's own default: the GPU where CUDA is available, unless ``--cpu``; on the CPU,
    bf16 autocast exactly where the CPU has bf16 instructions (never on a GPU)."""
    import demo

    monkeypatch.setattr(demo.torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(demo, "cpu_has_native_bf16", lambda: True)
    on_cpu = cpu or not cuda
    by_name = {
        s.name: s
        for s in demo.stages(tmp_path, "default", tokenizer="w2vbert", mslam=True, cpu=cpu)
    }
    for name in ("w2vbert", "pretrain", "mslam-pretrain", "finetune"):
        assert ("--cpu" in by_name[name].command) == on_cpu, name
    for name in ("pretrain", "mslam-pretrain", "finetune"):
        assert ("--autocast-bf16" in by_name[name].command) == on_cpu, name
    assert "--autocast-bf16" not in by_name["w2vbert"].command
    extra = by_name["finetune"].command[by_name["finetune"].command.index("--extra") :]
    assert ("--autocast-bf16" in extra) == on_cpu and "--cpu" not in extra
    monkeypatch.setattr(demo, "cpu_has_native_bf16", lambda: False)
    plain = {s.name: s for s in demo.stages(tmp_path, "default", cpu=True)}
    assert "--cpu" in plain["pretrain"].command
    assert "--autocast-bf16" not in plain["pretrain"].command + plain["finetune"].command
