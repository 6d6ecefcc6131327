"""What the benchmarks share: a small workspace of real utterances, models built through
fairseq's registries, paired timers, FLOP counts and the matmul ceilings.

Every comparison is measured in one process, its candidates interleaved (A B A B ...),
and reported as medians: a shared machine drifts by tens of percent from one minute to
the next, so figures from separate runs cannot be compared.
"""

import argparse
import contextlib
import logging
import os
import statistics
import tempfile
import time
import warnings
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Hashable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

DEFAULT_THREADS = 2
QUICK_SIZES = dict(n_speech=16, n_text=60, max_frames=300)  # --quick: a few short utterances
QUICK_MODEL = ["--encoder-layers", "1", "--decoder-layers", "1"]  # --quick: one layer each
_quick = False
CORPUS_ENV = "MU2SLAM_TEST_CORPUS"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
FRAME_SECONDS = 0.01  # one log-Mel frame
# the default corpus's manifests the workspace draws from
SOURCE_MANIFESTS = {
    "speech": "train_st_nl_en.tsv",
    "asr": "train_asr_nl.tsv",
    "ast": "train_st_nl_en.tsv",
    "text": "train_text.tsv",
    "mt": "train_mt.tsv",
}


# ---------------------------------------------------------------- command line


def default_corpus() -> Path:
    """The default corpus (``mu2slam-prep-default-corpus``) in the cache the tests share."""
    if os.environ.get(CORPUS_ENV):
        return Path(os.environ[CORPUS_ENV])
    from mu2slam_manifests.debian import DEFAULT_CACHE

    return DEFAULT_CACHE.parent / "test-corpus"


def parser(name: str, doc: str) -> argparse.ArgumentParser:
    """The options every benchmark takes; ``doc`` is the module docstring."""
    p = argparse.ArgumentParser(
        prog=f"python -m mu2slam_fairseq.benchmarks {name}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help=f"the default corpus built by mu2slam-prep-default-corpus (default: ${CORPUS_ENV} or the test cache)",
    )
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch threads")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repetitions per candidate (median reported)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few repeats: checks that it runs, not the figures",
    )
    p.add_argument("--seed", type=int, default=1)
    return p


def start(
    args: argparse.Namespace, what: str, repeats: Optional[int] = None, quick_repeats: int = 2
) -> None:
    """Fix threads and seeds, resolve the corpus and repeats, print the header line.

    fairseq's set-up logging and known deprecation warnings are silenced: the figures are
    the output."""
    logging.disable(logging.WARNING)
    for message in (
        "torch.cuda.amp.autocast",
        "mismatched key_padding_mask",
        "'pin_memory' argument",
    ):
        warnings.filterwarnings("ignore", message=f".*{message}.*")
    global _quick
    _quick = bool(args.quick)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if args.repeats is None and repeats is not None:
        args.repeats = quick_repeats if args.quick else repeats
    if hasattr(args, "corpus"):
        args.corpus = find_corpus(args.corpus)
    print(
        f"{what}: torch {torch.__version__}, {torch.get_num_threads()} threads "
        f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})"
        + (f", median of {args.repeats} interleaved repeats" if args.repeats else "")
        + (" (quick mode)" if args.quick else ""),
        flush=True,
    )


def find_corpus(path: Optional[Path]) -> Path:
    path = Path(path) if path is not None else default_corpus()
    missing = [m for m in sorted(set(SOURCE_MANIFESTS.values())) if not (path / m).is_file()]
    if missing:
        raise SystemExit(
            f"{path}: not a default corpus (no {', '.join(missing)}); "
            f"build one with: mu2slam-prep-default-corpus --out {path}"
        )
    return path


# ---------------------------------------------------------------- timing


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def paired_times(
    fns: Dict[Hashable, Callable[[], object]], repeats: int, warmup: int = 1
) -> Dict[Hashable, List[float]]:
    """Seconds per call of each function, the functions interleaved round by round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: Dict[Hashable, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def paired_ratio(times: Dict[Hashable, List[float]], num: Hashable, den: Hashable) -> float:
    """Median over rounds of ``times[num] / times[den]``: the two of a round met the same
    machine, so the ratio survives the drift that moves each median."""
    return median([a / b for a, b in zip(times[num], times[den])])


def matmul_inputs(n: int, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(2048, n, generator=g).to(dtype), torch.randn(n, 4 * n, generator=g).to(dtype)


def matmul_ceilings(n: int = 2048, repeats: int = 5) -> Dict[str, float]:
    """GFLOP/s of a (2048 x n) @ (n x 4n) product in fp32 and in bf16 (AMX where present),
    timed interleaved; the best of ``repeats`` is the ceiling (nothing runs faster)."""
    inputs = {
        name: matmul_inputs(n, dt)
        for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    times = paired_times(
        {k: (lambda a=a, b=b: torch.matmul(a, b)) for k, (a, b) in inputs.items()}, repeats
    )
    flops = 2.0 * 2048 * n * 4 * n
    return {k: flops / min(t) / 1e9 for k, t in times.items()}


def flops_of(fn: Callable[[], object]) -> int:
    """FLOPs torch counts for one call (matmuls, convolutions, attention; forward and backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- workspace


def _pick(rows: List[Dict[str, str]], n: int, rng: np.random.Generator) -> List[Dict[str, str]]:
    keep = rng.permutation(len(rows))[:n]
    return [rows[i] for i in sorted(keep)]


def build_workspace(
    corpus: Path,
    out: Path,
    n_speech: int = 48,
    n_text: int = 400,
    max_frames: int = 1000,
    units: int = 1024,
    seed: int = 1,
    max_text_chars: Optional[int] = None,
) -> Path:
    """Manifests of real rows of the default corpus, a char vocabulary, a speech tokenizer
    and the data configs, in ``out``.

    The speech, ASR and AST corpora hold the same nl utterances (so every model sees the
    same audio); units are precomputed into the manifests, as a real run would do once.
    Returns ``out``. Takes a few seconds.
    """
    from ..data.manifest import read_manifest, write_manifest
    from ..data.s2t_config import write_s2t_config
    from ..data.vocab import build_vocab
    from ..speech_tokenizer import apply_to_manifest, fit_tokenizer

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    zip_link = out / "fbank80.zip"
    if not zip_link.exists():
        zip_link.symlink_to((corpus / "fbank80.zip").resolve())
    st = [
        r
        for r in read_manifest(corpus / SOURCE_MANIFESTS["ast"])
        if 0 < int(r["n_frames"]) <= max_frames
    ]
    st = _pick(st, n_speech, rng)
    ids = {r["id"] for r in st}
    asr = [r for r in read_manifest(corpus / SOURCE_MANIFESTS["asr"]) if r["id"] in ids]
    speech = [{k: r[k] for k in ("id", "audio", "n_frames", "src_lang")} for r in st]

    def short(rows):
        return [
            r
            for r in rows
            if max_text_chars is None
            or max(len(r["src_text"]), len(r["tgt_text"])) <= max_text_chars
        ]

    text = _pick(short(read_manifest(corpus / SOURCE_MANIFESTS["text"])), n_text, rng)
    mt = _pick(short(read_manifest(corpus / SOURCE_MANIFESTS["mt"])), n_text, rng)
    for name, rows in (("speech", speech), ("asr", asr), ("ast", st), ("text", text), ("mt", mt)):
        write_manifest(out / f"train_{name}.tsv", rows)
    texts = [out / f"train_{t}.tsv" for t in ("asr", "ast", "text", "mt")]
    build_vocab(
        texts,
        out / "vocab",
        kind="char",
        vocab_size=4000,
        n_units=units,
        budget=4 * n_text,
        seed=seed,
    )
    tokenizer = fit_tokenizer(
        "bestrq", out / "train_speech.tsv", codebook_size=units, seed=seed, progress=False
    )
    tokenizer.save(out / "tokenizer.pt")
    for name in ("speech", "asr", "ast"):  # a copy without units, for the tokenizer on the fly
        write_manifest(out / f"raw_{name}.tsv", read_manifest(out / f"train_{name}.tsv"))
        apply_to_manifest(tokenizer, out / f"train_{name}.tsv", progress=False)
    types = ("speech", "text", "asr", "ast", "mt")
    corpora = [{"name": t, "type": t, "splits": {"train": f"train_{t}.tsv"}} for t in types]
    raw = [
        {
            "name": t,
            "type": t,
            "splits": {"train": f"{'raw' if t in ('speech', 'asr', 'ast') else 'train'}_{t}.tsv"},
        }
        for t in types
    ]
    vocab = {"dict": "vocab/dict.txt", "spm": "vocab/spm.model"}
    batching = {
        "shares": {"speech": 4, "text": 8, "ast": 1, "asr": 1, "mt": 1},
        "sentences_per_share": 1,
    }
    configs = {
        "pretrain.yaml": {
            "vocab": vocab,
            "speech_tokenizer": "tokenizer.pt",
            "batching": batching,
            "corpora": corpora,
        },
        "pretrain_raw.yaml": {
            "vocab": vocab,
            "speech_tokenizer": "tokenizer.pt",
            "batching": batching,
            "corpora": raw,
        },
        "pretrain_single.yaml": {
            "vocab": vocab,
            "speech_tokenizer": "tokenizer.pt",
            "corpora": corpora,
            "batching": {"shares": {t: 1 for t in types}, "sentences_per_share": 1},
        },
        "finetune_ast.yaml": {
            "vocab": vocab,
            "batching": {"shares": {"ast": 1}},
            "corpora": [
                {
                    "name": "ast",
                    "type": "ast",
                    "splits": {"train": "train_ast.tsv", "test": "test_ast.tsv"},
                }
            ],
        },
    }
    write_manifest(out / "test_ast.tsv", st)  # decoding rewrites it with the utterances it decodes
    for name, cfg in configs.items():
        (out / name).write_text(yaml.safe_dump(cfg, sort_keys=False))
    write_s2t_config(out / "s2t.yaml", out / "vocab" / "dict.txt", out / "vocab" / "spm.model", out)
    return out


@contextlib.contextmanager
def workspace(args: argparse.Namespace, **sizes: int) -> Iterator[Path]:
    """A fresh workspace in a temporary folder, removed afterwards (``--quick``: a few short utterances)."""
    if args.quick:
        sizes = QUICK_SIZES
    with tempfile.TemporaryDirectory(prefix="mu2slam-bench-") as tmp:
        t = time.perf_counter()
        ws = build_workspace(args.corpus, Path(tmp), seed=args.seed, **sizes)
        print(
            f"workspace: real utterances of {args.corpus.name}, set up in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        yield ws


# ---------------------------------------------------------------- models and batches


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


def s2t_conformer(ws: Path, like, extra: Sequence[str] = ()) -> Trainee:
    """fairseq's own speech_to_text task and s2t_conformer (Conv2d 4x front end) with the
    sizes of the mu2slam config ``like``, over the same vocabulary and features."""
    argv = [
        str(ws),
        "--user-dir",
        str(PACKAGE_DIR),
        "--task",
        "speech_to_text",
        "--config-yaml",
        "s2t.yaml",
        "--arch",
        "s2t_conformer",
        "--conv-version",
        "convtransformer",
        *s2t_size_args(like),
        "--criterion",
        "label_smoothed_cross_entropy",
        "--label-smoothing",
        "0.1",
        "--seed",
        "1",
        "--cpu",
        *extra,
    ]
    return _build("s2t_conformer", argv)


def train_ids(ws: Path) -> List[str]:
    from ..data.manifest import read_manifest

    return [r["id"] for r in read_manifest(ws / "train_ast.tsv")]


def pick_utterances(ws: Path, n: int) -> List[str]:
    """``n`` AST utterances of similar length around the median, as a length-bucketed batch holds."""
    from ..data.manifest import read_manifest

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


# ---------------------------------------------------------------- workload of a batch


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


# ---------------------------------------------------------------- printing


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table, columns right-aligned except the first."""
    cells = [[str(c) for c in header]] + [
        [c if isinstance(c, str) else f"{c:,.4g}" if isinstance(c, float) else str(c) for c in r]
        for r in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        )
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(ratio: float, goal: float) -> str:
    return f"{ratio:.2f}x (goal >= {goal:g}x: {'met' if ratio >= goal else 'NOT met'})"
