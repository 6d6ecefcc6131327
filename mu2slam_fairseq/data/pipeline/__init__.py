"""The training pipeline: manifest rows -> examples -> views of the objectives -> batches
(datasets, views, masking, augmentation, batching, sampling, the data config). It reads
stored data through ``data/io`` only."""
