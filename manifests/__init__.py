"""Manifest preparation: one module per corpus, plus the embedded default corpus builder.

Installed as the ``mu2slam_manifests`` package; each module is also a console command.
"""
