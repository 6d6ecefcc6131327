"""Decoding beyond fairseq's beam search: joint CTC/attention and CTC best path (ASR)."""
