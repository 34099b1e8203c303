"""Compile benchmark (foundation issue): unroll speed, level speed and memory per gate.

Unrolls an Elman RNN with d = 64 (one input per step) over n = 1024 steps, about 8.5 million
gates, and measures:
- build rate: gates per second of `rc.compile(..., topology="sequential")` (median of 5);
- level rate: gates per second of the Numba level scan (median of 5);
- peak memory per gate: the peak of numpy allocations (tracemalloc) while building the
  circuit and its levels, divided by the number of gates.
Targets: build >= 5 M gates/s, levels >= 50 M gates/s, peak < 32 bytes per gate.

Run: python bench/compile_bench.py [--length N] [--state D]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--state", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=1)
    args = parser.parse_args()
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
