"""The (max, +) / (min, +) matrix combine: a Viterbi or shortest-path recurrence over a finite
state in the prefix networks.

Where this sits: `lower.linear` picks this algebra for a max-plus or min-plus kind whose A is a
matrix (`semiring.semiring_form`, ``dense``). A value's A is an m x m matrix of ids; as in
`combine.DenseAlgebra`, but + is the product and max (min) the sum:

    (A2 (x) A1)_ij = max_k (A2_ik + A1_kj),   (A2 (x) X)_ic = max_k (A2_ik + X_kc)

Each entry is m additions and a balanced max-tree over them, depth 1 + ceil(log2 m). The
semiring zero (-inf for max, +inf for min: an absent transition, or no b; `SemiringForm.absent`)
is never a gate or a constant: its ids are the sentinel SKIP here, and zero + x = zero,
max(zero, x) = x are applied to the ids, so a sparse transition matrix gives a sparse circuit
and a step without b adds nothing to the B parts (a segment that does not start at step 1
then has B = zero; only the prefixes from step 1 are outputs, and h_0 folded into step 1
makes them finite). Only an output that no path reaches becomes the constant -inf (`outputs`).
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op
from rnncirc.lower.combine import Store
from rnncirc.lower.semiring import ZERO

#: the id of the semiring zero inside this algebra (never a row of the circuit)
SKIP = -1


class DenseMaxPlusAlgebra:
    """A as an m x m matrix over (max, +) or (min, +), `join` being max or min; `absent`
    (m, m + 1) marks the entries of A and b (column m) that are the semiring zero."""

    def __init__(self, builder: GateBuilder, m: int, capacity: int, join: Op,
                 absent: np.ndarray):
        self.builder, self.m, self.join = builder, m, join
        self.absent = absent
        self.store = Store(capacity, {"A": (m, m)})

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, A=np.where(self.absent[:, :self.m], SKIP, leaves["dense"]))

    def offsets(self, offset: np.ndarray) -> np.ndarray:
        """The leaves' B parts (n, m, c) with the absent entries of b skipped."""
        return np.where(self.absent[:, self.m, None], SKIP, offset)

    def outputs(self, out: np.ndarray) -> np.ndarray:
        """Output ids, the semiring zero made a constant where no path reaches a state."""
        missing = out == SKIP
        if not missing.any():
            return out
        return np.where(missing, self.builder.const(ZERO[self.join]), out)

    def _times(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a + b entrywise (broadcast id arrays), the zero where either is the zero."""
        a, b = np.broadcast_arrays(a, b)
        out = np.full(a.shape, SKIP, dtype=np.int64)
        live = (a != SKIP) & (b != SKIP)
        out[live] = self.builder.gates(Op.ADD, a[live], b[live])
        return out

    def apply_terms(self, right, x):
        a = self.store.get(right, "A")  # (P, m, m)
        # (P, m, c, m): entry (i, c) has the m terms A_ik + X_kc
        return [self._times(a[:, :, None, :], np.swapaxes(x, 1, 2)[:, None, :, :])]

    def compose(self, right, left, results) -> None:
        a2, a1 = self.store.get(right, "A"), self.store.get(left, "A")
        # (P, m, m, m): entry (i, j) has the m terms A2_ik + A1_kj
        terms = self._times(a2[:, :, None, :], np.swapaxes(a1, 1, 2)[:, None, :, :])
        p, m = terms.shape[:2]
        self.store.put(results, A=self.join_rows(terms.reshape(p * m * m, m)).reshape(p, m, m))

    def join_terms(self, terms: list[np.ndarray]) -> np.ndarray:
        blocks = [t if t.ndim == 4 else t[..., None] for t in terms]
        stacked = np.concatenate(blocks, axis=3)
        p, m, c, k = stacked.shape
        return self.join_rows(stacked.reshape(p * m * c, k)).reshape(p, m, c)

    def join_rows(self, terms: np.ndarray) -> np.ndarray:
        """A balanced max (min) tree over each row's terms, the zero dropped first: a row of k
        present terms costs k - 1 gates at depth ceil(log2 k); a row of none is the zero."""
        live = terms != SKIP
        order = np.argsort(~live, axis=1, kind="stable")  # present terms first, in order
        rows = np.take_along_axis(terms, order, axis=1)
        alive = np.take_along_axis(live, order, axis=1)
        while rows.shape[1] > 1:
            if rows.shape[1] % 2:
                rows = np.concatenate([rows, np.full((len(rows), 1), SKIP)], axis=1)
                alive = np.concatenate([alive, np.zeros((len(rows), 1), dtype=bool)], axis=1)
            left, right = rows[:, 0::2], rows[:, 1::2]
            both = alive[:, 0::2] & alive[:, 1::2]
            merged = np.where(alive[:, 0::2], left, right)
            merged[both] = self.builder.gates(self.join, left[both], right[both])
            rows, alive = merged, alive[:, 0::2] | alive[:, 1::2]
        return rows[:, 0] if rows.shape[1] else np.full(len(rows), SKIP)
