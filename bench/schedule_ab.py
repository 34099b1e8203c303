"""A/B of evaluation schedules: one circuit scheduled with different schedule constants.

Where this sits: `eval_bench.py` compares rnncirc with its peers, each row timed on its own;
on a shared machine whose speed swings 30-50 % from one minute to the next, a change of a
few percent in the evaluator does not show there. This script times *variants of one
schedule* in one process, in alternating rounds (each round times every variant `--repeats`
times, median), and reports the median over rounds of the per-round ratio base / variant:
load from other processes hits all variants of a round alike, so the ratio is stable where
the times are not.

A variant sets constants of `rnncirc.eval.schedule` (``TILE_GATES=512``, ``GROUP=16``,
``TILE_WHEN_WIDER=1e18`` ...) while its circuit is compiled and scheduled; the evaluator then
runs it as in real use (parts, lanes or serial, `Evaluator.plan`). Every variant must give
bit for bit the outputs of the base schedule (a schedule reorders gates and moves values
between rows, it never changes an operation), which the script checks before timing.

Run:  python bench/schedule_ab.py --config diagonal --n 16384 --dtype float32 \\
          --variant TILE_GATES=512 --variant TILE_GATES=2048
Configs: the linear ones of eval_bench.py (diagonal, dense, perm-diagonal, dplr-r1).
Writes bench/results/schedule_ab.json and prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_bench  # noqa: E402  (its configs; it fixes the thread count before numba starts)
from common import table, write_json  # noqa: E402

import rnncirc as rc  # noqa: E402
import rnncirc.eval.schedule as schedule_module  # noqa: E402
from rnncirc.eval.fast import Evaluator  # noqa: E402

CONFIGS = {cfg.name: cfg for cfg in (eval_bench.Diagonal(), eval_bench.Dense(),
                                     eval_bench.PermutationDiagonal(), eval_bench.DPLR())}
COLUMNS = ["variant", "ms", "vs_base", "ratio_min", "ratio_max", "mode", "placement", "regs"]


def parse_variant(text: str) -> dict:
    """``"A=1,B=2"`` -> {"A": 1, "B": 2}: integer constants of the schedule module."""
    settings = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        try:
            if not isinstance(getattr(schedule_module, name, None), int):
                raise ValueError
            settings[name] = int(float(value))
        except ValueError:
            raise ValueError(f"--variant {item!r}: expected NAME=NUMBER with NAME an integer "
                             "constant of rnncirc.eval.schedule (e.g. TILE_GATES=512)") from None
    return settings


def build(model, n: int, topology: str, dtype: str, settings: dict, values_of):
    """(evaluator, workspace) of a fresh circuit scheduled under `settings`."""
    saved = {name: getattr(schedule_module, name) for name in settings}
    try:
        for name, value in settings.items():
            setattr(schedule_module, name, value)
        circuit = rc.compile(model, n, topology=topology)
        evaluator = Evaluator(circuit, dtype=dtype)
        values = values_of(circuit)
        ws = evaluator.workspace(values.shape[0])  # (schedules and parts are built here)
        evaluator.fill(ws, values)
    finally:
        for name, value in saved.items():
            setattr(schedule_module, name, value)
    return evaluator, ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="diagonal")
    parser.add_argument("--n", type=int, default=16384, help="sequence length")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float32")
    parser.add_argument("--topology", default="brent-kung")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=VALUE[,NAME=VALUE]: schedule constants of one variant "
                             "(repeatable); the base is the schedule as it is")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads (read before numba starts, as in eval_bench.py)")
    parser.add_argument("--quick", action="store_true", help="smoke run: n=1024, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds = 1024, 2
    cfg = CONFIGS[args.config]
    model = cfg.model()
    xs = cfg.xs(cfg.data(args.n, args.batch, np.random.default_rng(0)))

    def values_of(circuit):
        return circuit.check_inputs(xs)[0]

    try:
        variants = {"base": {}} | {text: parse_variant(text) for text in args.variant}
    except ValueError as error:
        parser.error(str(error))
    names = list(variants)
    runs = {name: build(model, args.n, args.topology, args.dtype, settings, values_of)
            for name, settings in variants.items()}
    expected = runs["base"][0].evaluate(runs["base"][1]).copy()
    for name, (evaluator, ws) in runs.items():
        if not np.array_equal(evaluator.evaluate(ws), expected, equal_nan=True):
            raise SystemExit(f"error: variant {name} changed the outputs (a schedule must "
                             "not change any operation)")

    times = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, (evaluator, ws) in runs.items():
            samples = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                evaluator.evaluate(ws)
                samples.append(time.perf_counter() - start)
            times[name].append(statistics.median(samples))
    rows = []
    for name, (evaluator, ws) in runs.items():
        ratios = [b / v for b, v in zip(times["base"], times[name], strict=True)]
        schedules = ws.parts or [evaluator.schedule]
        rows.append({"variant": name, "ms": statistics.median(times[name]) * 1e3,
                     "vs_base": statistics.median(ratios), "ratio_min": min(ratios),
                     "ratio_max": max(ratios), "mode": ws.mode,
                     "placement": schedules[0].placement,
                     "regs": sum(s.n_regs for s in schedules), "round_seconds": times[name]})
    print(f"{args.config} n={args.n} {args.dtype} {args.topology}, batch {args.batch}: "
          f"vs_base = median over {args.rounds} rounds of base time / variant time")
    print(table(rows, COLUMNS))
    path = write_json("schedule_ab", {"args": vars(args), "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
