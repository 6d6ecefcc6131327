"""A batch with a non-finite loss skips its update instead of putting NaN into the weights.

Driven through fairseq's own ``Trainer.train_step`` (what ``fairseq-train`` runs each
update) on real batches of the small pre-training corpus; the NaN comes from poisoning one
utterance's log-Mel features, as a broken feature file would.
"""

import copy
import logging
from pathlib import Path

import pytest
import torch
import yaml
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.trainer import Trainer

import mu2slam_fairseq  # noqa: F401  (registers the task, model and criterion)
from mu2slam_fairseq.tasks.base import NonFiniteLossError
from pretrain_corpus import build

REPO = Path(__file__).resolve().parents[1]
TASK_LOG = "mu2slam_fairseq.tasks.base"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, fillets_root) -> Path:
    base = tmp_path_factory.mktemp("nonfinite")
    build(base, fillets_root)
    return base


def trainer_for(corpus: Path, save_dir: Path, *extra: str):
    """fairseq's Trainer over the corpus's speech and text, and an endless supply of its
    training batches (two data types keep the updates quick)."""
    cfg = yaml.safe_load((corpus / "data.yaml").read_text())
    cfg["corpora"] = [c for c in cfg["corpora"] if c["type"] in ("speech", "text")]
    (corpus / "speech_text.yaml").write_text(yaml.safe_dump(cfg))
    args = options.parse_args_and_arch(
        options.get_training_parser(),
        [
            str(corpus),
            "--user-dir",
            str(REPO / "mu2slam_fairseq"),
            "--data-config",
            "speech_text.yaml",
            "--task",
            "mu2slam_pretrain",
            "--criterion",
            "mu2slam",
            "--arch",
            "mu2slam_tiny",
            "--optimizer",
            "adam",
            "--lr",
            "1e-3",
            "--max-tokens",
            "3000",
            "--seed",
            "1",
            "--cpu",
            "--save-dir",
            str(save_dir),
            *extra,
        ],
    )
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("train")
    model, criterion = task.build_model(cfg.model), task.build_criterion(cfg.criterion)
    trainer = Trainer(cfg, task, model, criterion)
    itr = trainer.get_train_iterator(epoch=1, load_dataset=False)

    def batches():
        while True:
            yield from itr.next_epoch_itr(shuffle=True)

    return trainer, batches()


def poisoned(sample):
    """The batch with NaN features for its first speech utterance."""
    sample = copy.deepcopy(sample)
    view = next(v for v in sample["views"] if v["net_input"].get("src_speech") is not None)
    view["net_input"]["src_speech"][0] = float("nan")
    return sample


def state(trainer):
    params = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    return params, copy.deepcopy(trainer.optimizer.state_dict()["state"])


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return torch.equal(a, b) if torch.is_tensor(a) else a == b


def test_nonfinite_loss_skips_the_update_and_is_counted(corpus, tmp_path, caplog):
    trainer, batches = trainer_for(corpus, tmp_path)
    trainer.train_step([next(batches)])  # an ordinary first update (creates Adam's state)
    before = state(trainer)
    with caplog.at_level(logging.WARNING, logger=TASK_LOG):
        log = trainer.train_step([poisoned(next(batches))])
    after = state(trainer)
    assert same(before[0], after[0]), "the weights changed"
    assert same(before[1], after[1]), "the optimizer state changed"
    assert trainer.get_num_updates() == 2 and log["nonfinite_skipped"] == 1 and log["loss"] == 0
    warnings = [r.getMessage() for r in caplog.records if r.name == TASK_LOG]
    assert (
        len(warnings) == 2
        and "non-finite loss on a batch of {'speech': 2, 'text': 4}" in warnings[0]
    )
    assert (
        warnings[1]
        == "update 2 skipped: 1 batch(es) with a non-finite loss (1 update(s) skipped so far)"
    )

    log = trainer.train_step([next(batches)])  # training goes on from the same weights
    assert "nonfinite_skipped" not in log and torch.isfinite(torch.tensor(log["loss"]))
    changed = state(trainer)[0]
    assert not same(after[0], changed) and all(torch.isfinite(p).all() for p in changed.values())


def test_updates_skipped_in_a_row_stop_training(corpus, tmp_path):
    """A model that gives a non-finite loss on every batch has diverged: stop, and say so."""
    trainer, batches = trainer_for(corpus, tmp_path, "--nonfinite-patience", "2")
    trainer.train_step([poisoned(next(batches))])
    trainer.train_step([next(batches)])  # a good update resets the count
    trainer.train_step([poisoned(next(batches))])
    with pytest.raises(
        NonFiniteLossError, match="2 updates in a row had a non-finite loss: the model has diverged"
    ):
        trainer.train_step([poisoned(next(batches))])
