"""Token, language and modality embeddings shared by the encoder and the decoder.

Batches name languages by the Dictionary index of their ``<lang_xx>`` tag, so the data
layer needs no second vocabulary. The model keeps its own language table (one row per
tag, built from the Dictionary) instead of reusing the tags' token rows: the language
vector is added to every position, while the token rows of the tags are also output
classes of the tied heads, and the two roles should not have to share one vector.
"""

import math
from typing import Optional

import torch
from fairseq.data import Dictionary
from torch import nn

from ..symbols import lang_symbol, languages


def token_embedding(
    num_embeddings: int, embed_dim: int, padding_idx: Optional[int]
) -> nn.Embedding:
    """fairseq's transformer initialisation: N(0, d^-1/2), scaled by sqrt(d) at use."""
    m = nn.Embedding(num_embeddings, embed_dim, padding_idx=padding_idx)
    nn.init.normal_(m.weight, mean=0.0, std=embed_dim**-0.5)
    if padding_idx is not None:
        nn.init.constant_(m.weight[padding_idx], 0.0)
    return m


class LanguageEmbedding(nn.Module):
    """Maps ``<lang_xx>`` Dictionary indices to a learned vector per language.

    A negative index or the Dictionary's pad index means "no language" (a zero vector);
    any other index that is not a language tag is an error.
    """

    def __init__(self, dictionary: Dictionary, embed_dim: int):
        super().__init__()
        self.codes = languages(dictionary)
        self.pad = dictionary.pad()
        lookup = torch.full((len(dictionary),), -1, dtype=torch.long)
        lookup[self.pad] = 0
        for row, code in enumerate(self.codes, start=1):
            lookup[dictionary.index(lang_symbol(code))] = row
        self.register_buffer("lookup", lookup, persistent=False)
        self.embed = token_embedding(len(self.codes) + 1, embed_dim, padding_idx=0)

    def rows(self, tag_index: torch.Tensor) -> torch.Tensor:
        """Row of the language table for each tag index (0 = no language)."""
        idx = tag_index.clamp(min=-1)
        rows = torch.where(idx < 0, torch.zeros_like(idx), self.lookup[idx.clamp(min=0)])
        if bool((rows < 0).any()):
            bad = sorted(set(tag_index[rows < 0].tolist()))
            raise ValueError(f"not language-tag indices of the dictionary: {bad}")
        return rows

    def forward(self, tag_index: torch.Tensor) -> torch.Tensor:
        return self.embed(self.rows(tag_index))


class InputEmbeddings(nn.Module):
    """The tables added to encoder and decoder inputs: language and modality.

    One instance is shared by encoder and decoder, so "target language French" on the
    decoder side is the same vector as "this input is French" on the encoder side.
    Like token embeddings they are scaled by ``scale`` (sqrt(d) unless disabled).
    """

    def __init__(self, dictionary: Dictionary, embed_dim: int, scale: float):
        super().__init__()
        self.language = LanguageEmbedding(dictionary, embed_dim)
        self.modality = token_embedding(2, embed_dim, padding_idx=None)
        self.scale = scale

    def forward(
        self, lang: Optional[torch.Tensor], modality: Optional[torch.Tensor]
    ) -> Optional[torch.Tensor]:
        """Sum of the (scaled) language and modality vectors; None when both are None."""
        out = None
        if lang is not None:
            out = self.language(lang)
        if modality is not None:
            m = self.modality(modality.long())
            out = m if out is None else out + m
        return None if out is None else out * self.scale


def embed_scale(embed_dim: int, no_scale: bool) -> float:
    return 1.0 if no_scale else math.sqrt(embed_dim)
