"""The shared speech-text encoder.

Every item's input is one packed sequence: its speech steps (the Conv2d front end's
40 ms grid) followed by its text tokens, left-aligned, padding at the end. Speech-only,
text-only and concatenated inputs (speech+text, or text+text as one longer text) all go
through one Conformer stack in one pass, which is what the alignment loss needs. To each
position we add a sinusoidal position over the packed sequence, a language embedding
(the speech segment gets ``speech_lang``, the text segment ``text_lang``) and a modality
embedding.
"""

from typing import Dict, List, Optional, Tuple

import torch
from fairseq.data import Dictionary
from fairseq.models import FairseqEncoder
from fairseq.modules import FairseqDropout, SinusoidalPositionalEmbedding
from fairseq.modules.checkpoint_activations import checkpoint_wrapper
from torch import nn

from ..grid import grid_length
from ..symbols import SPEECH, TEXT
from .config import Mu2SlamConfig
from .conformer import Mu2SlamConformerLayer
from .embeddings import InputEmbeddings, embed_scale
from .frontend import SpeechFrontEnd

EncoderOut = Dict[str, List[torch.Tensor]]
TIME_MAJOR = ("encoder_out", "encoder_states")  # (T, B, C); every other entry is batch-first


class Mu2SlamEncoder(FairseqEncoder):
    def __init__(
        self,
        cfg: Mu2SlamConfig,
        dictionary: Dictionary,
        embed_tokens: nn.Embedding,
        input_embeddings: InputEmbeddings,
    ):
        super().__init__(dictionary)
        d = cfg.embed_dim
        self.padding_idx = dictionary.pad()
        self.max_source_positions = cfg.max_source_positions
        self.embed_scale = embed_scale(d, cfg.no_scale_embedding)
        self.embed_tokens = embed_tokens
        self.input_embeddings = input_embeddings
        self.frontend = SpeechFrontEnd(cfg.input_feat_per_channel, cfg.conv_channels, d)
        # replaces S at masked 40 ms steps (initialised as wav2vec 2.0's mask embedding)
        self.speech_mask_emb = nn.Parameter(torch.empty(d).uniform_())
        self.embed_positions = SinusoidalPositionalEmbedding(
            d, self.padding_idx, init_size=cfg.max_source_positions + self.padding_idx + 1
        )
        self.dropout_module = FairseqDropout(
            cfg.encoder_input_dropout, module_name=self.__class__.__name__
        )
        layers = []
        for _ in range(cfg.encoder_layers):
            layer = Mu2SlamConformerLayer(
                d,
                cfg.encoder_ffn_embed_dim,
                cfg.encoder_attention_heads,
                cfg.encoder_conv_kernel_size,
                dropout=cfg.encoder_dropout,
                norm_groups=cfg.encoder_conv_norm_groups,
            )
            layers.append(checkpoint_wrapper(layer) if cfg.checkpoint_activations else layer)
        self.layers = nn.ModuleList(layers)

    def max_positions(self) -> int:
        return self.max_source_positions

    def embed(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        src_speech: Optional[torch.Tensor] = None,
        src_speech_lengths: Optional[torch.Tensor] = None,
        speech_lang: Optional[torch.Tensor] = None,
        text_lang: Optional[torch.Tensor] = None,
        speech_mask: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """The packed encoder input before the Conformer stack.

        src_tokens (B, L) text ids padded with pad (L may be 0), src_lengths (B,);
        src_speech (B, T, 80) zero-padded log-Mel, src_speech_lengths (B,) frames;
        speech_lang / text_lang (B,) ``<lang_xx>`` indices (text_lang may also be (B, L),
        one tag per token); speech_mask (B, T_grid) True = replace that step's Conv2d
        output with the mask embedding.

        Returns "x" (B, T, C), "padding_mask" (B, T), "speech_steps" (B,) and
        "is_speech" (B, T) (True on speech steps).
        """
        bsz = src_tokens.size(0)
        device = src_tokens.device
        text_len = (
            src_lengths.to(device).long() if src_tokens.size(1) > 0 else src_tokens.new_zeros(bsz)
        )
        if bool((text_len > src_tokens.size(1)).any()):
            raise ValueError("src_lengths exceed the width of src_tokens")

        speech = None
        if src_speech is not None and src_speech.size(1) > 0:
            if src_speech_lengths is None:
                raise ValueError("src_speech needs src_speech_lengths")
            if bool((src_speech_lengths > src_speech.size(1)).any()):
                raise ValueError("src_speech_lengths exceed the length of src_speech")
            speech, steps = self.speech_rows(src_speech, src_speech_lengths.to(device).long())
            if speech_mask is not None:
                m = _fit(speech_mask.to(device).bool(), speech.size(1), False)
                speech = torch.where(m[:, :, None], self.speech_mask_emb.to(speech.dtype), speech)
        else:
            steps = src_tokens.new_zeros(bsz)

        total = steps + text_len
        if bool((total <= 0).any()):
            raise ValueError("every item needs at least one speech step or one text token")
        seq_len = int(total.max())
        pos = torch.arange(seq_len, device=device)[None, :]
        is_speech = pos < steps[:, None]
        is_text = ~is_speech & (pos < total[:, None])
        padding_mask = ~(is_speech | is_text)

        # token embeddings are scaled by sqrt(d) (fairseq's convention for its N(0, 1/d) init);
        # S comes from a linear layer and is used as is
        parts = []
        if speech is not None:
            parts.append((is_speech, _fit(speech, seq_len, 0.0)))
        text_idx = None
        if src_tokens.size(1) > 0:
            text_idx = (pos - steps[:, None]).clamp(0, src_tokens.size(1) - 1)  # (B, T)
            tokens = self.embed_scale * self.embed_tokens(src_tokens)
            parts.append(
                (is_text, tokens.gather(1, text_idx[:, :, None].expand(-1, -1, tokens.size(-1))))
            )
        x = None
        for where, value in parts:
            x = value if x is None else torch.where(where[:, :, None], value, x)
        assert x is not None

        # additive embeddings: positions over the packed sequence, language, modality
        pos_input = torch.where(padding_mask, self.padding_idx, self.padding_idx + 1)
        x = x + self.embed_positions(pos_input)
        lang = self._position_languages(bsz, is_speech, text_idx, speech_lang, text_lang, device)
        modality = torch.where(is_speech, SPEECH, TEXT)
        x = x + self.input_embeddings(lang, modality)
        x = x.masked_fill(padding_mask[:, :, None], 0.0)
        return {"x": x, "padding_mask": padding_mask, "speech_steps": steps, "is_speech": is_speech}

    def speech_rows(
        self, src_speech: torch.Tensor, lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The front end's S (B, T_grid, C) and steps (B,), computed on the rows that hold
        speech only (a batch may also hold text-only rows, e.g. views packed together)."""
        has = lengths > 0
        if bool(has.all()):
            return self.frontend(src_speech, lengths)
        if not bool(has.any()):
            return src_speech.new_zeros(
                len(lengths), 0, self.frontend.out.out_features
            ), torch.zeros_like(lengths)
        rows = has.nonzero().squeeze(1)
        frames = int(lengths.max())
        sub, _ = self.frontend(src_speech[rows, :frames], lengths[rows])
        speech = sub.new_zeros(len(lengths), sub.size(1), sub.size(2)).index_copy(0, rows, sub)
        return speech, grid_length(lengths)

    def _position_languages(
        self,
        bsz: int,
        is_speech: torch.Tensor,
        text_idx: Optional[torch.Tensor],
        speech_lang: Optional[torch.Tensor],
        text_lang: Optional[torch.Tensor],
        device: torch.device,
    ) -> torch.Tensor:
        """(B, T) language-tag index per position (-1 = none)."""
        none = torch.full((bsz, 1), -1, dtype=torch.long, device=device)
        s = none if speech_lang is None else speech_lang.to(device).long().view(bsz, 1)
        if text_lang is None:
            t = none
        elif text_lang.dim() == 2:  # one tag per text token
            if text_idx is None:
                t = none
            else:
                t = text_lang.to(device).long().gather(1, text_idx.clamp(max=text_lang.size(1) - 1))
        else:
            t = text_lang.to(device).long().view(bsz, 1)
        return torch.where(is_speech, s, t)

    def forward(
        self,
        src_tokens: torch.Tensor,
        src_lengths: torch.Tensor,
        *,
        tgt_lang: Optional[torch.Tensor] = None,
        tgt_modality: Optional[torch.Tensor] = None,
        return_all_hiddens: bool = False,
        **inputs: Optional[torch.Tensor],
    ) -> EncoderOut:
        """Encode a batch of speech, text or concatenated inputs.

        ``src_tokens``, ``src_lengths`` and the optional ``inputs`` (src_speech,
        src_speech_lengths, speech_lang, text_lang, speech_mask) are ``embed``'s;
        tgt_lang (B,) ``<lang_xx>`` indices and tgt_modality (B,) (0 speech units, 1 text)
        are only carried along for the decoder.
        """
        emb = self.embed(src_tokens, src_lengths, **inputs)
        padding_mask = emb["padding_mask"]
        x = self.dropout_module(emb["x"]).transpose(0, 1)  # T x B x C
        states: List[torch.Tensor] = [x] if return_all_hiddens else []
        for layer in self.layers:
            x = layer(x, padding_mask)
            if return_all_hiddens:
                states.append(x)
        return encoder_output(x, padding_mask, emb["speech_steps"], tgt_lang, tgt_modality, states)

    def reorder_encoder_out(self, encoder_out: EncoderOut, new_order: torch.Tensor) -> EncoderOut:
        """Select/reorder batch items (beam search): time-major tensors on dim 1, the rest on dim 0."""
        return {
            key: [t.index_select(1 if key in TIME_MAJOR else 0, new_order) for t in value]
            for key, value in encoder_out.items()
        }

    def select_rows(
        self, encoder_out: EncoderOut, rows: torch.Tensor, steps: Optional[int] = None
    ) -> EncoderOut:
        """The output of some rows of a batch (one view's, or a decoder pass's, when several
        views share an encoder pass), its time axis cut to ``steps``. ``rows`` may lie on the
        host: spotting "every row, in order" then waits for no device."""
        x = encoder_out["encoder_out"][0]
        everything = len(rows) == x.size(1) and bool((rows.cpu() == torch.arange(len(rows))).all())
        out = (
            encoder_out if everything else self.reorder_encoder_out(encoder_out, rows.to(x.device))
        )
        width = x.size(0)
        if steps is None or steps >= width:
            return out
        cut = {key: [t[:steps] for t in out[key]] for key in TIME_MAJOR}
        return {
            **out,
            **cut,
            "encoder_padding_mask": [m[:, :steps] for m in out["encoder_padding_mask"]],
        }


def encoder_output(
    x: torch.Tensor,
    padding_mask: torch.Tensor,
    speech_steps: torch.Tensor,
    tgt_lang: Optional[torch.Tensor],
    tgt_modality: Optional[torch.Tensor],
    states: Optional[List[torch.Tensor]] = None,
) -> EncoderOut:
    """fairseq's encoder-output dict of a (T, B, C) output, with the speech steps and the
    decoder's target language and modality carried along (reordered with it in beam search)."""
    return {
        "encoder_out": [x],
        "encoder_padding_mask": [padding_mask],
        "encoder_embedding": [],
        "encoder_states": states or [],
        "src_tokens": [],
        "src_lengths": [],
        "speech_steps": [speech_steps],
        "tgt_lang": [] if tgt_lang is None else [tgt_lang.to(x.device).long()],
        "tgt_modality": [] if tgt_modality is None else [tgt_modality.to(x.device).long()],
    }


def _fit(x: torch.Tensor, length: int, fill: float) -> torch.Tensor:
    """Truncate or pad dim 1 of x to ``length``."""
    if x.size(1) >= length:
        return x[:, :length]
    pad_shape = list(x.shape)
    pad_shape[1] = length - x.size(1)
    return torch.cat([x, x.new_full(pad_shape, fill)], dim=1)
