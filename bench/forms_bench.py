"""Which form a structured A is combined in: its own algebra against dense matrices, and what
each objective picks (issue 16's cases at n = 1024).

    python bench/forms_bench.py            # n = 1024, ~2 minutes
    python bench/forms_bench.py -n 256     # quicker

A permutation-diagonal or DPLR A can be combined in its kind's algebra (per-symbol functions,
low-rank factors whose rank adds along a segment) or as an explicit m x m matrix. The first
takes fewer gates, the second can take fewer levels; `rc.compile` picks by its objective
(`lower.measure.best_form`). Every figure is exact (`lower.measure.measure_form`). Writes
``bench/results/forms_bench.json``.

Models:
  dfa8            a DFA with 8 states and 3 symbols, one of them a reset (one-hot columns,
                  not bijective): permutation-diagonal
  deltaproduct16  DeltaProduct, two Householder-like factors per step, d_k = 16, d_v = 4:
                  DPLR rank 2
  gated_delta16   the gated delta rule in the reference implementations' order (decay the
                  state, then the delta update), d_k = 16, d_v = 4: DPLR rank 1
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import write_json  # noqa: E402

import rnncirc as rc  # noqa: E402
from rnncirc.lower.classify import as_dense  # noqa: E402
from rnncirc.lower.measure import best_form, measure_form  # noqa: E402

K, DK, DV, Q, SIGMA = 8, 16, 4, 8, 3


def models() -> list:
    rng = np.random.default_rng(1)
    w_one, w_two, w_key = (rng.normal(size=(DK, K)) * 0.5 for _ in range(3))
    w_value = rng.normal(size=(DV, K)) * 0.5
    g_one, g_two = (rng.normal(size=K) * 0.5 for _ in range(2))
    delta = np.random.default_rng(8).integers(0, Q, size=(Q, SIGMA))  # every state reachable
    delta[:, 0] = 0  # symbol 0 resets
    table = np.zeros((SIGMA, Q, Q))
    for q in range(Q):
        for a in range(SIGMA):
            table[a, delta[q, a], q] = 1.0

    def unit(v):
        return v / rc.sqrt((v * v).sum() + 1e-6)

    @rc.rnn(alphabet=SIGMA, state=Q, init=np.eye(Q)[0])
    def dfa8(h, x):
        return rc.lookup(table, x) @ h

    @rc.rnn(state=(DV, DK), inputs=K)
    def deltaproduct16(S, x):
        k1, k2 = unit(w_one @ x), unit(w_two @ x)
        b1, b2 = 2 * rc.sigmoid(g_one @ x), 2 * rc.sigmoid(g_two @ x)
        S = S - b1 * rc.outer(S @ k1, k1)
        S = S - b2 * rc.outer(S @ k2, k2)
        return S + rc.outer(w_value @ x, k2)

    @rc.rnn(state=(DV, DK), inputs=K)
    def gated_delta16(S, x):
        k, beta = unit(w_key @ x), rc.sigmoid(g_one @ x)
        alpha = rc.exp(-rc.softplus(g_two @ x))
        S = alpha * S
        return S - beta * rc.outer(S @ k, k) + beta * rc.outer(w_value @ x, k)

    return [dfa8, deltaproduct16, gated_delta16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1024, help="sequence length (default 1024)")
    parser.add_argument("--json", default=None, help="where the rows go (default "
                                                     "bench/results/forms_bench.json)")
    args = parser.parse_args()
    rows = []
    for model in models():
        cls = rc.classify(model)
        for topology in ("sklansky", "brent-kung", "kogge-stone"):
            own = measure_form(model, cls, args.n, topology)
            dense = measure_form(model, as_dense(cls), args.n, topology)
            picks = {objective: best_form(model, cls, args.n, topology, "all", objective).kind
                     for objective in ("depth", "size", "balanced")}
            rows.append({"model": model.name, "kind": cls.kind, "rank": cls.rank,
                         "topology": topology, "n": args.n,
                         "own_depth": own.depth, "own_size": own.size,
                         "dense_depth": dense.depth, "dense_size": dense.size, **picks})
    print(f"{'model':<15} {'kind':<21} {'topology':<12} {'own depth/size':>20} "
          f"{'dense depth/size':>20}  picks (depth, size, balanced)")
    for r in rows:
        print(f"{r['model']:<15} {r['kind']:<21} {r['topology']:<12} "
              f"{r['own_depth']:>5} / {r['own_size']:>12,} {r['dense_depth']:>5} / "
              f"{r['dense_size']:>12,}  {r['depth']}, {r['size']}, {r['balanced']}")
    print(f"wrote {write_json('forms_bench', rows, args.json)}")


if __name__ == "__main__":
    main()
