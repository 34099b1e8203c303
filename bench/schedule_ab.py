"""A/B of evaluation schedules: one circuit scheduled with different schedule options.

Where this sits: `eval_bench.py` compares rnncirc with its peers, each row timed on its own;
on a shared machine whose speed swings 30-50 % from one minute to the next, a change of a
few percent in the evaluator does not show there. This script times *variants of one
schedule* in one process, in alternating rounds (each round times every variant `--repeats`
times, median), and reports the median over rounds of the per-round ratio base / variant:
load from other processes hits all variants of a round alike, so the ratio is stable where
the times are not.

A variant sets fields of `rnncirc.eval.schedule.ScheduleOptions` (``TILE_GATES=512``,
``GROUP=16``, ``TILE_WHEN_WIDER=1e18`` ...; names in either case) for the schedules of one
circuit, compiled once; the evaluator (`Evaluator(circuit, options=...)`) then runs it as in
real use (parts, lanes or serial, `Evaluator.plan`). Every variant must give bit for bit the
outputs of the base schedule (a schedule reorders gates and moves values between rows, it
never changes an operation), which the script checks before timing.

Run:  python bench/schedule_ab.py --config diagonal --n 16384 --dtype float32 \\
          --variant TILE_GATES=512 --variant TILE_GATES=2048
Configs: the linear ones of eval_bench.py (diagonal, dense, perm-diagonal, dplr-r1).
Writes bench/results/schedule_ab.json and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import eval_bench  # noqa: E402  (its configs; it fixes the thread count before numba starts)
from common import table, write_json  # noqa: E402

import rnncirc as rc  # noqa: E402
from rnncirc.eval.fast import Evaluator  # noqa: E402
from rnncirc.eval.schedule import ScheduleOptions  # noqa: E402

CONFIGS = {cfg.name: cfg for cfg in (eval_bench.Diagonal(), eval_bench.Dense(),
                                     eval_bench.PermutationDiagonal(), eval_bench.DPLR())}
COLUMNS = ["variant", "ms", "vs_base", "ratio_min", "ratio_max", "mode", "placement", "regs"]


OPTION_NAMES = [field.name for field in dataclasses.fields(ScheduleOptions)]


def parse_variant(text: str) -> ScheduleOptions:
    """``"A=1,B=2"`` -> the default `ScheduleOptions` with fields a and b set to 1 and 2."""
    settings = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        try:
            if name.lower() not in OPTION_NAMES:
                raise ValueError
            settings[name.lower()] = int(float(value))
        except ValueError:
            raise ValueError(f"--variant {item!r}: expected NAME=NUMBER with NAME a field of "
                             f"ScheduleOptions ({', '.join(OPTION_NAMES)})") from None
    try:
        return ScheduleOptions(**settings)
    except rc.RnncircError as error:
        raise ValueError(f"--variant {text!r}: {error}") from None


def build(circuit, dtype: str, options: ScheduleOptions, values):
    """(evaluator, workspace) of `circuit` scheduled under `options`."""
    evaluator = Evaluator(circuit, dtype=dtype, options=options)
    ws = evaluator.workspace(values.shape[0])  # (schedules and parts are built here)
    evaluator.fill(ws, values)
    return evaluator, ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="diagonal")
    parser.add_argument("--n", type=int, default=16384, help="sequence length")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float32")
    parser.add_argument("--topology", default="brent-kung")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=VALUE[,NAME=VALUE]: ScheduleOptions fields of one "
                             "variant, e.g. TILE_GATES=512 (repeatable); the base is the "
                             "default options")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads (read before numba starts, as in eval_bench.py)")
    parser.add_argument("--quick", action="store_true", help="smoke run: n=1024, 2 rounds")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds = 1024, 2
    cfg = CONFIGS[args.config]
    xs = cfg.xs(cfg.data(args.n, args.batch, np.random.default_rng(0)))
    try:
        variants = {"base": ScheduleOptions()} | {text: parse_variant(text)
                                                   for text in args.variant}
    except ValueError as error:
        parser.error(str(error))
    names = list(variants)
    circuit = rc.compile(cfg.model(), args.n, topology=args.topology)
    values = circuit.check_inputs(xs)[0]
    runs = {name: build(circuit, args.dtype, options, values)
            for name, options in variants.items()}
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
