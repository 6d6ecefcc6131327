"""What the benchmarks share, in one namespace (``from . import _common as C``): the
command line and printing, defined here, and the workspace (``_workspace.py``), models
and batches (``_trainees.py``) and timers (``_timing.py``).

Every comparison is measured in one process, its candidates interleaved (A B A B ...),
and reported as medians: a shared machine drifts by tens of percent from one minute to
the next, so figures from separate runs cannot be compared.
"""

import argparse
import logging
import os
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from ._timing import (  # noqa: F401
    flops_of,
    matmul_ceilings,
    matmul_inputs,
    median,
    paired_ratio,
    paired_times,
    peak_rss_mb,
)
from ._trainees import (  # noqa: F401
    FRAME_SECONDS,
    PACKAGE_DIR,
    QUICK_MODEL,
    Trainee,
    Workload,
    mu2slam,
    mu2slam_ast_batch,
    mu2slam_workload,
    pick_utterances,
    pretrain_batch,
    pretrain_batches,
    s2t_batch,
    s2t_conformer,
    s2t_conformer_args,
    s2t_workload,
    save_checkpoint,
    side_by_side,
    train_step,
    use_quick_model,
)
from ._workspace import CORPUS_ENV, QUICK_SIZES, build_workspace, find_corpus, workspace  # noqa: F401

DEFAULT_THREADS = 2


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
    use_quick_model(bool(args.quick))
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
