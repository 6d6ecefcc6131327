"""Dispatch ``python -m mu2slam_fairseq.benchmarks NAME [options]`` to ``benchmarks/NAME.py``."""
import importlib
import pkgutil
import sys
from typing import List

PACKAGE = __package__ or "mu2slam_fairseq.benchmarks"


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
    importlib.import_module(f"{PACKAGE}.{name}").main(sys.argv[2:])


if __name__ == "__main__":
    main()
