"""Training throughput: encoder positions and decoder tokens per second of a Mu2SLAM
pre-training update and a fine-tuning update, against fairseq's s2t_conformer
speech-translation update with the same widths and depths on the same audio.

The fine-tuning update (AST, speech -> text) and s2t_conformer's update see exactly the
same utterances, so their step times compare directly. A pre-training update holds
11 encoder and 14 decoder passes over speech, text and both; to compare it per pass,
s2t_conformer's encoder is also timed alone, which splits its step into a rate per
encoder position and a rate per decoder token. A mu2slam update's "s2t-equivalent time"
is its own positions and tokens at those rates; its speed ratio is that time over its
measured time (>= 1: not slower than s2t_conformer per forward/backward pass), taken
round by round and reported as the median. Each update is one forward and backward
pass (fp32, no optimizer step).
"""

from typing import Dict, List, Optional

from . import _common as C


def s2t_encoder_step(t: C.Trainee, sample: Dict) -> None:
    """Forward and backward of s2t_conformer's encoder alone (a sum as the loss)."""
    t.model.zero_grad(set_to_none=True)
    t.model.train()
    net = sample["net_input"]
    out = t.model.encoder(net["src_tokens"], net["src_lengths"])
    out["encoder_out"][0].float().sum().backward()


def main(argv: Optional[List[str]] = None) -> None:
    p = C.parser("throughput", __doc__)
    p.add_argument(
        "--arch", default="mu2slam_tiny", help="mu2slam architecture (s2t_conformer gets its sizes)"
    )
    p.add_argument(
        "--utterances", type=int, default=8, help="AST utterances in the fine-tuning / s2t batch"
    )
    a = p.parse_args(argv)
    C.start(a, "training throughput", repeats=7)
    n = 2 if a.quick else a.utterances
    with C.workspace(a) as ws:
        models, batches = C.side_by_side(ws, a.arch, n)
        ft, pt, s2t = models["ft"], models["pt"], models["s2t"]
        work = {
            "ft": C.mu2slam_workload(batches["ft"]),
            "pt": C.mu2slam_workload(batches["pt"]),
            "s2t": C.s2t_workload(batches["s2t"]),
        }
        times = C.paired_times(
            {
                "s2t": lambda: C.train_step(s2t, batches["s2t"]),
                "s2t_enc": lambda: s2t_encoder_step(s2t, batches["s2t"]),
                "ft": lambda: C.train_step(ft, batches["ft"]),
                "pt": lambda: C.train_step(pt, batches["pt"]),
            },
            a.repeats,
        )
    t = {k: C.median(v) for k, v in times.items()}
    s2t_w = work["s2t"]

    def equivalent(w: C.Workload, r: int) -> float:
        """Round r's s2t_conformer time for w's positions and tokens: its step time split
        into the encoder's share (timed alone, capped at the whole) and the rest."""
        full = times["s2t"][r]
        share = min(times["s2t_enc"][r] / full, 1.0)
        return full * (
            share * w.enc_positions / s2t_w.enc_positions
            + (1 - share) * w.dec_tokens / s2t_w.dec_tokens
        )

    rounds = range(len(times["s2t"]))
    ratio = {
        k: C.median([equivalent(work[k], r) / times[k][r] for r in rounds])
        for k in ("s2t", "ft", "pt")
    }
    rest = C.median([max(f - e, 0.0) for f, e in zip(times["s2t"], times["s2t_enc"])])
    print(
        f"model: {a.arch} ({sum(p.numel() for p in ft.model.parameters()) / 1e6:.1f} M parameters) and "
        f"s2t_conformer of the same sizes ({sum(p.numel() for p in s2t.model.parameters()) / 1e6:.1f} M); "
        f"{n} AST utterances, {s2t_w.audio_seconds:.1f} s of audio"
    )
    names = {
        "s2t": "s2t_conformer, AST",
        "ft": "mu2slam fine-tuning, AST",
        "pt": "mu2slam pre-training",
    }
    rows = []
    for k in ("s2t", "ft", "pt"):
        w = work[k]
        rows.append(
            [
                names[k],
                f"{w.enc_passes}/{w.dec_passes}",
                f"{w.enc_positions} ({w.enc_padded})",
                f"{w.dec_tokens} ({w.dec_padded})",
                f"{t[k]:.3f}",
                f"{w.enc_positions / t[k]:.0f}",
                f"{w.dec_tokens / t[k]:.0f}",
                f"{ratio[k]:.2f}x",
            ]
        )
    print(
        C.table(
            [
                "update (forward+backward)",
                "views enc/dec",
                "enc positions (padded)",
                "dec tokens (padded)",
                "step s",
                "enc pos/s",
                "dec tok/s",
                "speed vs s2t, same work",
            ],
            rows,
        )
    )
    print(
        f"s2t_conformer split: encoder alone {t['s2t_enc']:.3f} s ({s2t_w.enc_positions / t['s2t_enc']:.0f} "
        f"encoder positions/s); the rest {rest:.3f} s"
        + (f" ({s2t_w.dec_tokens / rest:.0f} decoder tokens/s)" if rest else "")
    )
    print(
        f"comparison: fine-tuning update vs s2t_conformer update, same utterances: "
        f"{C.verdict(C.paired_ratio(times, 's2t', 'ft'), 1.0)}"
    )
    print(
        f"comparison: pre-training update vs s2t_conformer, per forward/backward pass: {C.verdict(ratio['pt'], 1.0)}"
    )


if __name__ == "__main__":
    main()
