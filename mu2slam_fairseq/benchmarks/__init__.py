"""Benchmarks, run as ``python -m mu2slam_fairseq.benchmarks NAME [options]``.

NAME is a module of this package with a ``main(argv)`` function; adding a benchmark is
adding a module. Each prints its figures beside a ceiling measured in the same run,
since a shared machine's speed moves from run to run.
"""
