"""Prefix-lowering benchmark (linear-recurrence issue): depth and size per topology.

For a selective diagonal model (d = 16) and a DeltaNet (d_k = d_v = 16) at n = 1024: depth and
size for every prefix topology and the sequential baseline, and depth over the lower bound
ceil(log2(2n - 1)) (h_n depends on 2n - 1 leaves: a_2..a_n and b_1..b_n). For a DPLR model of
rank 1 and d = 64 at n = 1024: size against an all-dense lowering of the same model (the dense
size comes from its exact formula, fitted on small lengths: building it would need ~10^9
gates). And the build rate of a diagonal d = 64 model at n = 65536 with Brent-Kung
(target >= 5 M gates/s, median of 3).

Segment-sum (issue 18; gates are fan-in-2 + and *): the depth and size of its plans for
h = a h + b (a, b inputs: the reference table's model; segment-sum and segment-sum-optimal,
the latter with the seconds its plan takes) against 2 ceil(log2 n) for a scan and the lower
bound, n = 2^8..2^16; segment-sum-optimal's plan at the lengths n = S(m) where beta* is
about to step up (the most gates per step), 2^8..2^17; for the diagonal model (d = 16) at
the powers of two, depth and size of every log-depth topology and both segment-sum
topologies with the lower bound and depth/lower bound (prefix topologies measured exactly by
`lower.measure`, segment-sum built); and their build rates at n = 65536, diagonal d = 64.

Bound check (issue 18, `--bound START STOP STEP`): segment-sum-optimal planned at every
STEP-th length from START to STOP, its depth against beta*(n), the largest size/(n log2 n),
the lengths over 3.5 n log2 n, and how many targets needed the fallback chain.

Matrix segment-sum (issue 18 item 2): for dense d = 2 and 4 (A and b read from the inputs,
the reference's setting), n = 2^8..2^16: depth and size of every log-depth topology (measured
exactly) and of segment-sum, with the lower bound and depth/lower bound; segment-sum is built
while its plan has at most 16 M gates, beyond that its depth is the DP's and its size the
plan's gate count (exact here: no gate folds) up to 2^14, and the DP's depth alone above.

Run: python bench/prefix_bench.py [--quick] [--segment-sum | --matrix | --bound START STOP STEP]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import rnncirc as rc
from rnncirc.analyze.formula_eval import evaluate_formula
from rnncirc.analyze.formulas import prefix_formulas
from rnncirc.compiler import lower
from rnncirc.lower import prefix, segment_cover, segment_lower, segment_optimal, segment_sum
from rnncirc.lower.classify import as_dense
from rnncirc.lower.measure import measure_linear
from rnncirc.lower.segment_hybrid import hybrid_plan

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import median_seconds, table, write_json  # noqa: E402

TOPOLOGIES = ["sequential", "sklansky", "kogge-stone", "brent-kung", "ladner-fischer",
              "han-carlson"]


def diagonal_model(d: int, k: int = 4):
    rng = np.random.default_rng(0)
    W, B = rng.normal(size=(d, k)), rng.normal(size=(d, k))

    @rc.rnn(state=d, inputs=k)
    def diagonal(h, x):
        return rc.exp(-rc.softplus(W @ x)) * h + B @ x

    return diagonal


def deltanet_model(dk: int, dv: int, k: int = 8):
    rng = np.random.default_rng(1)
    Wk, Wv, wb = rng.normal(size=(dk, k)), rng.normal(size=(dv, k)), rng.normal(size=k)

    @rc.rnn(state=(dv, dk), inputs=k)
    def deltanet(S, x):
        key = Wk @ x
        key = key / rc.sqrt((key * key).sum() + 1e-6)
        beta = rc.sigmoid(wb @ x)
        return S - beta * rc.outer(S @ key, key) + beta * rc.outer(Wv @ x, key)

    return deltanet


def dplr_model(d: int, k: int = 4):
    rng = np.random.default_rng(2)
    Wk, Wd, wb, B = (rng.normal(size=s) for s in [(d, k), (d, k), (k,), (d, k)])

    @rc.rnn(state=d, inputs=k)
    def dplr(h, x):
        key = rc.tanh(Wk @ x)
        return rc.sigmoid(Wd @ x) * h - rc.sigmoid(wb @ x) * key * (key @ h) + B @ x

    return dplr


def per_topology(model, n: int) -> list[dict]:
    """Depth and size of every topology, built (build_s) and measured exactly without the full
    build (measure_s, `lower.measure`: what `auto` compares), then auto's pick."""
    bound = math.ceil(math.log2(2 * n - 1))
    cls = rc.classify(model)
    rows = []
    for topology in TOPOLOGIES:
        start = time.perf_counter()
        circuit = rc.compile(model, n, topology=topology)
        build_s = time.perf_counter() - start
        row = {"model": model.name, "kind": cls.kind, "topology": topology, "n": n,
               "depth": circuit.depth, "size": circuit.size,
               "depth/lower_bound": circuit.depth / bound, "build_s": build_s,
               "measure_s": None}
        if topology != "sequential":
            start = time.perf_counter()
            exact = measure_linear(model, cls, n, topology)
            row["measure_s"] = time.perf_counter() - start
            assert (exact.depth, exact.size) == (circuit.depth, circuit.size)
        rows.append(row)
    auto = rc.compile(model, n)
    rows.append({"model": model.name, "kind": cls.kind, "topology": f"auto: {auto.topology}",
                 "n": n, "depth": auto.depth, "size": auto.size,
                 "depth/lower_bound": auto.depth / bound, "build_s": None, "measure_s": None})
    return rows


def dplr_versus_dense(n: int, d: int, topology: str) -> dict:
    model = dplr_model(d)
    cls = rc.classify(model)
    circuit = rc.compile(model, n, topology=topology)
    dense_cls = as_dense(cls)
    _, size_formula = prefix_formulas(
        lambda m: (lambda c: (c.depth, c.size))(lower(model, dense_cls, m, topology, "all")),
        topology, "all")
    dense_size = evaluate_formula(size_formula, n)
    return {"model": f"dplr rank {cls.rank} d={d}", "topology": topology, "n": n,
            "dplr_size": circuit.size, "dense_size": dense_size,
            "dplr/dense": circuit.size / dense_size,
            "dense_from_level": circuit.info.extra.get("dense_from_level")}


def build_rate(n: int, d: int, topology: str = "brent-kung") -> dict:
    model = diagonal_model(d)
    rc.compile(model, 64, topology=topology)  # compile the Numba kernels first
    if topology in segment_sum.TOPOLOGIES:  # the plan is cached per n: time the circuit
        segment_lower.plan_of(topology, n, "all")
    seconds, runs = median_seconds(lambda: rc.compile(model, n, topology=topology),
                                   repeats=3, warmup=0)
    size = rc.compile(model, n, topology=topology).size
    return {"model": f"diagonal d={d}", "topology": topology, "n": n, "size": size,
            "build_s": seconds, "Mgates_s": size / seconds / 1e6}


def _lower_bound(n: int) -> int:
    """ceil(log2(2n - 1)): h_n depends on 2n - 1 leaves, and a gate has two operands."""
    return (2 * n - 2).bit_length()


def segment_plan_rows(lengths: list[int]) -> list[dict]:
    """The plans of h = a h + b (every leaf an input, per channel): segment-sum's depth
    against the family's optimum beta*(n) (segment-sum-optimal's plan, with its size over
    n log2 n and the seconds it takes, its table included), the scan's 2 ceil(log2 n) and the
    lower bound, sizes against the Sklansky circuit's."""
    rows = []
    for n in lengths:
        plan, level = segment_sum.plan(n), (n - 1).bit_length()
        sklansky = 3 * prefix.exact_size("sklansky", "all", n) - (n - 1)
        start = time.perf_counter()
        optimal = hybrid_plan(n)
        optimal_s = time.perf_counter() - start
        assert optimal.depth == segment_optimal.optimal_depth(n)
        rows.append({"n": n, "segment_depth": plan.depth, "optimal_depth": optimal.depth,
                     "scan_depth": 2 * level, "L+sqrt(2L)+1": segment_sum.depth_bound(n),
                     "lower_bound": _lower_bound(n),
                     "depth/lower_bound": plan.depth / _lower_bound(n),
                     "segment_size": plan.size, "sklansky_size": sklansky,
                     "size/sklansky": plan.size / sklansky, "optimal_size": optimal.size,
                     "optimal/(n log2 n)": optimal.size / (n * math.log2(n)),
                     "optimal/sklansky": optimal.size / sklansky, "optimal_plan_s": optimal_s})
    return rows


def step_up_rows(limit: int) -> list[dict]:
    """segment-sum-optimal's plan at n = S(m), the longest lengths of depth m (beta*(n + 1) =
    beta*(n) + 1) from 2^8 to `limit`: the most gates per step, where the outputs near the
    end have no room to spare."""
    beta = segment_optimal.optimal_table(1 << (limit - 1).bit_length())[0]
    rows = []
    for n in [int(x) for x in np.flatnonzero(np.diff(beta) > 0) if 256 <= x < limit]:
        start = time.perf_counter()
        optimal = hybrid_plan(n)
        seconds = time.perf_counter() - start
        hybrid_plan.cache_clear()  # its plans are large: keep none
        assert optimal.depth == beta[n]
        rows.append({"n": n, "depth": optimal.depth, "size": optimal.size,
                     "size/(n log2 n)": optimal.size / (n * math.log2(n)), "plan_s": seconds})
    return rows


def bound_check(start: int, stop: int, step: int) -> dict:
    """segment-sum-optimal at n = start, start + step, ... <= stop: every plan's depth against
    beta*(n), its largest size/(n log2 n), the lengths over 3.5 n log2 n (issue 18's bound),
    and how many targets fell back on their own chain (`segment_cover._own_chains`: none
    expected)."""
    fallbacks = []
    own_chains = segment_cover._own_chains

    def counted(missing, *args):
        fallbacks.append(len(missing))
        return own_chains(missing, *args)

    segment_cover._own_chains = counted
    try:
        ratios, over, wrong = [], [], []
        for n in range(max(2, start), stop + 1, step):
            plan = hybrid_plan(n)
            hybrid_plan.cache_clear()  # its plans are large: keep none
            ratios.append((plan.size / (n * math.log2(n)), n))
            if ratios[-1][0] > 3.5:
                over.append(n)
            if plan.depth != segment_optimal.optimal_depth(n):
                wrong.append(n)
    finally:
        segment_cover._own_chains = own_chains
    worst = max(ratios)
    return {"start": start, "stop": stop, "step": step, "lengths": len(ratios),
            "worst_ratio": worst[0], "worst_n": worst[1], "over_3.5": over,
            "depth_not_beta*": wrong, "fallback_targets": sum(fallbacks)}


def segment_topology_rows(d: int, lengths: list[int]) -> list[dict]:
    """Depth and size of every log-depth topology and both segment-sum topologies for the
    diagonal model."""
    model = diagonal_model(d)
    cls = rc.classify(model)
    rows = []
    for n in lengths:
        bound = _lower_bound(n)
        for topology in TOPOLOGIES[1:] + list(segment_sum.TOPOLOGIES):
            start = time.perf_counter()
            if topology in segment_sum.TOPOLOGIES:
                circuit = rc.compile(model, n, topology=topology)
                depth, size = circuit.depth, circuit.size
                del circuit
            else:
                exact = measure_linear(model, cls, n, topology)
                depth, size = exact.depth, exact.size
            rows.append({"n": n, "topology": topology, "depth": depth, "size": size,
                         "lower_bound": bound, "depth/lower_bound": depth / bound,
                         "seconds": time.perf_counter() - start})
    return rows


def dense_model(d: int):
    """h' = A h + b, every entry of A and b an input: leaves at level 0, as in the reference's
    matrix table, so a segment-sum circuit's depth is its plan's."""

    @rc.rnn(state=d, inputs=d * d + d)
    def dense(h, x):
        return x[:d * d].reshape(d, d) @ h + x[d * d:]

    return dense


#: matrix segment-sum circuits up to this many gates are built; their plans up to this length
MATRIX_BUILD_GATES, MATRIX_PLAN_LENGTH = 16_000_000, 1 << 14


def matrix_rows(d: int, lengths: list[int]) -> list[dict]:
    """Every log-depth topology (`lower.measure`, exact) and segment-sum for `dense_model(d)`:
    segment-sum built where its plan has at most MATRIX_BUILD_GATES gates ("built"), else its
    depth the DP's and its size the plan's count ("plan"), or the DP's depth alone ("DP")."""
    from rnncirc.lower import segment_matrix

    model = dense_model(d)
    cls = rc.classify(model)
    c = segment_matrix.product_depth(d)
    rows = []
    for n in lengths:
        bound, level = _lower_bound(n), (n - 1).bit_length()
        common = {"d": d, "n": n, "lower_bound": bound, "c(L+1)+1": c * (level + 1) + 1}
        for topology in TOPOLOGIES[1:]:
            start = time.perf_counter()
            exact = measure_linear(model, cls, n, topology)
            rows.append({**common, "topology": topology, "depth": exact.depth,
                         "size": exact.size, "depth/lower_bound": exact.depth / bound,
                         "source": "measured", "seconds": time.perf_counter() - start})
        start = time.perf_counter()
        depth, size, source = segment_matrix.matrix_depth(n, d), None, "DP"
        if n <= MATRIX_PLAN_LENGTH:
            size = segment_matrix.plan_gates(segment_matrix.matrix_plan(n, "all", d), d, 1)
            source = "plan"
        if size is not None and size <= MATRIX_BUILD_GATES:
            circuit = rc.compile(model, n, topology="segment-sum")
            assert (circuit.depth, circuit.size) == (depth, size)
            source = "built"
            del circuit
        rows.append({**common, "topology": "segment-sum", "depth": depth, "size": size,
                     "depth/lower_bound": depth / bound, "source": source,
                     "seconds": time.perf_counter() - start})
    return rows


def matrix_tables(quick: bool) -> dict:
    lengths = [2**k for k in range(8, 13 if quick else 17)]
    results = {}
    for d in (2, 4):
        rows = matrix_rows(d, lengths)
        print(f"\ndense d={d} (A and b inputs), every log-depth topology and segment-sum "
              "(fan-in-2 + and *)")
        print(table(rows, list(rows[0])))
        results[f"matrix_d{d}"] = rows
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--segment-sum", action="store_true",
                        help="only the segment-sum tables and build rate")
    parser.add_argument("--matrix", action="store_true",
                        help="only the matrix segment-sum tables (dense d = 2, 4)")
    parser.add_argument("--bound", nargs=3, type=int, metavar=("START", "STOP", "STEP"),
                        help="only segment-sum-optimal's depth and size/(n log2 n) at every "
                             "STEP-th length from START to STOP")
    args = parser.parse_args()
    if args.bound:
        check = bound_check(*args.bound)
        print(table([check], list(check)))
        results, name = {"bound": check}, f"prefix_bench_bound_{args.bound[0]}_{args.bound[1]}"
    elif args.matrix:
        results, name = matrix_tables(args.quick), "prefix_bench_matrix"
    else:
        results = {} if args.segment_sum else prefix_tables(args.quick)
        results.update(segment_tables(args.quick))
        results.update(matrix_tables(args.quick))
        name = "prefix_bench_segment_sum" if args.segment_sum else "prefix_bench"
    print(f"wrote {write_json(name, results)}")


def prefix_tables(quick: bool) -> dict:
    n = 256 if quick else 1024
    rows = per_topology(diagonal_model(16), n) + per_topology(deltanet_model(16, 16), n)
    print(table(rows, list(rows[0])))
    dplr = dplr_versus_dense(n, 16 if quick else 64, "brent-kung")
    print()
    print(table([dplr], list(dplr)))
    rate = build_rate(4096 if quick else 65536, 64)
    print()
    print(table([rate], list(rate)))
    print(f"\ntarget: build >= 5 M gates/s ({'met' if rate['Mgates_s'] >= 5 else 'MISSED'})")
    return {"topologies": rows, "dplr": dplr, "rate": rate}


def segment_tables(quick: bool) -> dict:
    lengths = [2**k for k in range(8, 13 if quick else 17)]
    plan_rows = segment_plan_rows(lengths)
    print("\nsegment-sum plan, h = a h + b (fan-in-2 + and *; leaves are inputs)")
    print(table(plan_rows, list(plan_rows[0])))
    step_rows = step_up_rows(1 << (12 if quick else 17))
    print("\nsegment-sum-optimal where beta* steps up (n = S(m), the longest of depth m)")
    print(table(step_rows, list(step_rows[0])))
    segment_rows = segment_topology_rows(16, lengths)
    print("\ndiagonal d=16, every log-depth topology and segment-sum")
    print(table(segment_rows, list(segment_rows[0])))
    rates = [build_rate(4096 if quick else 65536, 64, topology)
             for topology in segment_sum.TOPOLOGIES]
    print()
    print(table(rates, list(rates[0])))
    print(f"\ntarget: build >= 5 M gates/s "
          f"({'met' if min(rate['Mgates_s'] for rate in rates) >= 5 else 'MISSED'})")
    return {"segment_plan": plan_rows, "segment_step_ups": step_rows,
            "segment_topologies": segment_rows,
            "segment_rate": rates}


if __name__ == "__main__":
    main()
