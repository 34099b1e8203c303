"""Which leaf or combine of a prefix network each gate of a circuit belongs to.

Where this sits: under the block and gate views of `rnncirc.export.dot`, which label combines
with the gates they cost and cluster gates by combine. Gate counts per combine are recovered
from the circuit alone: every gate depends on the inputs of a range of steps; a combine's
result gates depend exactly on its segment, so gates of level L whose range is a segment
combined on level L belong to that combine, and the other gates of the level belong to the
combine of their consumer (one backward Numba scan).
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.ir.circuit import SHARED_NODE
from rnncirc.ir.ops import ARITY


@numba.njit(cache=True, nogil=True)
def _step_ranges(op, a, b, c, arity, input_step, shared):
    """lo/hi: the smallest and largest step whose inputs the row depends on (lo > hi: none).

    Shared rows (built once for every step) count as constants."""
    rows = len(op)
    lo = np.full(rows, 2**30, dtype=np.int32)
    hi = np.full(rows, -1, dtype=np.int32)
    for i in range(rows):
        k = arity[op[i]]
        if shared[i]:
            continue
        if k == 0:
            if input_step[i] >= 0:
                lo[i] = input_step[i]
                hi[i] = input_step[i]
            continue
        lo[i] = lo[a[i]]
        hi[i] = hi[a[i]]
        if k >= 2:
            lo[i] = min(lo[i], lo[b[i]])
            hi[i] = max(hi[i], hi[b[i]])
        if k >= 3:
            lo[i] = min(lo[i], lo[c[i]])
            hi[i] = max(hi[i], hi[c[i]])
    return lo, hi


@numba.njit(cache=True, nogil=True)
def _spread_owner(owner, op, a, b, c, arity, step):
    """Gates without an owner take the owner of a consumer on the same level (backward)."""
    for i in range(len(op) - 1, -1, -1):
        k = arity[op[i]]
        if k == 0 or owner[i] < 0:
            continue
        for j in range(k):
            o = a[i] if j == 0 else (b[i] if j == 1 else c[i])
            if arity[op[o]] > 0 and owner[o] < 0 and step[o] == step[i]:
                owner[o] = owner[i]
    return owner


def attribute_gates(circuit, net) -> tuple[np.ndarray, np.ndarray]:
    """Owner of every row of a prefix-lowered circuit: leaf t -> t, combine k -> n + k.

    Returns ``(owner, gates)``: owner per row (-1: a leaf row or unattributed) and the gate
    count per value id (n leaves, then the combines in network order).
    """
    n = net.n
    input_step = np.full(circuit.num_nodes, -1, dtype=np.int32)
    input_step[circuit.inputs] = np.arange(n, dtype=np.int32)[:, None]
    shared = circuit.node == SHARED_NODE
    lo, hi = _step_ranges(circuit.op, circuit.a, circuit.b, circuit.c, ARITY, input_step, shared)
    gate = ARITY[circuit.op] > 0
    level = circuit.step.astype(np.int64)
    owner = np.full(circuit.num_nodes, -1, dtype=np.int64)
    leaf_gate = gate & (level == 0) & (lo == hi)
    owner[leaf_gate] = lo[leaf_gate]
    # built once with step 0's leaves, for every step: the shared rows and what is computed
    # from them alone (the identity's sort decisions)
    owner[gate & (level == 0) & (shared | (lo > hi))] = 0
    if net.levels:
        span = n + 1
        seg_level = np.concatenate([np.full(len(lv), k + 1) for k, lv in enumerate(net.levels)])
        seg_lo = np.concatenate([lv.left_lo for lv in net.levels])
        seg_hi = np.concatenate([lv.right_hi for lv in net.levels])
        keys = (seg_level * span + seg_lo) * span + seg_hi
        order = np.argsort(keys)
        combine_gate = gate & (level > 0) & (lo <= hi)
        rows = np.flatnonzero(combine_gate)
        row_keys = (level[rows] * span + lo[rows]) * span + hi[rows]
        pos = np.clip(np.searchsorted(keys[order], row_keys), 0, len(keys) - 1)
        hit = keys[order][pos] == row_keys
        owner[rows[hit]] = n + order[pos[hit]]
        # gates that read only one operand (a per-symbol permutation operand finishes its own
        # representation where it is used) belong to a combine of that level that uses it
        for side in ("right", "left"):
            rows, row_keys = rows[~hit], row_keys[~hit]
            side_lo = np.concatenate([getattr(lv, side + "_lo") for lv in net.levels])
            side_hi = np.concatenate([getattr(lv, side + "_hi") for lv in net.levels])
            side_keys = (seg_level * span + side_lo) * span + side_hi
            by_side = np.argsort(side_keys)
            pos = np.clip(np.searchsorted(side_keys[by_side], row_keys), 0, len(keys) - 1)
            hit = side_keys[by_side][pos] == row_keys
            owner[rows[hit]] = n + by_side[pos[hit]]
    owner = _spread_owner(owner, circuit.op, circuit.a, circuit.b, circuit.c, ARITY,
                          circuit.step)
    counts = np.bincount(owner[gate & (owner >= 0)], minlength=n + net.size)
    return owner, counts
