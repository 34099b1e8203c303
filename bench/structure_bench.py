"""Issue 16's remaining cases before and after at n = 1024 on Sklansky: DeltaProduct written as
explicit matrices, and the Viterbi model.

    python bench/structure_bench.py            # n = 1024, a few minutes
    python bench/structure_bench.py -n 256     # quicker

Models:
  deltaproduct_matrices  S @ (I - b1 k1 k1^T) @ (I - b2 k2 k2^T) + v k2^T, d_k = 16, d_v = 4
                         (forms_bench's deltaproduct16 written as a product of matrices).
                         Before: classified dense, combined as 16 x 16 matrices (that form is
                         `as_dense` of today's classification, the same A). After: DPLR rank 2,
                         combined low-rank (the kind's own form) or densely, whichever the
                         objective picks.
  viterbi                examples/viterbi.py (8 states, 4 symbols). Before: nonlinear, only
                         the unroll. After: max-plus, (max, +) matrix products on Sklansky.

Sizes and depths are exact (`lower.measure.measure_form`; the unroll is built). "Gates per
combine" is the average over the network's combines of the gates outside the leaves: (size -
n x leaf gates) / combines, leaf gates being one step's scalarized A(x) and b(x). Writes
``bench/results/structure_bench.json``.
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
from rnncirc.ir.ops import ARITY  # noqa: E402
from rnncirc.lower import prefix  # noqa: E402
from rnncirc.lower.classify import as_dense  # noqa: E402
from rnncirc.lower.linear import _leaf_template, _leaf_tensors  # noqa: E402
from rnncirc.lower.measure import best_form, measure_form  # noqa: E402

K, DK, DV = 8, 16, 4
TOPOLOGY = "sklansky"


def deltaproduct_matrices() -> rc.RNN:
    rng = np.random.default_rng(1)  # forms_bench's weights
    w_one, w_two, _ = (rng.normal(size=(DK, K)) * 0.5 for _ in range(3))
    w_value = rng.normal(size=(DV, K)) * 0.5
    g_one, g_two = (rng.normal(size=K) * 0.5 for _ in range(2))
    eye = np.eye(DK)

    def unit(v):
        return v / rc.sqrt((v * v).sum() + 1e-6)

    @rc.rnn(state=(DV, DK), inputs=K)
    def deltaproduct_matrices(S, x):
        k1, k2 = unit(w_one @ x), unit(w_two @ x)
        b1, b2 = 2 * rc.sigmoid(g_one @ x), 2 * rc.sigmoid(g_two @ x)
        return S @ (eye - b1 * rc.outer(k1, k1)) @ (eye - b2 * rc.outer(k2, k2)) + \
            rc.outer(w_value @ x, k2)

    return deltaproduct_matrices


def leaf_gates(cls) -> int:
    rows = _leaf_template(cls.linear.affine, list(_leaf_tensors(cls).values()))[0]
    return int(np.count_nonzero(ARITY[rows["op"]] > 0))


def row(model, name: str, form_name: str, cls, n: int) -> dict:
    exact = measure_form(model, cls, n, TOPOLOGY)
    combines = prefix.build(n, TOPOLOGY).size
    return {"model": model.name, "case": name, "form": form_name, "kind": cls.kind,
            "rank": cls.rank, "n": n, "topology": TOPOLOGY, "depth": exact.depth,
            "size": exact.size,
            "gates_per_combine": round((exact.size - n * leaf_gates(cls)) / combines)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1024, help="sequence length (default 1024)")
    parser.add_argument("--json", default=None, help="where the rows go (default "
                                                     "bench/results/structure_bench.json)")
    args = parser.parse_args()
    n = args.n
    rows = []
    model = deltaproduct_matrices()
    cls = rc.classify(model)
    rows.append(row(model, "before", "dense (as classified before)", as_dense(cls), n))
    rows.append(row(model, "after", f"{cls.kind} rank {cls.rank} (own form)", cls, n))
    for objective in ("depth", "size"):
        picked = best_form(model, cls, n, TOPOLOGY, "all", objective)
        rows.append({**row(model, "after", f"objective={objective} picks {picked.kind}",
                           picked, n), "kind": cls.kind, "rank": cls.rank})
    from rnncirc.frontend.loader import load_models

    viterbi = next(iter(load_models(os.path.join(ROOT, "examples", "viterbi.py")).values()))
    unrolled = rc.compile(viterbi, n, topology="sequential")
    rows.append({"model": "viterbi", "case": "before", "form": "unroll (nonlinear)",
                 "kind": "nonlinear", "rank": None, "n": n, "topology": "sequential",
                 "depth": unrolled.depth, "size": unrolled.size,
                 "gates_per_combine": None})
    rows.append(row(viterbi, "after", "(max, +) matrices", rc.classify(viterbi), n))
    print(f"{'model':<22} {'case':<7} {'form':<38} {'topology':<11} {'depth':>6} "
          f"{'size':>12} {'per combine':>12}")
    for r in rows:
        per = "" if r["gates_per_combine"] is None else f"{r['gates_per_combine']:,}"
        print(f"{r['model']:<22} {r['case']:<7} {r['form']:<38} {r['topology']:<11} "
              f"{r['depth']:>6} {r['size']:>12,} {per:>12}")
    print(f"wrote {write_json('structure_bench', rows, args.json)}")


if __name__ == "__main__":
    main()
