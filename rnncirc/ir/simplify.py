"""Structural hashing and dead-gate removal, vectorized level by level.

Two gates with the same op and the same (canonical) operands compute the same value; they also
sit on the same level, because a gate's level is a function of its operands. So hashing one
level at a time with ``np.unique`` over packed keys finds every duplicate with O(depth) numpy
calls and no per-gate Python. Gates no output depends on are then dropped, keeping order.
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.levels import compute_levels, live_mask
from rnncirc.ir.ops import ARITY, IS_COMMUTATIVE


def simplify(rows: dict[str, np.ndarray], outputs: np.ndarray) -> tuple[dict, np.ndarray]:
    """Merge structurally equal rows and drop dead ones; return (rows, remapped outputs).

    `rows` holds equal-length arrays ``op, a, b, c, node`` in topological order, leaves
    carrying their payload in ``a``. The result keeps that layout and order.
    """
    op, a, b, c = rows["op"], rows["a"].copy(), rows["b"].copy(), rows["c"].copy()
    arity = ARITY[op]
    level = compute_levels(op, a, b, c, ARITY)
    canon = np.arange(len(op), dtype=np.int64)
    order = np.argsort(level, kind="stable")
    bounds = np.flatnonzero(np.diff(level[order])) + 1
    for idx in np.split(order, bounds):
        if len(idx) == 0:
            continue
        if level[idx[0]] > 0:
            for operand, used in ((a, arity[idx] >= 1), (b, arity[idx] >= 2),
                                  (c, arity[idx] >= 3)):
                operand[idx[used]] = canon[operand[idx[used]]]
            swap = IS_COMMUTATIVE[op[idx]] & (a[idx] > b[idx])
            a[idx[swap]], b[idx[swap]] = b[idx[swap]], a[idx[swap]]
        keys = np.stack([op[idx].astype(np.int64), a[idx], b[idx], c[idx]], axis=1)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        canon[idx] = idx[first][inverse.ravel()]
    outputs = canon[np.asarray(outputs, dtype=np.int64)]
    keep = live_mask(op, a, b, c, ARITY, outputs.ravel()) & (canon == np.arange(len(op)))
    new_id = np.cumsum(keep) - 1
    kept_arity = arity[keep]
    result = {"op": op[keep], "node": rows["node"][keep]}
    for name, operand, need in (("a", a, 1), ("b", b, 2), ("c", c, 3)):
        column = operand[keep]
        used = kept_arity >= need
        column[used] = new_id[column[used]]
        result[name] = column
    return result, new_id[outputs]
