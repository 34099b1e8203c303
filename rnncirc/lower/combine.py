"""Structure-aware combines of affine pairs, (A2, B2) o (A1, B1) = (A2 A1, A2 B1 + B2).

Each *algebra* stores the A part of every prefix value in its own structured form and
implements two vectorized operations over a whole batch of combines: ``apply(right, X)``
(the terms of A_right X, summed with B_right by the caller in one balanced tree) and
``compose(right, left, results)`` (A_right A_left, stored for `results`). Ids always carry
a leading batch axis P (one entry per combine). This module holds the per-value `Store`, the
batched products and the algebras of the other kinds; the permutation-diagonal ones (the
permutation, one-hot and per-symbol rows of the table) are in `lower.combine_permutation`, the
max-plus matrix in `lower.semiring_dense`. Costs per combine (m = reduced state size):

========================  ==========================  ==================================
algebra                   A2 A1                        A2 X (per column of X)
========================  ==========================  ==================================
scalar (a I)              1 mul                        m mul
diagonal                  m mul                        m mul
permutation (static)      m mul, permutation = wiring  m mul (gather is wiring)
permutation (per symbol)  4 C select, m mul            2 C select, m mul; 8 C once (C below)
one-hot (index a value)   4 m^2 + m; m^2 EQ once       2 m^2 (m^2 EQ once per value)
one-hot columns (static)  m mul, f = wiring            m mul, adds where columns meet
complex diagonal (2x2)    4 mul + 2 add per block      2 mul + 1 add per entry
max-plus (semiring)       m add                        m add, m max
max-plus matrix (dense)   m^3 add, m^2 (m-1) max       m^2 add, m^2 max (semiring_dense)
dplr, rank r1, r2         ~2 m r1 r2 + m (r1 + r2)    m (2 r + 1)
dense                     m^3 mul, m^2 (m-1) add       m^2 mul
========================  ==========================  ==================================

A per-symbol permutation is a value in the circuit, so it moves by sorting networks (Batcher's
odd-even merge sort, `lower.sorting`): C = O(m log^2 m) comparators (19 for m = 8, 63 for 16,
543 for 64), each a GT decision plus MIN/MAX keys ("8 C": the two key networks a right operand
builds, see `combine_permutation.SymbolPermutationAlgebra`) and two SELECTs per payload sorted;
depth O(log^2 m) per combine. (AKS would give m log m comparators, with impractical constants.)
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op


class Store:
    """Per-value arrays of ids, filled a batch of values at a time (value ids index it)."""

    def __init__(self, capacity: int, shapes: dict[str, tuple[int, ...]]):
        self.fields = {name: np.full((capacity,) + shape, -1, dtype=np.int32)
                       for name, shape in shapes.items()}

    def put(self, values: np.ndarray, **fields) -> None:
        for name, ids in fields.items():
            self.fields[name][values] = ids

    def get(self, values: np.ndarray, name: str) -> np.ndarray:
        return self.fields[name][values].astype(np.int64)


def matmul_ids(builder: GateBuilder, left: np.ndarray, right: np.ndarray,
               extra: list[np.ndarray] = ()) -> np.ndarray:
    """Batched ``left @ right`` (+ extra terms), each entry one balanced adder tree."""
    p, a, b = left.shape
    c = right.shape[2]
    products = builder.gates(Op.MUL, np.broadcast_to(left[:, :, :, None], (p, a, b, c)),
                             np.broadcast_to(right[:, None, :, :], (p, a, b, c)))
    terms = np.moveaxis(products, 2, 3).reshape(p, a, c, b)
    if extra:
        terms = np.concatenate([terms] + [e[..., None] for e in extra], axis=3)
    return builder.sum_rows(terms.reshape(p * a * c, -1)).reshape(p, a, c)


def scaled_terms(builder: GateBuilder, scale: np.ndarray, x: np.ndarray) -> np.ndarray:
    """scale[p, i] * x[p, i, c] as product ids (P, m, c)."""
    return builder.gates(Op.MUL, np.broadcast_to(scale[:, :, None], x.shape), x)


class ScalarAlgebra:
    """A = a I: one multiplication composes two maps."""

    def __init__(self, builder: GateBuilder, m: int, capacity: int):
        self.builder, self.m = builder, m
        self.store = Store(capacity, {"a": ()})

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, a=leaves["diag"])

    def apply_terms(self, right, x):
        a = self.store.get(right, "a")
        scale = np.broadcast_to(a[:, None], x.shape[:2])
        return [scaled_terms(self.builder, scale, x)]

    def compose(self, right, left, results) -> None:
        a = self.builder.gates(Op.MUL, self.store.get(right, "a"), self.store.get(left, "a"))
        self.store.put(results, a=a)


class DiagonalAlgebra(ScalarAlgebra):
    """A = diag(d): elementwise."""

    def __init__(self, builder: GateBuilder, m: int, capacity: int):
        self.builder, self.m = builder, m
        self.store = Store(capacity, {"d": (m,)})

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, d=leaves["diag"])

    def apply_terms(self, right, x):
        return [scaled_terms(self.builder, self.store.get(right, "d"), x)]

    def compose(self, right, left, results) -> None:
        d = self.builder.gates(Op.MUL, self.store.get(right, "d"), self.store.get(left, "d"))
        self.store.put(results, d=d)


class ComplexDiagonalAlgebra:
    """2x2 rotation-scaling blocks [[a, -b], [b, a]] on rows (first, second) of each block: a
    diagonal over the complex numbers, a + ib. Composing is a complex product (4 mul, 2 add per
    block) and A X costs 2 mul and 1 add per entry: elementwise, as for a diagonal. A 1x1
    block (first == second) has b = 0, which folds away."""

    WIRING_FIELDS = ()

    def __init__(self, builder: GateBuilder, m: int, capacity: int, blocks: np.ndarray):
        self.builder, self.m = builder, m
        self.first, self.second = blocks[:, 0], blocks[:, 1]
        self.pair = self.first != self.second
        q = len(blocks)
        self.store = Store(capacity, {"a": (q,), "b": (q,)})

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, a=leaves["diag"], b=leaves["coef"])

    def apply_terms(self, right, x):
        bld = self.builder
        a, b = self.store.get(right, "a"), self.store.get(right, "b")
        xi, xj = x[:, self.first], x[:, self.second]
        # y_first = a x_first - b x_second, y_second = b x_first + a x_second
        top = bld.gates(Op.SUB, scaled_terms(bld, a, xi), scaled_terms(bld, b, xj))
        out = np.empty_like(x)
        out[:, self.first] = top
        pair = self.pair
        bottom = bld.gates(Op.ADD, scaled_terms(bld, b[:, pair], xi[:, pair]),
                           scaled_terms(bld, a[:, pair], xj[:, pair]))
        out[:, self.second[pair]] = bottom
        return [out]

    def compose(self, right, left, results) -> None:
        bld = self.builder
        a2, b2 = self.store.get(right, "a"), self.store.get(right, "b")
        a1, b1 = self.store.get(left, "a"), self.store.get(left, "b")
        a = bld.gates(Op.SUB, bld.gates(Op.MUL, a2, a1), bld.gates(Op.MUL, b2, b1))
        b = bld.gates(Op.ADD, bld.gates(Op.MUL, a2, b1), bld.gates(Op.MUL, b2, a1))
        self.store.put(results, a=a, b=b)


class MaxPlusAlgebra:
    """Elementwise maps h -> max(h + a, b) over the (max, +) semiring, or (min, +): + is the
    product and `join` (max or min) the sum, so A X is one ADD per entry, joined with B by one
    MAX (`join_terms`), and composing adds the a's (`lower.semiring`)."""

    def __init__(self, builder: GateBuilder, m: int, capacity: int, join: Op):
        self.builder, self.m, self.join = builder, m, join
        self.store = Store(capacity, {"d": (m,)})

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, d=leaves["diag"])

    def apply_terms(self, right, x):
        d = self.store.get(right, "d")
        return [self.builder.gates(Op.ADD, np.broadcast_to(d[:, :, None], x.shape), x)]

    def compose(self, right, left, results) -> None:
        d = self.builder.gates(Op.ADD, self.store.get(right, "d"), self.store.get(left, "d"))
        self.store.put(results, d=d)

    def join_terms(self, terms: list[np.ndarray]) -> np.ndarray:
        total = terms[0]
        for term in terms[1:]:
            total = self.builder.gates(self.join, total, term)
        return total


class DenseAlgebra:
    """A as an explicit m x m matrix: matrix products with balanced sums."""

    def __init__(self, builder: GateBuilder, m: int, capacity: int):
        self.builder, self.m = builder, m
        self.store = Store(capacity, {"A": (m, m)})

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, A=leaves["dense"])

    def apply_terms(self, right, x):
        a = self.store.get(right, "A")
        p, m, c = x.shape
        products = self.builder.gates(Op.MUL, np.broadcast_to(a[:, :, :, None], (p, m, m, c)),
                                      np.broadcast_to(x[:, None, :, :], (p, m, m, c)))
        return [np.moveaxis(products, 2, 3)]  # (P, m, c, m): m terms per entry

    def compose(self, right, left, results) -> None:
        a = matmul_ids(self.builder, self.store.get(right, "A"), self.store.get(left, "A"))
        self.store.put(results, A=a)


class DplrAlgebra:
    """A = diag(d) + U V^T, kept low-rank while that is cheaper than dense.

    (D2 + U2 V2^T)(D1 + U1 V1^T) = D2 D1 + [D2 U1 + U2 (V2^T U1), U2] [V1, D1 V2]^T, so ranks add.
    Ranks are padded to `max_rank` columns with the constant 0, which the builder folds away,
    so one vectorized combine serves values of different ranks. A combine whose result would
    exceed `max_rank` (about m/2, where the dense product becomes cheaper) is done densely.
    """

    #: fields whose constant zeros are rank padding, which no product reads (`lower.measure`)
    PADDING_FIELDS = ("u", "v")

    def __init__(self, builder: GateBuilder, m: int, capacity: int, rank: int):
        self.builder, self.m = builder, m
        self.max_rank = max(rank, m // 2)
        self.store = Store(capacity, {"d": (m,), "u": (m, self.max_rank),
                                      "v": (m, self.max_rank), "A": (m, m)})
        self.rank = np.zeros(capacity, dtype=np.int64)
        self.is_dense = np.zeros(capacity, dtype=bool)
        self.zero = int(builder.const(0.0))
        self.first_dense_level: int | None = None
        self.level = 0

    def put_leaves(self, values, leaves: dict) -> None:
        r = leaves["u"].shape[-1]
        pad = np.full((len(values), self.m, self.max_rank - r), self.zero)
        self.store.put(values, d=leaves["diag"],
                       u=np.concatenate([leaves["u"], pad], axis=2),
                       v=np.concatenate([leaves["v"], pad], axis=2))
        self.rank[values] = r

    def _dense_of(self, values) -> np.ndarray:
        """A of `values` as m x m ids (converting low-rank ones)."""
        out = self.store.get(values, "A").copy()
        low = ~self.is_dense[values]
        if low.any():
            v = values[low]
            d, u, w = (self.store.get(v, name) for name in ("d", "u", "v"))
            eye = np.eye(self.m, dtype=bool)[None, :, :]
            diag_terms = np.where(eye, d[:, :, None], self.zero)
            out[low] = matmul_ids(self.builder, u, np.swapaxes(w, 1, 2), [diag_terms])
        return out

    def apply_terms(self, right, x):
        p, m, c = x.shape
        terms = []
        dense = self.is_dense[right]
        if dense.any():
            a = self.store.get(right[dense], "A")
            q = int(dense.sum())
            products = self.builder.gates(
                Op.MUL, np.broadcast_to(a[:, :, :, None], (q, m, m, c)),
                np.broadcast_to(x[dense][:, None, :, :], (q, m, m, c)))
            # low-rank rows get zero-padding so every entry has the same number of terms
            block = np.full((p, m, c, m), self.zero)
            block[dense] = np.moveaxis(products, 2, 3)
            terms.append(block)
        low = np.flatnonzero(~dense)
        if len(low):
            block = np.full((p, m, c, self.max_rank + 1), self.zero)
            ranks = self.rank[right[low]]
            for r in np.unique(ranks):  # group by rank: no products with the zero padding
                rows = low[ranks == r]
                rv = right[rows]
                d = self.store.get(rv, "d")
                u = self.store.get(rv, "u")[:, :, :r]
                v = self.store.get(rv, "v")[:, :, :r]
                xs = x[rows]
                w = matmul_ids(self.builder, np.swapaxes(v, 1, 2), xs)  # (q, r, c) = V^T X
                q = len(rows)
                products = self.builder.gates(
                    Op.MUL, np.broadcast_to(u[:, :, :, None], (q, m, r, c)),
                    np.broadcast_to(w[:, None, :, :], (q, m, r, c)))
                block[rows, :, :, :r] = np.moveaxis(products, 2, 3)
                block[rows, :, :, self.max_rank] = scaled_terms(self.builder, d, xs)
            terms.append(block)
        return terms

    def compose(self, right, left, results) -> None:
        new_rank = self.rank[right] + self.rank[left]
        dense = self.is_dense[right] | self.is_dense[left] | (new_rank > self.max_rank)
        if dense.any():
            if self.first_dense_level is None:
                self.first_dense_level = self.level
            a = matmul_ids(self.builder, self._dense_of(right[dense]),
                           self._dense_of(left[dense]))
            self.store.put(results[dense], A=a)
            self.is_dense[results[dense]] = True
        low = ~dense
        if low.any():
            self._compose_low_rank(right[low], left[low], results[low])

    def _compose_low_rank(self, right, left, results) -> None:
        # one vectorized combine per (rank_right, rank_left) group: slicing to the true ranks
        # keeps the zero padding out of the products
        r1, r2 = self.rank[left], self.rank[right]
        pairs = r1 * (self.max_rank + 1) + r2
        for key in np.unique(pairs):
            group = pairs == key
            self._compose_ranks(right[group], left[group], results[group],
                                int(r1[group][0]), int(r2[group][0]))

    def _compose_ranks(self, right, left, results, r1: int, r2: int) -> None:
        b = self.builder
        d2, d1 = self.store.get(right, "d"), self.store.get(left, "d")
        u2, v2 = self.store.get(right, "u")[:, :, :r2], self.store.get(right, "v")[:, :, :r2]
        u1, v1 = self.store.get(left, "u")[:, :, :r1], self.store.get(left, "v")[:, :, :r1]
        cross = matmul_ids(b, np.swapaxes(v2, 1, 2), u1)  # (P, r2, r1) = V2^T U1
        # U = [D2 U1 + U2 (V2^T U1), U2], V = [V1, D1 V2]: ranks add
        mixed = matmul_ids(b, u2, cross, [scaled_terms(b, d2, u1)])
        p = len(results)
        u = np.full((p, self.m, self.max_rank), self.zero)
        v = np.full((p, self.m, self.max_rank), self.zero)
        u[:, :, :r1], u[:, :, r1:r1 + r2] = mixed, u2
        v[:, :, :r1], v[:, :, r1:r1 + r2] = v1, scaled_terms(b, d1, v2)
        self.store.put(results, d=b.gates(Op.MUL, d2, d1), u=u, v=v)
        self.rank[results] = r1 + r2
