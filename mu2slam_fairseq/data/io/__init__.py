"""Reading and writing what a corpus is stored as: audio, log-Mel features and their zips,
TSV manifests, the vocabulary, CMVN statistics, language codes; and checking them
(``mu2slam-validate``). Nothing here knows about training."""
