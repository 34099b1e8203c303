"""Output parts: a circuit that falls apart into independent pieces, cut into balanced sets.

Where this sits: before `build_schedule`, for the evaluator's "parts" mode
(`rnncirc.eval.fast`): `output_parts` cuts the outputs of a circuit that falls apart into
independent pieces (the d scans of a diagonal recurrence) into balanced sets that share no
gate (union-find over the gate edges; shared inputs and constants do not join), and
``build_schedule(circuit, positions=...)`` schedules one such set, storing at the circuit's
own output positions. Why: each part then runs on a thread of its own with registers of its
own, and the threads never wait for each other.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.ir.circuit import Circuit
from rnncirc.ir.levels import live_mask
from rnncirc.ir.ops import ARITY


@numba.njit(cache=True, nogil=True)
def _find(parent, x):
    while parent[x] != x:  # path halving
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def _output_components(op, a, b, c, arity, live, out_flat):
    """(component root of each output, live gates per root): two outputs are in one
    component when a path of gates joins them; shared inputs and constants do not join."""
    n = len(op)
    parent = np.arange(n, dtype=np.int32)
    for g in range(n):
        k = arity[op[g]]
        if k == 0 or not live[g]:
            continue
        for j in range(k):
            x = a[g] if j == 0 else b[g] if j == 1 else c[g]
            if x >= 0 and arity[op[x]] > 0:
                rg, rx = _find(parent, g), _find(parent, x)
                if rg != rx:
                    parent[max(rg, rx)] = min(rg, rx)
    weight = np.zeros(n, dtype=np.int32)  # (8 bytes per node in all, next to the circuit's 25)
    for g in range(n):
        if live[g] and arity[op[g]] > 0:
            weight[_find(parent, g)] += 1
    roots = np.empty(len(out_flat), dtype=np.int32)
    for p in range(len(out_flat)):
        roots[p] = _find(parent, out_flat[p])
    return roots, weight


def output_parts(circuit: Circuit, n_parts: int) -> list[np.ndarray] | None:
    """The circuit's outputs cut into at most `n_parts` sets of positions that share no
    gate, balanced by gate count, or None when it does not split that evenly (one component,
    or one that holds more than 3/4 of the gates).

    A diagonal recurrence (Mamba, RetNet, S4D) is d independent scans: each set can then be
    scheduled (`build_schedule(positions=...)`) and run by its own thread with its own
    registers, without any synchronization.
    """
    if n_parts < 2 or circuit.outputs.size < n_parts:
        return None
    op, a, b, c = circuit.op, circuit.a, circuit.b, circuit.c
    out_flat = np.ascontiguousarray(circuit.outputs.reshape(-1), dtype=np.int32)
    live = live_mask(op, a, b, c, ARITY, out_flat)
    roots, weight = _output_components(op, a, b, c, ARITY, live, out_flat)
    unique, which = np.unique(roots, return_inverse=True)
    if len(unique) < n_parts:
        return None
    gates = weight[unique]
    # components in the order of their first output, cut into runs of about equal gate
    # counts: each part then owns contiguous ranges of outputs and input slots (channels
    # 0..31 and 32..63 of a diagonal scan), so the rows it reads and writes stay whole runs
    first = np.full(len(unique), len(roots), dtype=np.int64)
    np.minimum.at(first, which, np.arange(len(roots)))
    order = np.argsort(first, kind="stable")
    before = np.cumsum(gates[order]) - gates[order]
    part_of_root = np.empty(len(unique), dtype=np.int64)
    part_of_root[order] = np.minimum(n_parts - 1, before * n_parts // max(1, gates.sum()))
    loads = np.bincount(part_of_root, weights=gates, minlength=n_parts)
    if loads.max() > 0.75 * max(1, loads.sum()):
        return None
    part = part_of_root[which]
    # (a component bigger than a share can leave a part empty: fewer parts then)
    parts = [positions for k in range(n_parts) if len(positions := np.flatnonzero(part == k))]
    return parts if len(parts) >= 2 else None
