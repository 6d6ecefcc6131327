"""The main job's report: fine-tuning validation curves read as one run per initialisation."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
from demo_report import _validation_panels  # noqa: E402


def _log(path: Path, lines) -> None:
    path.mkdir(parents=True)
    (path / "train.log").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _train(update: int) -> str:
    return f"epoch 001:     {update} / 50 loss=4.2, num_updates={update}, lr=0.001"


def _valid(update: int, metrics: str) -> str:
    return f"epoch 001 | valid on 'valid' subset | {metrics} | num_updates {update}"


def test_stage_two_continues_stage_one_on_the_update_axis(tmp_path):
    _log(
        tmp_path / "pretrained" / "stage1",
        [
            _train(50),
            _valid(50, "loss 5.1 | bleu 0.1 | wer 120.5 | cer 80.25"),
            _train(100),
            _valid(100, "loss 4.8 | bleu 0.2 | wer 99.0 | cer 61.5"),
        ],
    )
    _log(tmp_path / "pretrained" / "stage2_ast", [_train(20), _valid(20, "loss 4.5 | bleu 0.4")])
    _log(
        tmp_path / "noise_study" / "ratio_0.06", [_valid(20, "loss 4.4 | bleu 0.5")]
    )  # plotted on its own
    panels = _validation_panels(tmp_path)
    assert panels["validation BLEU (AST)"] == {
        "pretrained": [(50, 0.1), (100, 0.2)],
        "pretrained stage2_ast": [(120, 0.4)],
    }
    assert panels["validation WER % (ASR)"] == {"pretrained": [(50, 120.5), (100, 99.0)]}
    assert panels["validation CER % (ASR)"] == {"pretrained": [(50, 80.25), (100, 61.5)]}
    assert panels["validation loss"]["pretrained stage2_ast"] == [(120, 4.5)]
