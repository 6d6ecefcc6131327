"""ASR output of the CTC head alone: the best path, repeats merged and blanks dropped.

A generator with fairseq's interface (``generate(models, sample)`` returning, per
sentence, a list holding one hypothesis dict), so ``fairseq-generate`` prints and scores
it like beam search output; no decoder step runs.
"""

from typing import Dict, List

import torch

from .joint_ctc import ctc_log_probs


class CtcGreedyGenerator:
    def __init__(self, tgt_dict):
        self.eos = tgt_dict.eos()
        self.symbols_to_strip_from_output = {self.eos}

    def cuda(self):
        return self

    @torch.no_grad()
    def generate(self, models, sample: Dict, **kwargs) -> List[List[Dict]]:
        model = models[0]
        net_input = {k: v for k, v in sample["net_input"].items() if k != "prev_output_tokens"}
        lprobs, lengths = ctc_log_probs(model, model.encoder(**net_input))
        best, path = lprobs.max(-1)  # (T, B)
        out = []
        for b in range(path.size(1)):
            steps = path[: int(lengths[b]), b]
            scores = best[: int(lengths[b]), b]
            first = torch.ones_like(steps, dtype=torch.bool)
            first[1:] = steps[1:] != steps[:-1]
            keep = first & (steps != model.ctc_blank)
            tokens = torch.cat([steps[keep], steps.new_full((1,), self.eos)])
            positional = torch.cat([scores[keep], scores.new_zeros(1)])
            out.append(
                [
                    {
                        "tokens": tokens,
                        "score": float(scores.sum()) / max(len(tokens), 1),
                        "positional_scores": positional,
                        "attention": None,
                        "alignment": None,
                    }
                ]
            )
        return out
