import math

import torch
from fairseq.data import Dictionary

from mu2slam_fairseq.data.pipeline.synonym_noise import SynonymNoise
from mu2slam_fairseq.symbols import MASK, is_special, lang_symbol, unit_symbol


def _dictionary():
    d = Dictionary()
    for w in "de het een is dat wat schip vis water vliegtuig wrak oog glas stoel".split():
        d.add_symbol(w)
    for k in range(4):
        d.add_symbol(unit_symbol(k))
    d.add_symbol(lang_symbol("nl"))
    d.add_symbol(lang_symbol("en"))
    d.add_symbol(MASK)
    return d


def test_noise_rate_neighbours_and_specials():
    torch.manual_seed(0)
    d = _dictionary()
    special = torch.tensor([is_special(d, i) for i in range(len(d))])
    weight = torch.randn(len(d), 16)
    noise = SynonymNoise(special, prob=0.06, k=3)
    tokens = torch.randint(0, len(d), (400, 50))
    tokens[:, 0] = d.eos()
    before = tokens.clone()
    out = noise(tokens, weight, generator=torch.Generator().manual_seed(1))
    assert torch.equal(tokens, before)  # the input (and so the target) is never modified
    changed = out != tokens
    eligible = ~special[tokens]
    assert not changed[~eligible].any()  # specials stay
    assert not special[out[changed]].any()  # and are never chosen
    n = int(eligible.sum())
    rate = changed.sum().item() / n
    assert abs(rate - 0.06) < 4 * math.sqrt(0.06 * 0.94 / n)
    # brute force: the three most cosine-similar non-special symbols, never the token itself
    w = torch.nn.functional.normalize(weight, dim=-1)
    sims = w @ w.T
    sims[:, special] = -2
    sims.fill_diagonal_(-2)
    top3 = sims.topk(3, dim=1).indices
    for src, dst in zip(tokens[changed].tolist(), out[changed].tolist()):
        assert dst in top3[src].tolist()


def test_table_refreshes_only_every_n_updates():
    d = _dictionary()
    special = torch.tensor([is_special(d, i) for i in range(len(d))])
    noise = SynonymNoise(special, prob=0.5, k=2, refresh_updates=10)
    w1, w2 = torch.randn(len(d), 8), torch.randn(len(d), 8)
    tok = torch.full((2, 3), d.index("vis"))
    noise(tok, w1, num_updates=0)
    t1 = noise.table.clone()
    noise(tok, w2, num_updates=9)
    assert torch.equal(noise.table, t1)
    noise(tok, w2, num_updates=10)
    assert torch.equal(noise.table, noise.neighbours(w2))


def test_zero_probability_is_identity():
    d = _dictionary()
    special = torch.tensor([is_special(d, i) for i in range(len(d))])
    tok = torch.arange(len(d)).unsqueeze(0)
    assert torch.equal(SynonymNoise(special, prob=0.0)(tok, torch.randn(len(d), 4)), tok)
