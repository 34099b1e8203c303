"""Compile benchmark (foundation issue): unroll speed, level speed and memory per gate.

Unrolls an Elman RNN with d = 64 (one input per step) over n = 1024 steps, about 8.5 million
gates, and measures:
- build rate: gates per second of `rc.compile(..., topology="sequential")` (median of 5);
- level rate: gates per second of the Numba level scan (median of 5);
- peak memory per gate: the peak of numpy allocations (tracemalloc) while building the
  circuit and its levels, divided by the number of gates.
Targets: build >= 5 M gates/s, levels >= 50 M gates/s, peak < 32 bytes per gate.

``--program`` (issue "Programs"): a 4-layer program of selective diagonal scans (d = K = 64,
residual between layers) over n = 65536 with Brent-Kung: build rate (median of 3) and peak
bytes per gate as above, then the evaluator (schedule built once, not timed; batch 8,
float64, median of 5) against the same program in JAX, one jitted
``jax.lax.associative_scan`` per layer, on the same data in the same process. Targets: build
>= 5 M gates/s, peak < 32 B/gate, evaluation faster than JAX.

Run: python bench/compile_bench.py [--length N] [--state D] [--program [--batch B]]
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc

import numpy as np

import rnncirc as rc
from rnncirc.ir.levels import compute_levels
from rnncirc.ir.ops import ARITY

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from common import median_seconds, table, write_json  # noqa: E402


def elman(d: int, k: int):
    rng = np.random.default_rng(0)
    W, U, b = rng.normal(size=(d, d)) / np.sqrt(d), rng.normal(size=(d, k)), rng.normal(size=d)

    @rc.rnn(state=d, inputs=k)
    def step(h, x):
        return rc.tanh(W @ h + U @ x + b)

    return step


def diagonal_program(d: int, layers: int = 4):
    """`layers` selective diagonal scans with residuals; the weights, for the JAX twin."""
    rng = np.random.default_rng(0)
    weights = [(rng.normal(size=d), rng.normal(size=d), rng.normal(size=d))
               for _ in range(layers)]

    def layer(i: int):
        w, c, u = weights[i]

        @rc.rnn(state=d, inputs=d, name=f"layer{i + 1}")
        def step(h, x):
            return rc.sigmoid(w * x + c) * h + u * x

        return step

    scans = [layer(i) for i in range(layers)]

    @rc.program(inputs=d)
    def deep(x):
        for scan in scans:
            x = x + rc.scan(scan, x)
        return x

    return deep, weights


def jax_program(weights):
    """The same program in JAX: one associative_scan of (a, b) pairs per layer."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    w, c, u = (jnp.array([layer[i] for layer in weights]) for i in range(3))

    def combine(left, right):
        return right[0] * left[0], right[0] * left[1] + right[1]

    @jax.jit
    def run(x):  # time-major (n, batch, d)
        for i in range(len(weights)):
            _, h = jax.lax.associative_scan(
                combine, (jax.nn.sigmoid(w[i] * x + c[i]), u[i] * x), axis=0)
            x = x + h
        return x

    return run


def program_main(args) -> None:
    from rnncirc.compiler import compile_model

    n, d = args.length, args.state
    deep, weights = diagonal_program(d)

    def build():
        return compile_model(deep, n, topology="brent-kung").circuit

    build_s, build_all = median_seconds(build, repeats=3, warmup=1)
    tracemalloc.start()
    circuit = build()
    _ = circuit.depth
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gates = circuit.size
    row = {"model": f"4 diagonal layers d={d}", "length": n, "gates": gates,
           "depth": circuit.depth, "build_s": build_s, "build_Mgates_s": gates / build_s / 1e6,
           "peak_bytes_per_gate": peak / gates}
    xs = np.random.default_rng(1).normal(size=(args.batch, n, d))
    evaluator = rc.Evaluator(circuit)
    values = circuit.check_inputs(xs).values.T.copy()
    ours = evaluator.run(values)
    eval_s, eval_all = median_seconds(lambda: evaluator.run(values), repeats=5, warmup=0)
    row.update(batch=args.batch, rnncirc_eval_s=eval_s)
    try:
        run = jax_program(weights)
    except ImportError:
        run = None
    if run is not None:
        import jax.numpy as jnp

        x_time_major = jnp.asarray(np.moveaxis(xs, 1, 0))
        theirs = np.asarray(run(x_time_major).block_until_ready())
        jax_s, _ = median_seconds(lambda: run(x_time_major).block_until_ready(), repeats=5)
        mine = ours.T.reshape(args.batch, n, d)
        row.update(jax_eval_s=jax_s, speedup=jax_s / eval_s,
                   max_abs_diff=float(np.abs(np.moveaxis(theirs, 0, 1) - mine).max()))
    print(table([row], list(row)))
    met = [("build >= 5 M gates/s", row["build_Mgates_s"] >= 5),
           ("peak < 32 B/gate", row["peak_bytes_per_gate"] < 32)]
    if run is not None:
        met.append(("evaluation faster than JAX associative_scan", row["speedup"] > 1))
    print("\ntargets: " + ", ".join(f"{what} ({'met' if ok else 'MISSED'})" for what, ok in met))
    path = write_json("compile_bench_program", {"rows": [row], "build_runs_s": build_all,
                                                "eval_runs_s": eval_all,
                                                "jax": run is not None})
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=None,
                        help="sequence length (default 1024; with --program 65536)")
    parser.add_argument("--state", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=1)
    parser.add_argument("--program", action="store_true",
                        help="the 4-layer diagonal program instead of the Elman unroll")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    if args.program:
        args.length = args.length or 65536
        program_main(args)
        return
    args.length = args.length or 1024
    model = elman(args.state, args.inputs)
    n = args.length

    build_s, build_all = median_seconds(lambda: rc.compile(model, n, topology="sequential"))
    circuit = rc.compile(model, n, topology="sequential")
    gates = circuit.size
    columns = (circuit.op, circuit.a, circuit.b, circuit.c, ARITY)
    level_s, level_all = median_seconds(lambda: compute_levels(*columns))
    circuit = columns = None  # free it before measuring the peak of a fresh build

    tracemalloc.start()
    built = rc.compile(model, n, topology="sequential")
    _ = built.depth
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows_total = built.num_nodes

    row = {
        "model": f"elman d={args.state} k={args.inputs}", "length": n, "gates": gates,
        "depth": built.depth, "build_s": build_s, "build_Mgates_s": gates / build_s / 1e6,
        "levels_s": level_s, "levels_Mgates_s": gates / level_s / 1e6,
        "peak_MiB": peak / 2**20, "peak_bytes_per_gate": peak / gates,
    }
    targets = {"build_Mgates_s": 5.0, "levels_Mgates_s": 50.0, "peak_bytes_per_gate": 32.0}
    print(table([row], list(row)))
    print(f"\ntargets: build >= 5 M gates/s ({'met' if row['build_Mgates_s'] >= 5 else 'MISSED'})"
          f", levels >= 50 M gates/s ({'met' if row['levels_Mgates_s'] >= 50 else 'MISSED'})"
          f", peak < 32 B/gate ({'met' if row['peak_bytes_per_gate'] < 32 else 'MISSED'})")
    path = write_json("compile_bench", {"rows": [row], "targets": targets,
                                        "build_runs_s": build_all, "level_runs_s": level_all,
                                        "rows_including_leaves": rows_total})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
