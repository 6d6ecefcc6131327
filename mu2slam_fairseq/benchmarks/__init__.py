"""Benchmarks, run as ``python -m mu2slam_fairseq.benchmarks NAME [options]``.

NAME is a module of this package with a ``main(argv)`` function; adding a benchmark is
adding a module (shared set-up lives in ``_common.py`` and the modules it gathers). Each
prints its figures beside what it is compared with, measured in the same run (fairseq's
s2t_conformer of the same sizes, the machine's matmul ceiling, the training step), since
a shared machine's speed moves from run to run:

- ``throughput``: positions and tokens per second of pre-training and fine-tuning updates;
- ``mfu``: model FLOP utilisation of training steps, fp32 and bf16;
- ``dataloader``: the cost of building a batch against the step that consumes it;
- ``data_scale``: start-up time and private memory of TSV against binarized manifests, per row;
- ``tokenizer``: speech-tokenizer frames per second against its codebook search's matmul bound;
- ``decoding``: fairseq-generate sentences per second and real-time factor, beam 5;
- ``memory``: peak memory of pre-training mu2slam_tiny and of one mu2slam_base step;
- ``scaling``: step time against utterance length and batch size, and the paper's batch;
- ``mixed_precision``: bf16 autocast against fp32, speed and loss curves.

Every one takes ``--help`` and ``--quick`` (tiny sizes: checks that it runs).
"""
