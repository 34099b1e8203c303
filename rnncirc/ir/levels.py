"""Levels, liveness and the critical path: single forward/backward scans compiled with Numba.

These are the only per-gate loops in rnncirc, and they run as machine code over the
struct-of-arrays circuit (tens of millions of gates per second).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def compute_levels(op: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                   arity: np.ndarray) -> np.ndarray:
    """level[i] = 0 for leaves (arity 0), else 1 + max(level of operands).

    Requires topological order: every operand id is smaller than its gate's id.
    """
    n = len(a)
    level = np.zeros(n, dtype=np.int32)
    for i in range(n):
        if arity[op[i]] == 0:
            continue
        best = level[a[i]]
        if b[i] >= 0 and level[b[i]] > best:
            best = level[b[i]]
        if c[i] >= 0 and level[c[i]] > best:
            best = level[c[i]]
        level[i] = best + 1
    return level


@numba.njit(cache=True, nogil=True)
def live_mask(op: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
              arity: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Rows that some output depends on (one backward scan)."""
    live = np.zeros(len(a), dtype=np.bool_)
    for o in outputs:
        live[o] = True
    for i in range(len(a) - 1, -1, -1):
        if live[i] and arity[op[i]] > 0:
            if a[i] >= 0:
                live[a[i]] = True
            if b[i] >= 0:
                live[b[i]] = True
            if c[i] >= 0:
                live[c[i]] = True
    return live


@numba.njit(cache=True, nogil=True)
def dead_gates(op: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
               arity: np.ndarray, outputs: np.ndarray) -> int:
    """How many gates no output depends on (0: nothing to drop, no compaction needed)."""
    live = live_mask(op, a, b, c, arity, outputs)
    dead = 0
    for i in range(len(op)):
        if not live[i] and arity[op[i]] > 0:
            dead += 1
    return dead


@numba.njit(cache=True, nogil=True)
def trace_back(level: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
               end: int) -> np.ndarray:
    """One longest path ending at `end`, from a leaf to `end` (gate ids, leaf excluded)."""
    path = np.empty(level[end], dtype=np.int64)
    node = end
    for k in range(level[end] - 1, -1, -1):
        path[k] = node
        want = level[node] - 1
        if level[a[node]] == want:
            node = a[node]
        elif b[node] >= 0 and level[b[node]] == want:
            node = b[node]
        else:
            node = c[node]
    return path


@numba.njit(cache=True, nogil=True)
def state_support(op: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                  arity: np.ndarray, slot: np.ndarray, n_slots: int) -> np.ndarray:
    """Bitsets (rows x words): which state slots each row depends on (slot[i] < 0: none)."""
    words = (n_slots + 63) // 64
    bits = np.zeros((len(op), words), dtype=np.uint64)
    for i in range(len(op)):
        if arity[op[i]] == 0:
            if slot[i] >= 0:
                bits[i, slot[i] // 64] |= np.uint64(1) << np.uint64(slot[i] % 64)
            continue
        for w in range(words):
            word = bits[a[i], w]
            if arity[op[i]] >= 2:
                word |= bits[b[i], w]
            if arity[op[i]] >= 3:
                word |= bits[c[i], w]
            bits[i, w] = word
    return bits


@numba.njit(cache=True, nogil=True)
def compact(op, a, b, c, step, node, arity, keep):
    """Copy the kept rows forward, renumbering operands; returns the columns and old->new ids."""
    new_id = np.full(len(op), -1, dtype=np.int32)
    count = 0
    for i in range(len(op)):
        if keep[i]:
            new_id[i] = count
            count += 1
    out_op = np.empty(count, dtype=op.dtype)
    out_a = np.empty(count, dtype=np.int32)
    out_b = np.empty(count, dtype=np.int32)
    out_c = np.empty(count, dtype=np.int32)
    out_step = np.empty(count, dtype=np.int32)
    out_node = np.empty(count, dtype=np.int32)
    for i in range(len(op)):
        j = new_id[i]
        if j < 0:
            continue
        k = arity[op[i]]
        out_op[j] = op[i]
        out_a[j] = new_id[a[i]] if k >= 1 else a[i]
        out_b[j] = new_id[b[i]] if k >= 2 else b[i]
        out_c[j] = new_id[c[i]] if k >= 3 else c[i]
        out_step[j] = step[i]
        out_node[j] = node[i]
    return out_op, out_a, out_b, out_c, out_step, out_node, new_id
