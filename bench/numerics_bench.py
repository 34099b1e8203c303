"""Float32 accuracy of every topology against the float64 sequential run, as n grows.

    python bench/numerics_bench.py             # n = 2^6 ... 2^16 (dense to 2^12), ~12 minutes
    python bench/numerics_bench.py --quick     # n = 2^6 ... 2^10

A prefix network reassociates the recurrence: it multiplies long products of the A's (decays,
in Mamba-like models) and adds partial sums in a tree instead of left to right. For each model
kind, length and topology this compiles the circuit, evaluates it with the fast evaluator in
float32 and float64 on the same inputs, and compares both with ``RNN.run`` (float64,
sequential: the reference). Errors are relative as ``rnncirc run --check`` reports them:
max |circuit - run| / max(1, max |run|). Writes ``bench/results/numerics_bench.json``.

Models (d = 8, batch 4, inputs N(0, 1)):
  cumsum     h = h + B x (A = I: no decay, as in linear attention; sums of n terms)
  scalar     h = a(x) h + B x, one decay a = exp(-softplus(w.x - 3)) ~ 0.95 per step
  diagonal   decays exp(-softplus(W x + c)), c from -6 to 4: from ~0.998 (slow) to ~0.02 per
             step (fast: their products underflow float32 within ~25 steps)
  dense      A = 0.9 / d * tanh(M x), a dense time-varying matrix (n up to 2^12)
  decay      h = a(x) * h from h_0 = 1, decays as in diagonal and no input term: h_t is the
             product of t decays itself, which leaves float32's normal range (1.2e-38) within
             ~25 steps for the fast ones and ~40,000 for the slowest
  nonlinear  h = tanh(W h + U x) with |W| < 1 (sequential only: no prefix network exists)

Columns: ``f32_rel`` as above; ``f32_elem_rel`` the largest error relative to each state
itself, over states whose float64 value is a normal float32 (the error of tiny states that
the state-scale figure hides); ``tiny`` the share of float64 states below float32's smallest
normal number; ``flushed`` the share of states that are 0 in float32 but not in float64.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import table, write_json  # noqa: E402

import rnncirc as rc  # noqa: E402
from rnncirc.compiler import TOPOLOGIES as ALL_TOPOLOGIES  # noqa: E402
from rnncirc.errors import RnncircError  # noqa: E402

#: every concrete topology; one a kind cannot use (a parallel network on a nonlinear step,
#: segment-sum on a dense A) is refused by rc.compile and left out of the table
TOPOLOGIES = [t for t in ALL_TOPOLOGIES if t != "auto"]

D, K, BATCH = 8, 4, 4
_rng = np.random.default_rng(0)
W_DECAY = _rng.normal(size=(D, K)) * 0.5
W_GATE = _rng.normal(size=K) * 0.5
W_IN = _rng.normal(size=(D, K)) * 0.5
M_DENSE = _rng.normal(size=(D, D, K)) * 0.5
W_REC = _rng.normal(size=(D, D)) * 0.9 / D
BIAS = np.linspace(-6.0, 4.0, D)


@rc.rnn(state=D, inputs=K)
def cumsum(h, x):
    return h + W_IN @ x


@rc.rnn(state=D, inputs=K)
def scalar(h, x):
    return rc.exp(-rc.softplus(W_GATE @ x - 3.0)) * h + W_IN @ x


@rc.rnn(state=D, inputs=K)
def diagonal(h, x):
    return rc.exp(-rc.softplus(W_DECAY @ x + BIAS)) * h + W_IN @ x


@rc.rnn(state=D, inputs=K)
def dense(h, x):
    return (0.9 / D) * rc.tanh(M_DENSE @ x) @ h + W_IN @ x


@rc.rnn(state=D, inputs=K, init=np.ones(D))
def decay(h, x):
    return rc.exp(-rc.softplus(W_DECAY @ x + BIAS)) * h


@rc.rnn(state=D, inputs=K)
def nonlinear(h, x):
    return rc.tanh(W_REC @ h + W_IN @ x)


#: kind -> (model, longest length)
MODELS = {"cumsum": (cumsum, 2**16), "scalar": (scalar, 2**16), "diagonal": (diagonal, 2**16),
          "decay": (decay, 2**16), "dense": (dense, 2**12), "nonlinear": (nonlinear, 2**16)}


def relative(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max(1, max |want|), NaN when got has NaN or inf where want has not."""
    if not np.isfinite(got).all():
        return float("nan")
    return float(np.abs(got - want).max() / max(1.0, np.abs(want).max()))


def measure(kind: str, n: int, topologies: list[str]) -> list[dict]:
    model, _ = MODELS[kind]
    xs = np.random.default_rng(n).normal(size=(BATCH, n, K))
    want = model.run(xs)
    rows = []
    for topology in topologies:
        start = time.perf_counter()
        try:
            circuit = rc.compile(model, n, topology=topology)
        except RnncircError:
            continue
        compiled = time.perf_counter() - start
        f32 = circuit.evaluate(xs, dtype="float32").astype(np.float64)
        f64 = circuit.evaluate(xs)
        normal = np.abs(want) >= np.finfo(np.float32).tiny
        elementwise = np.abs(f32 - want)[normal] / np.abs(want)[normal]
        rows.append({"kind": kind, "n": n, "topology": topology, "depth": circuit.depth,
                     "gates": circuit.size, "f32_rel": relative(f32, want),
                     "f64_rel": relative(f64, want),
                     "f32_elem_rel": float(elementwise.max(initial=0.0)),
                     "tiny": float(np.mean(~normal)),
                     "flushed": float(np.mean((f32 == 0) & (want != 0))),
                     "f32_nonfinite": int((~np.isfinite(f32)).sum()),
                     "compile_s": round(compiled, 2)})
        print(" ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in rows[-1].items()), flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n = 2^6 ... 2^10")
    parser.add_argument("--kinds", default=",".join(MODELS))
    parser.add_argument("--topologies", default=",".join(TOPOLOGIES))
    parser.add_argument("--lengths", default=None,
                        help="comma-separated lengths (default powers of 4 from 2^6)")
    args = parser.parse_args(argv)
    top = 10 if args.quick else 16
    lengths = [int(v) for v in args.lengths.split(",")] if args.lengths else \
        [2**k for k in range(6, top + 1, 2)]
    rows = []
    for kind in args.kinds.split(","):
        for n in lengths:
            if n <= MODELS[kind][1]:
                rows += measure(kind, n, args.topologies.split(","))
    print()
    print(pivot(rows, "f32_rel"))
    print()
    print("largest error relative to each state (states in float32's normal range):")
    print(pivot(rows, "f32_elem_rel"))
    print(f"wrote {write_json('numerics_bench', {'rows': rows})}")
    return 0


def pivot(rows: list[dict], column: str) -> str:
    """`column` (an error) with one row per (kind, n) and one column per topology."""
    columns = [t for t in TOPOLOGIES if any(r["topology"] == t for r in rows)]
    table_rows = {}
    for r in rows:
        table_rows.setdefault((r["kind"], r["n"]), {"kind": r["kind"], "n": r["n"]})[
            r["topology"]] = r[column]
    return table(list(table_rows.values()), ["kind", "n", *columns])


if __name__ == "__main__":
    sys.exit(main())
