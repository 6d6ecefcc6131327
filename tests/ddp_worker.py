"""``fairseq-train`` that records a digest of the model after every update (one rank of a
data-parallel run, or a single process).

    python tests/ddp_worker.py --digests OUT.jsonl [--withhold TYPE] [--nan-at U] -- DATA --task ... [fairseq-train args]

Each line of OUT.jsonl is one JSON record: ``update`` (0 = the initial parameters, before
the first update), ``params`` (SHA-256 of every parameter's bytes, in ``named_parameters``
order), ``buffers`` (the same over the model's buffers), ``norm`` (for messages),
``types`` and ``ids`` (the data types and example indices of the batch this rank trained
on; none for the initial record), ``rows`` (those examples as ``SOURCE:ID``, SOURCE the
manifest's file name or a binarized folder's path from the manifest's folder, e.g.
``train_text-bin/shard0``) and ``epoch``.

``--withhold TYPE`` drops TYPE's examples from every training batch of rank 1 (the
collater sees them, then leaves them out), so that rank 1 trains on batches that lack a
data type the other rank has. The sampler itself never builds such training batches (every
update holds every present type), so this is how a test reaches that case.

``--nan-at U`` sets the log-Mel features of one utterance of rank 1's batch of update U
to NaN, as a broken feature file would, so that only that rank's loss is not finite.

Threads: one torch thread per process, so that two ranks share two cores without thrashing.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import torch


def digest(tensors) -> str:
    h = hashlib.sha256()
    for name, t in tensors:
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def batch_contents(samples):
    """(types, example indices) of one update's samples."""
    types, ids = set(), set()
    for s in samples or []:
        types.update((s or {}).get("types", {}))
        for view in (s or {}).get("views", []):
            ids.update(int(i) for i in view["id"])
    return sorted(types), sorted(ids)


def poisoned(samples):
    """``samples`` with NaN features for the first speech utterance found."""
    for s in samples:
        for view in (s or {}).get("views", []):
            speech = view["net_input"].get("src_speech")
            if speech is not None:
                speech[0] = float("nan")
                return samples
    raise ValueError("no speech in this batch to poison")


def batch_rows(trainer, samples):
    """(epoch, ``SOURCE:ID`` of every example) of one update's samples."""
    dataset = trainer.task.dataset(trainer.cfg.dataset.train_subset)
    rows = []
    for s in samples or []:
        for view in (s or {}).get("views", []):
            for i in view["id"]:
                d, row = dataset.locate(int(i))
                corpus = getattr(d.examples, "corpus", None)  # binarized: its folder
                source = (
                    os.path.relpath(corpus.folder, d.manifest.parent)
                    if corpus is not None
                    else d.manifest.name
                )
                rows.append(f"{source}:{d.examples[row].id}")
    return dataset.datasets[0].epoch, sorted(set(rows))


def install_recorder(path: Path, nan_at: int = 0) -> None:
    """Wraps ``Trainer.train_step`` to append one record per update to ``path`` (and to
    poison the batch of update ``nan_at``)."""
    from fairseq.trainer import Trainer

    original = Trainer.train_step

    def write(trainer, contents, rows=(None, None)):
        model = trainer.get_model()
        params = list(model.named_parameters())
        record = {
            "update": trainer.get_num_updates(),
            "params": digest(params),
            "buffers": digest(model.named_buffers()),
            "norm": float(sum(p.detach().double().pow(2).sum() for _, p in params) ** 0.5),
            "types": contents[0],
            "ids": contents[1],
            "epoch": rows[0],
            "rows": rows[1],
        }
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def train_step(self, samples, raise_oom=False):
        if not getattr(self, "_digest_started", False):
            self._digest_started = True
            write(self, (None, None))
        if self.get_num_updates() + 1 == nan_at:
            samples = poisoned(samples)
        out = original(self, samples, raise_oom)
        write(self, batch_contents(samples), batch_rows(self, samples))
        return out

    Trainer.train_step = train_step


def install_withholding(data_type: str) -> None:
    """Rank 1's training batches leave out ``data_type`` (see the module doc)."""
    from mu2slam_fairseq.data.pipeline.multitype import MultiTypeDataset

    original = MultiTypeDataset.collater

    def collater(self, samples):
        if getattr(self, "split", "").startswith("train"):  # set by the task's load_dataset
            samples = [s for s in samples if s["type"] != data_type]
        return original(self, samples)

    MultiTypeDataset.collater = collater


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--")
    own, fairseq_args = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser()
    parser.add_argument("--digests", type=Path, required=True)
    parser.add_argument(
        "--withhold", default=None, help="a data type left out of rank 1's training batches"
    )
    parser.add_argument(
        "--nan-at",
        type=int,
        default=0,
        help="poison rank 1's batch of this update with NaN features",
    )
    args = parser.parse_args(own)

    torch.set_num_threads(1)
    rank = 0
    if "--distributed-rank" in fairseq_args:
        rank = int(fairseq_args[fairseq_args.index("--distributed-rank") + 1])
    args.digests.unlink(missing_ok=True)
    install_recorder(args.digests, args.nan_at if rank == 1 else 0)
    if args.withhold and rank == 1:
        install_withholding(args.withhold)

    from fairseq_cli.train import cli_main

    sys.argv = [sys.argv[0], *fairseq_args]
    cli_main()


if __name__ == "__main__":
    main()
