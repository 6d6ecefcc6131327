"""Dispatch ``python -m mu2slam_fairseq.benchmarks NAME [options]`` to ``benchmarks/NAME.py``.

The OpenMP runtime reads ``OMP_WAIT_POLICY`` once, at start-up. Its default lets a thread
spin while it waits for its partner at the end of every parallel region; on a machine
whose cores are busy with other work that partner is often descheduled, and a training
step with two threads ran 10-20x slower than with passive waiting, by an amount that
changed from one minute to the next. So unless the environment sets a policy, the
process restarts itself once with ``OMP_WAIT_POLICY=PASSIVE`` (children inherit it);
set it yourself to measure another one.
"""

import importlib
import os
import pkgutil
import sys
from typing import List

PACKAGE = __package__ or "mu2slam_fairseq.benchmarks"
WAIT_POLICY = "OMP_WAIT_POLICY"


def available() -> List[str]:
    """Every module of the package not starting with an underscore is a benchmark."""
    path = importlib.import_module(PACKAGE).__path__
    return sorted(m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_"))


def main() -> None:
    names = available()
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(f"usage: python -m {PACKAGE} NAME [options]\nbenchmarks: {', '.join(names)}")
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    name = sys.argv[1]
    if name not in names:
        print(f"unknown benchmark {name!r}; available: {', '.join(names)}", file=sys.stderr)
        sys.exit(2)
    if WAIT_POLICY not in os.environ and not {"-h", "--help"} & set(sys.argv[2:]):
        os.environ[WAIT_POLICY] = "PASSIVE"
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", PACKAGE, *sys.argv[1:]])
    importlib.import_module(f"{PACKAGE}.{name}").main(sys.argv[2:])


if __name__ == "__main__":
    main()
