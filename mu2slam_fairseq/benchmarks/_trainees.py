"""Models as fairseq-train builds them (mu2slam and fairseq's s2t_conformer of the same
sizes), their batches, training steps, checkpoints and the workload of a batch."""

import warnings
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

QUICK_MODEL = ["--encoder-layers", "1", "--decoder-layers", "1"]  # --quick: one layer each
PACKAGE_DIR = Path(__file__).resolve().parents[1]
FRAME_SECONDS = 0.01  # one log-Mel frame
_quick = False


def use_quick_model(on: bool) -> None:
    """Whether ``mu2slam`` builds one layer each (``--quick``)."""
    global _quick
    _quick = on


@dataclass
class Trainee:
    """A fairseq task with its model and criterion, as fairseq-train builds them."""

    name: str
    task: object
    model: torch.nn.Module
    criterion: torch.nn.Module
    args: Namespace


def _build(name: str, argv: List[str]) -> Trainee:
    from fairseq import options, tasks

    args = options.parse_args_and_arch(options.get_training_parser(), argv)
    task = tasks.setup_task(args)
    model = task.build_model(args)
    return Trainee(name, task, model, task.build_criterion(args), args)


def mu2slam(
    ws: Path,
    task: str = "mu2slam_finetune",
    arch: str = "mu2slam_tiny",
    config: str = "finetune_ast.yaml",
    extra: Sequence[str] = (),
    name: Optional[str] = None,
) -> Trainee:
    """A mu2slam task + model + criterion over the workspace (``--quick``: one layer each)."""
    criterion = "mu2slam" if task == "mu2slam_pretrain" else "mu2slam_seq2seq"
    argv = [
        str(ws),
        "--user-dir",
        str(PACKAGE_DIR),
        "--task",
        task,
        "--criterion",
        criterion,
        "--arch",
        arch,
        "--data-config",
        config,
        "--seed",
        "1",
        "--cpu",
        *(QUICK_MODEL if _quick else []),
        *extra,
    ]
    if criterion == "mu2slam_seq2seq":
        argv += ["--label-smoothing", "0.1"]
    return _build(name or f"{arch} ({task.split('_')[1]})", argv)


def s2t_size_args(cfg) -> List[str]:
    """fairseq s2t_conformer options with the widths and depths of a mu2slam config."""
    values = {
        "--encoder-embed-dim": cfg.embed_dim,
        "--encoder-ffn-embed-dim": cfg.encoder_ffn_embed_dim,
        "--encoder-layers": cfg.encoder_layers,
        "--encoder-attention-heads": cfg.encoder_attention_heads,
        "--depthwise-conv-kernel-size": cfg.encoder_conv_kernel_size,
        "--conv-out-channels": cfg.conv_channels,
        "--decoder-embed-dim": cfg.embed_dim,
        "--decoder-ffn-embed-dim": cfg.decoder_ffn_embed_dim,
        "--decoder-layers": cfg.decoder_layers,
        "--decoder-attention-heads": cfg.decoder_attention_heads,
    }
    return [x for k, v in values.items() for x in (k, str(v))]


def s2t_conformer_args(config_yaml: str, like) -> List[str]:
    """fairseq-train options of fairseq's own speech_to_text task and s2t_conformer (Conv2d
    4x front end) with the sizes of the mu2slam config ``like``."""
    return [
        "--task",
        "speech_to_text",
        "--config-yaml",
        config_yaml,
        "--arch",
        "s2t_conformer",
        "--conv-version",
        "convtransformer",
        *s2t_size_args(like),
        "--criterion",
        "label_smoothed_cross_entropy",
        "--label-smoothing",
        "0.1",
    ]


def s2t_conformer(ws: Path, like, extra: Sequence[str] = ()) -> Trainee:
    """fairseq's own speech_to_text task and s2t_conformer (Conv2d 4x front end) with the
    sizes of the mu2slam config ``like``, over the same vocabulary and features."""
    argv = [
        str(ws),
        "--user-dir",
        str(PACKAGE_DIR),
        *s2t_conformer_args("s2t.yaml", like),
        "--seed",
        "1",
        "--cpu",
        *extra,
    ]
    return _build("s2t_conformer", argv)


def pick_utterances(ws: Path, n: int) -> List[str]:
    """``n`` AST utterances of similar length around the median, as a length-bucketed batch holds."""
    from ..data.io.manifest import read_manifest

    rows = sorted(read_manifest(ws / "train_ast.tsv"), key=lambda r: int(r["n_frames"]))
    mid = max(0, min(len(rows) - n, len(rows) // 2 - n // 2))
    return [r["id"] for r in rows[mid : mid + n]]


def mu2slam_ast_batch(t: Trainee, ids: Sequence[str], split: str = "train") -> Dict:
    """A fine-tuning batch of exactly the AST utterances ``ids``."""
    if split not in t.task.datasets:
        t.task.load_dataset(split)
    ds = t.task.datasets[split]
    rows = {ex.id: i for i, ex in enumerate(ds.datasets[0].examples)}
    return ds.collater([ds[rows[i]] for i in ids])


def s2t_batch(t: Trainee, ids: Sequence[str], split: str = "train_ast") -> Dict:
    """fairseq speech_to_text's batch of exactly the utterances ``ids``."""
    if split not in t.task.datasets:
        t.task.load_dataset(split)
    ds = t.task.datasets[split]
    rows = {u: i for i, u in enumerate(ds.ids)}
    return ds.collater([ds[rows[i]] for i in ids])


def side_by_side(
    ws: Path, arch: str, utterances: int
) -> Tuple[Dict[str, Trainee], Dict[str, Dict]]:
    """The trainees of every speed comparison and their batches, keyed ``ft`` (mu2slam AST
    fine-tuning), ``pt`` (mu2slam pre-training) and ``s2t`` (s2t_conformer of the same sizes);
    ``ft`` and ``s2t`` see the same utterances."""
    ft = mu2slam(ws, arch=arch)
    pt = mu2slam(ws, task="mu2slam_pretrain", arch=arch, config="pretrain.yaml")
    s2t = s2t_conformer(ws, ft.model.cfg)
    ids = pick_utterances(ws, utterances)
    return {"ft": ft, "pt": pt, "s2t": s2t}, {
        "ft": mu2slam_ast_batch(ft, ids),
        "pt": pretrain_batch(pt),
        "s2t": s2t_batch(s2t, ids),
    }


def pretrain_batches(t: Trainee, count: int, max_tokens: int = 100_000) -> List[Dict]:
    """The first ``count`` batches of the first training epoch, as fairseq-train draws them."""
    if "train" not in t.task.datasets:
        t.task.load_dataset("train")
    itr = t.task.get_batch_iterator(
        t.task.datasets["train"], max_tokens=max_tokens, seed=1, disable_iterator_cache=True
    ).next_epoch_itr(shuffle=True)
    return [next(itr) for _ in range(count)]


def pretrain_batch(t: Trainee) -> Dict:
    return pretrain_batches(t, 1)[0]


def save_checkpoint(t: Trainee, path: Path) -> Path:
    """What fairseq-train's checkpoint holds, as far as fairseq-generate reads it (weights as initialised)."""
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from omegaconf import OmegaConf

    with warnings.catch_warnings():  # hydra's deprecation notices about fairseq's own config files
        warnings.simplefilter("ignore")
        cfg = OmegaConf.to_container(
            convert_namespace_to_omegaconf(t.args), resolve=True, enum_to_str=True
        )
    history = [
        {
            "criterion_name": type(t.criterion).__name__,
            "optimizer_name": "FairseqAdam",
            "lr_scheduler_state": {"best": None},
            "num_updates": 0,
        }
    ]
    torch.save(
        {
            "args": None,
            "cfg": cfg,
            "model": t.model.state_dict(),
            "optimizer_history": history,
            "task_state": t.task.state_dict(),
            "extra_state": {},
        },
        path,
    )
    return path


class _Backward:
    """The part of fairseq's optimizer that ``train_step`` calls."""

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()


def train_step(t: Trainee, sample: Dict, bf16: bool = False) -> float:
    """One forward/backward pass of ``sample`` through the task's own ``train_step``.

    mu2slam tasks turn bf16 autocast on with their ``--autocast-bf16`` option; fairseq's
    speech_to_text has none (its ``--bf16`` means TPU), so it is wrapped from outside.
    """
    t.model.zero_grad(set_to_none=True)
    if hasattr(t.task.cfg, "autocast_bf16"):
        t.task.cfg.autocast_bf16 = bf16
        loss, _, _ = t.task.train_step(sample, t.model, t.criterion, _Backward(), 0)
    else:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, _, _ = t.task.train_step(sample, t.model, t.criterion, _Backward(), 0)
    return float(loss.detach())


@dataclass
class Workload:
    """What one update computes: encoder positions and decoder tokens (real, and with padding)."""

    enc_positions: int = 0
    enc_padded: int = 0
    dec_tokens: int = 0
    dec_padded: int = 0
    enc_passes: int = 0
    dec_passes: int = 0
    audio_seconds: float = 0.0


def mu2slam_workload(sample: Dict) -> Workload:
    from ..grid import grid_length

    w = Workload()
    for view in sample["views"]:
        net = view["net_input"]
        total = grid_length(net["src_speech_lengths"]) + net["src_lengths"]  # grid_length(0) == 0
        w.enc_positions += int(total.sum())
        w.enc_padded += int(total.max()) * len(total)
        w.enc_passes += 1
        if net.get("src_speech") is not None:
            w.audio_seconds += float(net["src_speech_lengths"].sum()) * FRAME_SECONDS
        for dec in view["decoders"]:
            prev = dec["prev_output_tokens"]
            w.dec_tokens += int(prev.ne(1).sum())
            w.dec_padded += prev.numel()
            w.dec_passes += 1
    return w


def s2t_workload(sample: Dict, pad: int = 1) -> Workload:
    from ..grid import grid_length

    lengths = sample["net_input"]["src_lengths"]
    steps = grid_length(lengths)
    prev = sample["net_input"]["prev_output_tokens"]
    return Workload(
        int(steps.sum()),
        int(steps.max()) * len(steps),
        int(prev.ne(pad).sum()),
        prev.numel(),
        1,
        1,
        float(lengths.sum()) * FRAME_SECONDS,
    )
