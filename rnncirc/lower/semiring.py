"""Recurrences linear over the (max, +) or (min, +) semiring: a running max, m_t = max(m_{t-1}
+ a(x_t), b(x_t)) (the mLSTM stabilizer) elementwise, and over a finite state the Viterbi
recurrence m_t[i] = max_j (m_{t-1}[j] + W(x_t)[i, j]) (min: shortest paths), with or without b.

Where this sits: `classify` asks this module about a step that `linearity` found nonlinear over
the reals. If every element of h_t is max(max_j (h_{t-1}[j] + A_ij(x_t)), b_i(x_t)) (min for
min-plus; any entry of A, and any b_i, may be absent), the step is an affine map over the
semiring (+ is its product, max its sum, "absent" its zero -inf), whose maps compose
associatively:

    (A2, b2) o (A1, b1) = (A2 (x) A1, max(A2 (x) b1, b2)),  (A2 (x) A1)_ij = max_k A2_ik + A1_kj

so the same prefix networks rebuild it in log depth, with + and max gates: elementwise when A
is diagonal and b is everywhere (`combine.MaxPlusAlgebra`), as a (max, +) matrix product
otherwise (`semiring_dense.DenseMaxPlusAlgebra`). The step is put in that normal form from its
graph, exactly as `jacobian` extracts A(x): each node is tracked as (A, b) with the entries
present known at trace time; the state enters through h, through wiring (indexing,
broadcasting, concatenation with state-free values: `x.max(axis=...)` over a broadcast sum is
wiring and maxima), through adding or subtracting a state-free value, and through a max of two
such forms or of a form and a state-free value. Anything else (a product, a max mixed with a
min, h + h, f - h) is left to the unroll.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnncirc.frontend.tracer import Sym, elementwise, gather
from rnncirc.ir.cell import CellBuilder, CellGraph
from rnncirc.ir.ops import Op

#: the kind for each semiring sum
KINDS = {Op.MAX: "max-plus", Op.MIN: "min-plus"}
#: the semiring zero of each sum (an absent entry): max(x, -inf) = x, x + -inf = -inf
ZERO = {Op.MAX: -np.inf, Op.MIN: np.inf}


@dataclass(frozen=True)
class Form:
    """A node as max(max_j (h[j] + a[..., j]), b) over the flat state h (entries present only
    where `has_a` / `has_b` say; the others hold any value)."""

    a: Sym  # node.shape + (m,)
    has_a: np.ndarray  # bool, node.shape + (m,)
    b: Sym  # node.shape
    has_b: np.ndarray  # bool, node.shape
    #: -1 / +1 where an entry of a is known to be -inf / +inf (a constant: log 0, a forbidden
    #: transition), 0 elsewhere: a max (min) drops its -inf (+inf) entries as absent
    inf_a: np.ndarray  # int8, node.shape + (m,)


@dataclass(frozen=True)
class SemiringForm:
    """What `classify` needs: the kind, the affine step (b as offset), and A: the diagonal
    (m,) when `absent` is None, else the (m, m) matrix, with `absent` (m, m + 1): the
    entries of A (columns 0..m-1) and of b (column m) that are the semiring zero. Those hold
    0 in the tensors: the zero is never a constant of the circuit (an infinity cannot be
    lowered to fixed-width integers), the combine skips them instead
    (`semiring_dense.DenseMaxPlusAlgebra`)."""

    kind: str
    affine: object  # jacobian.AffineStep
    a: Sym
    absent: np.ndarray | None


def semiring_form(cell: CellGraph) -> SemiringForm | None:
    """The step in semiring normal form, or None when it is not one."""
    from rnncirc.lower.jacobian import AffineStep, _replay_value

    builder = CellBuilder()
    value: dict[int, Sym] = {}
    form: dict[int, Form] = {}
    join = None
    x = None
    m = cell.state.size
    for node in cell.live_nodes():
        if node.op == "state":
            has_a = np.eye(m, dtype=bool).reshape(node.shape + (m,))
            form[node.id] = Form(_const(builder, np.zeros(node.shape + (m,))), has_a,
                                 _const(builder, np.zeros(node.shape)),
                                 np.zeros(node.shape, dtype=bool), np.zeros(has_a.shape, np.int8))
            continue
        if node.op == "input":
            x = value[node.id] = Sym(builder.node("input", node.shape), builder)
            continue
        if not any(o.id in form for o in node.operands):
            value[node.id] = _replay_value(node, value, builder)
            continue
        if node.op in KINDS:
            if join not in (None, node.op):
                return None  # max and min together: not one semiring
            join = node.op
        step = _step(node, value, form, builder, m)
        if step is None:
            return None
        form[node.id] = step
    out = form.get(cell.output.id)
    if join is None or out is None:
        return None
    if x is None:
        x = Sym(builder.node("input", cell.input.shape), builder)
    side = "vector" if len(cell.state_shape) == 1 else "flat"
    zero = _const(builder, np.zeros(1))
    has_a = (out.has_a & (out.inf_a != np.sign(ZERO[join]))).reshape(m, m)
    has_b = out.has_b.reshape(m)
    a = _fill(out.a.reshape(m, m), has_a, zero)
    b = _fill(out.b.reshape(m), has_b, zero).reshape(cell.state_shape)
    affine = AffineStep(builder, x, b, (), side, m)
    if not has_a[~np.eye(m, dtype=bool)].any() and has_a.diagonal().all() and has_b.all():
        return SemiringForm(KINDS[join], affine, a[np.arange(m), np.arange(m)], None)
    return SemiringForm(KINDS[join], affine, a, ~np.concatenate([has_a, has_b[:, None]], 1))


def _const(builder: CellBuilder, values: np.ndarray) -> Sym:
    return Sym(builder.const(values), builder)


def _fill(sym: Sym, present: np.ndarray, zero: Sym) -> Sym:
    """`sym` where `present`, 0 elsewhere (`SemiringForm.absent` marks those)."""
    if present.all():
        return sym
    index = np.where(present, np.arange(sym.size).reshape(sym.shape), sym.size)
    return gather([sym.reshape(-1), zero], index)


def _free(sym: Sym, builder: CellBuilder, m: int) -> Form:
    """A state-free value as a form: b only."""
    return Form(_const(builder, np.zeros(sym.shape + (m,))), np.zeros(sym.shape + (m,), bool),
                sym, np.ones(sym.shape, dtype=bool), np.zeros(sym.shape + (m,), np.int8))


def _step(node, value, form, builder: CellBuilder, m: int) -> Form | None:
    """The normal form of a node from its operands' forms, or None."""
    op = node.op
    if op == "gather":
        parts = [form[o.id] if o.id in form else _free(value[o.id], builder, m)
                 for o in node.operands]
        pick = node.arg
        rows = pick[..., None] * m + np.arange(m)
        return Form(gather([p.a for p in parts], rows),
                    np.concatenate([p.has_a.ravel() for p in parts])[rows],
                    gather([p.b for p in parts], pick),
                    np.concatenate([p.has_b.ravel() for p in parts])[pick],
                    np.concatenate([p.inf_a.ravel() for p in parts])[rows])
    if op in (Op.ADD, Op.SUB):
        dep, free = node.operands
        if dep.id not in form:
            if op == Op.SUB:
                return None  # f - h is not in the semiring
            dep, free = free, dep
        if free.id in form:
            return None  # h + h: a product in the semiring
        f, dep_form = value[free.id], form[dep.id]
        a = elementwise(op, dep_form.a, f.reshape(f.shape + (1,)))
        return Form(a, dep_form.has_a, elementwise(op, dep_form.b, f), dep_form.has_b,
                    _infinite(a, dep_form.inf_a, f, op))
    if op in KINDS:
        left, right = (form[o.id] if o.id in form else _free(value[o.id], builder, m)
                       for o in node.operands)
        zero = np.sign(ZERO[op])
        has_left, has_right = left.has_a & (left.inf_a != zero), right.has_a & (
            right.inf_a != zero)
        return Form(_join(op, left.a, has_left, right.a, has_right), has_left | has_right,
                    _join(op, left.b, left.has_b, right.b, right.has_b),
                    left.has_b | right.has_b,
                    np.where(has_left & ~has_right, left.inf_a,
                             np.where(has_right & ~has_left, right.inf_a, 0)).astype(np.int8))
    return None


def _infinite(a: Sym, before: np.ndarray, f: Sym, op: Op) -> np.ndarray:
    """The known infinities of a + f (a - f): those of a constant sum, else those of a kept
    (a state-free value added to -inf leaves it -inf) and of a constant f; where they clash
    (-inf + inf is NaN) nothing is known and the values decide."""
    def signs(sym: Sym) -> np.ndarray:
        values = np.broadcast_to(sym.node.arg.reshape(sym.shape + (1,) * (a.ndim - sym.ndim)),
                                 a.shape)
        return np.where(np.isinf(values), np.sign(values), 0).astype(np.int8)

    if a.node.op == "const":
        return signs(a)
    if f.node.op != "const":
        return before
    added = signs(f) * (-1 if op == Op.SUB else 1)
    return np.where(before == 0, added, np.where((added == 0) | (added == before), before, 0)
                    ).astype(np.int8)


def _join(op: Op, one: Sym, has_one: np.ndarray, two: Sym, has_two: np.ndarray) -> Sym:
    """Entrywise op(one, two) where both are present, the present one elsewhere."""
    both = has_one & has_two
    if not both.any():
        return one if not has_two.any() else two if not has_one.any() else gather(
            [one.reshape(-1), two.reshape(-1)],
            np.where(has_two, one.size + np.arange(one.size).reshape(one.shape),
                     np.arange(one.size).reshape(one.shape)))
    joined = elementwise(op, one, two)
    if both.all():
        return joined
    flat = np.arange(one.size).reshape(one.shape)
    index = np.where(both, 2 * one.size + flat, np.where(has_two & ~has_one, one.size + flat,
                                                         flat))
    return gather([one.reshape(-1), two.reshape(-1), joined.reshape(-1)], index)
