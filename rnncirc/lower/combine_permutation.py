"""Permutation-diagonal combines: the combine algebras (`lower.combine`) whose A moves rows.

Where this sits: `lower.linear` combines a ``permutation-diagonal`` kind (`lower.kinds`) in one of
these, with the same two batched operations as every algebra in `lower.combine` (``apply_terms``
and ``compose``) and its `Store` and batched products. Row j of A reads r[perm[j]] with weight
coef[j] (or column q moves to row f[q]). A fixed index is wiring (`PermutationAlgebra`,
`ScatterAlgebra`); an index that is a value in the circuit is gathered by sums of one-hot
products (`FunctionAlgebra`), or, for a permutation chosen by the input symbol, moved by sorting
networks (`SymbolPermutationAlgebra`, `lower.sorting`). Their costs per combine are in the table
of `lower.combine`.
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op
from rnncirc.lower import sorting
from rnncirc.lower.combine import Store, matmul_ids, scaled_terms


class PermutationAlgebra:
    """Row j of A reads r[perm[j]] with weight coef[j]; a static permutation is wiring."""

    #: fields that hold positions, not gate ids (see `lower.measure`)
    WIRING_FIELDS = ("perm",)

    def __init__(self, builder: GateBuilder, m: int, capacity: int):
        self.builder, self.m = builder, m
        self.store = Store(capacity, {"coef": (m,), "perm": (m,)})

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, coef=leaves["coef"],
                       perm=np.broadcast_to(leaves["perm"], (len(values), self.m)))

    def apply_terms(self, right, x):
        perm = self.store.get(right, "perm")
        moved = np.take_along_axis(x, perm[:, :, None], axis=1)
        return [scaled_terms(self.builder, self.store.get(right, "coef"), moved)]

    def compose(self, right, left, results) -> None:
        # (A2 A1 r)[j] = coef2[j] coef1[perm2[j]] r[perm1[perm2[j]]]
        perm2 = self.store.get(right, "perm")
        coef1 = np.take_along_axis(self.store.get(left, "coef"), perm2, axis=1)
        perm = np.take_along_axis(self.store.get(left, "perm"), perm2, axis=1)
        coef = self.builder.gates(Op.MUL, self.store.get(right, "coef"), coef1)
        self.store.put(results, coef=coef, perm=perm)


class ScatterAlgebra:
    """Column q of A moves to row f[q] with weight coef[q], f fixed: a one-hot column matrix
    (a reset, a flip-flop), rows summing what lands on them. f is wiring, as for a
    permutation; (A2 A1)[:, q] moves to f2[f1[q]] with weight coef2[f1[q]] coef1[q]."""

    WIRING_FIELDS = ("perm",)

    def __init__(self, builder: GateBuilder, m: int, capacity: int):
        self.builder, self.m = builder, m
        self.store = Store(capacity, {"coef": (m,), "perm": (m,)})
        self.zero = int(builder.const(0.0))

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, coef=leaves["coef"],
                       perm=np.broadcast_to(leaves["perm"], (len(values), self.m)))

    def apply_terms(self, right, x):
        f = self.store.get(right, "perm")
        moved = scaled_terms(self.builder, self.store.get(right, "coef"), x)  # (P, m, c)
        lands = f[:, None, :] == np.arange(self.m)[None, :, None]  # (P, row, column)
        terms = np.where(lands[:, :, None, :], np.moveaxis(moved, 1, 2)[:, None, :, :],
                         self.zero)
        return [terms]  # (P, m, c, m): zeros fold away in the sums

    def compose(self, right, left, results) -> None:
        f1 = self.store.get(left, "perm")
        coef2 = np.take_along_axis(self.store.get(right, "coef"), f1, axis=1)
        coef = self.builder.gates(Op.MUL, coef2, self.store.get(left, "coef"))
        self.store.put(results, coef=coef,
                       perm=np.take_along_axis(self.store.get(right, "perm"), f1, axis=1))


class FunctionAlgebra:
    """A one-hot row (or column) matrix whose positions are values in the circuit: chosen by
    an input symbol (a DFA's transitions, not bijective) or by `rc.where`.

    Row form: row j reads r[f[j]] with weight coef[j]; column form: column q moves to row f[q].
    Index values are exact small integers, so a value's indicator e[j, i] = (f[j] == i) is m^2
    EQ gates, built once per value when it is first used. With it, gathers by f are sums of
    products: A X is 2 m^2 gates per column of X, and the composite indices and weights
    (row: f1[f2[j]], coef2[j] coef1[f2[j]]; column: f2[f1[q]], coef2[f1[q]] coef1[q]) are
    4 m^2 + m, against 2 m^3 for the dense product. The price is depth: the EQ puts one more
    gate per level on the chain of composite indices than a dense product has.
    """

    def __init__(self, builder: GateBuilder, m: int, capacity: int, orient: str):
        self.builder, self.m, self.orient = builder, m, orient
        self.store = Store(capacity, {"coef": (m,), "f": (m,), "e": (m, m)})
        self._has_e = np.zeros(capacity, dtype=bool)
        self.positions = builder.const(np.arange(float(m)))

    def put_leaves(self, values, leaves: dict) -> None:
        self.store.put(values, coef=leaves["coef"], f=leaves["index"])

    def _indicators(self, values) -> np.ndarray:
        new = np.unique(values[~self._has_e[values]])
        if len(new):
            f = self.store.get(new, "f")
            e = self.builder.gates(Op.EQ, np.broadcast_to(f[:, :, None], f.shape + (self.m,)),
                                   np.broadcast_to(self.positions, f.shape + (self.m,)))
            self.store.put(new, e=e)
            self._has_e[new] = True
        return self.store.get(values, "e")

    def _gather(self, e: np.ndarray, payload: np.ndarray) -> np.ndarray:
        """payload[p, f[p, j]] for every j, as sum_i e[p, j, i] payload[p, i]."""
        return matmul_ids(self.builder, e, payload[:, :, None])[:, :, 0]

    def apply_terms(self, right, x):
        e = self._indicators(right)
        coef = self.store.get(right, "coef")
        p, m, c = x.shape
        if self.orient == "row":
            moved = matmul_ids(self.builder, e, x)  # x[f[j]]
            return [scaled_terms(self.builder, coef, moved)]
        weighted = scaled_terms(self.builder, coef, x)  # coef[q] x[q], then lands on f[q]
        products = self.builder.gates(Op.MUL, np.broadcast_to(
            np.swapaxes(e, 1, 2)[:, :, :, None], (p, m, m, c)),
            np.broadcast_to(weighted[:, None, :, :], (p, m, m, c)))
        return [np.moveaxis(products, 2, 3)]

    def compose(self, right, left, results) -> None:
        b = self.builder
        coef2, coef1 = self.store.get(right, "coef"), self.store.get(left, "coef")
        f2, f1 = self.store.get(right, "f"), self.store.get(left, "f")
        if self.orient == "row":
            e2 = self._indicators(right)
            f, coef = self._gather(e2, f1), b.gates(Op.MUL, coef2, self._gather(e2, coef1))
        else:
            e1 = self._indicators(left)
            f, coef = self._gather(e1, f2), b.gates(Op.MUL, coef1, self._gather(e1, coef2))
        self.store.put(results, coef=coef, f=f)


class SymbolPermutationAlgebra:
    """Permutation chosen by the input: the indices are values in the circuit, moved by sorts.

    Row j of A reads r[perm[j]] with weight coef[j]. A gather y[j] = x[perm[j]] is a scatter of
    x[i] to position inv[i] (inv the inverse of perm), i.e. a sort of the pairs (inv[i], x[i])
    by key: Batcher's network (`lower.sorting`), O(m log^2 m) comparators. The swap decisions
    are shared by every payload sorted by the same keys.

    Composing needs perm of the left factor (A2 A1 r)[j] = coef2[j] coef1[perm2[j]] r[perm1[perm2
    [j]]] and inv of the right one (inv = inv2[inv1[k]], a scatter of inv2 keyed by perm1). So a
    value is kept as a factorization perm = pl o ir^-1 (`pl` = perm of its left operand, `ir` =
    inv of its right operand, with `dec`, the decisions of the sort keyed by ir) and each operand
    finishes the half it needs when it is used: as a right operand its inv is sorted out of
    (pl, ir) (each value is the right operand of at most one combine), as a left operand its perm
    is pl sorted by dec. Building both halves when the value is made would leave one of them
    unread (dropped as dead) depending on how the value is used later, so the size per combine
    would depend on the network's shape and no exact size formula in n would exist; this way
    every combine costs the same.

    Leaves are (pl = perm, ir = identity); their keys are 1..m read through the one-hot inputs
    (see `lower.linear._leaves`, the identity too) so that no key is a constant that would fold
    a comparator away at the leaves and not above them (again: equal cost at every level).
    """

    def __init__(self, builder: GateBuilder, m: int, capacity: int):
        self.builder, self.m = builder, m
        self.network = sorting.SortingNetwork(m)
        c = self.network.size
        self.store = Store(capacity, {"coef": (m,), "pl": (m,), "ir": (m,), "dec": (c,),
                                      "inv": (m,), "inv_dec": (c,)})
        self._has_inv = np.zeros(capacity, dtype=bool)

    def put_leaves(self, values, leaves: dict) -> None:
        # one identity (and its sort decisions) shared by every leaf: built per leaf, it would
        # be read only by the leaves used as one kind of operand (see the class docstring)
        ident = leaves["ident"][None, :]
        p = len(values)
        self.store.put(values, coef=leaves["coef"], pl=leaves["perm"],
                       ir=np.broadcast_to(ident, (p, self.m)),
                       dec=np.broadcast_to(self.network.decisions(self.builder, ident),
                                           (p, self.network.size)))

    def _sort(self, decisions: np.ndarray, payload: np.ndarray) -> np.ndarray:
        return self.network.apply(self.builder, decisions, payload[:, :, None])[:, :, 0]

    def _as_right(self, values) -> np.ndarray:
        """Decisions gathering by perm of each value (its inv as keys), built on first use."""
        new = np.unique(values[~self._has_inv[values]])
        if len(new):
            b, net = self.builder, self.network
            # inv = ir o pl^-1: ir scattered to the positions pl
            inv = self._sort(net.decisions(b, self.store.get(new, "pl")),
                             self.store.get(new, "ir"))
            self.store.put(new, inv=inv, inv_dec=net.decisions(b, inv))
            self._has_inv[new] = True
        return self.store.get(values, "inv_dec")

    def apply_terms(self, right, x):
        moved = self.network.apply(self.builder, self._as_right(right), x)
        return [scaled_terms(self.builder, self.store.get(right, "coef"), moved)]

    def compose(self, right, left, results) -> None:
        by_inv2 = self._as_right(right)  # built by apply_terms of the same combine
        coef1 = self._sort(by_inv2, self.store.get(left, "coef"))  # coef1[perm2[j]]
        coef = self.builder.gates(Op.MUL, self.store.get(right, "coef"), coef1)
        perm1 = self._sort(self.store.get(left, "dec"), self.store.get(left, "pl"))
        # A2 A1 = perm1 o perm2 = perm1 o inv2^-1: left factor perm1, right factor inv2
        self.store.put(results, coef=coef, pl=perm1, ir=self.store.get(right, "inv"),
                       dec=by_inv2)
