"""The objectives of Mu2SLAM (paper §2.3, Eqs. 2-6, CTC) and their coefficients (§3.2).

Every loss term the package trains is declared here once (the fields are explained in
``registry.py``). Declaration order is the order of each type's views, of their masks and
of the logged terms; a new objective goes after those of its data type.

Choices where the paper is silent: the mask of a concatenation [x, y] is one mask per
part, each drawn with its own modality's sampler, so "one mask over both" keeps each
modality's masking statistics; in ``mt_align`` the two texts are joined in one text
stream, each token with its own text's language embedding (as speech and text of a pair
each carry their own), with no separator token between them.
"""

from typing import Tuple

from .registry import Coefficient, Decode, Objective, add_coefficient, register

# §3.2: "The loss coefficients related to speech-only and text-only data are set to 1.
# The loss coefficients for the text to speech and alignment tasks are 0.1, while speech to
# text tasks need a slightly higher loss coefficient 0.3 for the decoder loss."
# The paper gives none for the speech-to-text MLM, MT's ℓ_p and CTC: 1.
PAPER_COEFFICIENTS = tuple(
    add_coefficient(c)
    for c in (
        Coefficient("weight_speech", 1.0, "ℓ_u on unlabeled speech (paper: 1)"),
        Coefficient("weight_text", 1.0, "ℓ_u on unlabeled text (paper: 1)"),
        Coefficient(
            "weight_s2t_decoder", 0.3, "decoder loss of speech→text (ASR/AST forward) (paper: 0.3)"
        ),
        Coefficient("weight_s2t_mlm", 1.0, "encoder MLM of speech→text views"),
        Coefficient("weight_t2s", 0.1, "text→speech-units views, ASR/AST backward (paper: 0.1)"),
        Coefficient("weight_alignment", 0.1, "ℓ_a on concatenated pairs (paper: 0.1)"),
        Coefficient("weight_mt", 1.0, "MT forward and backward ℓ_p"),
        Coefficient("weight_ctc", 1.0, "CTC on ASR speech (paper: not given)"),
    )
)

# Eq. 3, L_u: ℓ_u (Eq. 2) over speech-only and text-only data
SPEECH_U = register(
    Objective(
        "speech_u",
        "speech",
        "Eq. 2-3: ℓ_u on speech, S^m -> z^¬m",
        encoder=("S",),
        decoders=(Decode("S", complementary=True),),
        weight="weight_speech",
    )
)
TEXT_U = register(
    Objective(
        "text_u",
        "text",
        "Eq. 2-3: ℓ_u on text, t^m -> t^¬m",
        encoder=("t",),
        decoders=(Decode("t", complementary=True),),
        weight="weight_text",
    )
)


def speech_text_pair(kind: str, metric: str) -> Tuple[Objective, ...]:
    """Eq. 6, L_p over speech-text pairs (t: the transcript of ASR, the translation of AST):
    ℓ_p (Eq. 4) both ways and ℓ_a (Eq. 5); CTC on the transcript (§2.3) for ASR only."""
    ctc = "t" if kind == "asr" else None
    return tuple(
        register(o)
        for o in (
            Objective(
                f"{kind}_s2t",
                kind,
                "Eq. 4, 6: ℓ_p forward, S^m -> t" + (" (+ CTC on t, §2.3)" if ctc else ""),
                encoder=("S",),
                decoders=(Decode("t"),),
                weight="weight_s2t_decoder",
                mlm_weight="weight_s2t_mlm",
                ctc=ctc,
                finetune_metric=metric,
            ),
            Objective(
                f"{kind}_t2s",
                kind,
                "Eq. 4, 6: ℓ_p backward, t^m -> z",
                encoder=("t",),
                decoders=(Decode("S"),),
                weight="weight_t2s",
            ),
            Objective(
                f"{kind}_align",
                kind,
                "Eq. 5, 6: ℓ_a, [S, t]^m -> z^¬m, t^¬m",
                encoder=("S", "t"),
                decoders=(Decode("S", True, "units"), Decode("t", True, "text")),
                weight="weight_alignment",
            ),
        )
    )


ASR_S2T, ASR_T2S, ASR_ALIGN = speech_text_pair("asr", "wer")
AST_S2T, AST_T2S, AST_ALIGN = speech_text_pair("ast", "bleu")

# Eq. 6, L_p over text pairs (v, t), every text masked at mt_ratio
MT_FWD = register(
    Objective(
        "mt_fwd",
        "mt",
        "Eq. 4, 6: ℓ_p forward, v^m -> t",
        encoder=("v",),
        decoders=(Decode("t"),),
        weight="weight_mt",
        mask_ratio="mt_ratio",
        finetune_metric="bleu",
    )
)
MT_BWD = register(
    Objective(
        "mt_bwd",
        "mt",
        "Eq. 4, 6: ℓ_p backward, t^m -> v",
        encoder=("t",),
        decoders=(Decode("v"),),
        weight="weight_mt",
        mask_ratio="mt_ratio",
    )
)
MT_ALIGN = register(
    Objective(
        "mt_align",
        "mt",
        "Eq. 5, 6: ℓ_a, [v, t]^m -> v^¬m, t^¬m",
        encoder=("v", "t"),
        decoders=(Decode("v", True, "src"), Decode("t", True, "tgt")),
        weight="weight_alignment",
        mask_ratio="mt_ratio",
    )
)

# §3.5: text understanding as text -> text, fine-tuning only (§2.4: ℓ_p without masks)
T2T_FWD = register(
    Objective(
        "t2t_fwd",
        "t2t",
        "§2.4, §3.5: ℓ_p (Eq. 4) unmasked, input v -> output t",
        encoder=("v",),
        decoders=(Decode("t"),),
        weight=None,
        mask_ratio=None,
        finetune_metric="accuracy",
    )
)
