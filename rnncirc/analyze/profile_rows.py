"""The measured rows of a depth profile: one circuit's counts, every length of an unroll
from one build, a program's row with its layers, and rows computed as Dask tasks.

Where this sits: under `profile` (`rc.depth_profile`), which decides what to build at each
length; everything here compiles through `rnncirc.compiler` and counts with `analyze.counts`.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program, is_model
from rnncirc.ir.ops import ARITY, OP_NAMES


def program_row(program: Program, n: int, topology: str, outputs: str,
                 keep: bool, objective: str = "depth") -> tuple[dict, tuple | None]:
    """A program's row at length n (with its layers), and when `keep` its compilation's
    topology and the layers it lists (``circuit.info.extra["layers"]``): what the family
    formulas need, not the compilation, whose circuit a profile task would send back whole
    (200 MiB for a two-layer LSTM at n = 4096)."""
    from rnncirc.analyze.report import layer_rows
    from rnncirc.compiler import compile_model

    done = compile_model(program, n, topology=topology, outputs=outputs, objective=objective)
    row = measure_circuit(done.circuit)
    row["layers"] = [{key: layer[key] for key in ("name", "kind", "topology", "gates",
                                                  "depth_added")}
                     for layer in layer_rows(done.circuit)]
    return row, (done.topology, done.circuit.info.extra["layers"]) if keep else None


def measured_row(model: RNN, n: int, topology: str, outputs: str,
                 objective: str = "depth") -> dict:
    """The row of `model` compiled at length n (a profile task on a Dask worker)."""
    from rnncirc.compiler import compile_model

    return measure_circuit(compile_model(model, n, topology=topology, outputs=outputs,
                                         objective=objective).circuit)


def remote(client, calls: list[tuple]) -> list:
    """``[f(*args) for f, *args in calls]`` as tasks on a Dask client's workers, in order; an
    interrupt (Ctrl-C) cancels them.

    A model among the arguments travels once, as a task of its own that the others depend
    on: a worker then holds one copy for all its rows, and the model's caches (its traced
    step, its class, "auto"'s choices and the tables behind them) are built once per worker,
    not once per row as they were when every task carried its own unpickled copy."""
    shipped: dict[int, object] = {}

    def travel(value):
        if not is_model(value):
            return value
        if id(value) not in shipped:
            shipped[id(value)] = client.submit(_same, value, pure=False)
        return shipped[id(value)]

    futures = [client.submit(f, *map(travel, args), pure=False) for f, *args in calls]
    try:
        return client.gather(futures)
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    finally:  # the workers' copies of the model go with their rows
        client.cancel(list(shipped.values()))


def _same(value):
    # (the eval layer's `ship` does this for circuits; analyze may not import eval)
    return value


def measure_circuit(circuit) -> dict:
    """The row of one circuit: length, topology, depth, size, op counts, HE/ZK counts."""
    from rnncirc.analyze.counts import multiplicative_scan

    level, flag = multiplicative_scan(circuit)
    return {"length": circuit.length, "topology": circuit.topology, "depth": circuit.depth,
            "size": circuit.size, "op_counts": dict(circuit.op_counts),
            "multiplicative_depth": int(level[circuit.outputs.ravel()].max(initial=0)),
            "nonconstant_multiplications": int(np.count_nonzero(flag))}


def unrolled_rows(model: RNN, cls, lengths: list[int]) -> dict[int, dict]:
    """Rows of the sequential unroll at every length, from one build at the longest."""
    from rnncirc.analyze.counts import multiplicative_scan
    from rnncirc.compiler import compile_model

    longest = max(lengths)
    circuit = compile_model(model, longest, topology="sequential").circuit
    mlevel, flag = multiplicative_scan(circuit)
    outputs = circuit.outputs.reshape(longest, -1)
    depth = np.maximum.accumulate(circuit.levels[outputs].max(axis=1, initial=0))
    mdepth = np.maximum.accumulate(mlevel[outputs].max(axis=1, initial=0))
    per_step, mults = _per_step_counts(circuit.op, circuit.step, flag, ARITY, longest)
    ops = np.cumsum(per_step, axis=0)  # row t: gates of steps <= t, by op
    mults = np.cumsum(mults)
    rows = {}
    for n in lengths:
        by_op = ops[n]
        order = np.argsort(-by_op, kind="stable")
        rows[n] = {"length": n, "topology": "sequential", "depth": int(depth[n - 1]),
                   "size": int(by_op.sum()),
                   "op_counts": {OP_NAMES[i]: int(by_op[i]) for i in order if by_op[i]},
                   "multiplicative_depth": int(mdepth[n - 1]),
                   "nonconstant_multiplications": int(mults[n])}
    return rows


@numba.njit(cache=True, nogil=True)
def _per_step_counts(op, step, flag, arity, steps):
    """Gates per (step, op) and non-constant products per step, in one pass."""
    by_op = np.zeros((steps + 1, len(arity)), dtype=np.int64)
    mults = np.zeros(steps + 1, dtype=np.int64)
    for i in range(len(op)):
        if arity[op[i]] > 0:
            by_op[step[i], op[i]] += 1
            if flag[i]:
                mults[step[i]] += 1
    return by_op, mults
