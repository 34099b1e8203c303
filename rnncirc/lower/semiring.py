"""Recurrences linear over the (max, +) or (min, +) semiring: a running max, m_t = max(m_{t-1}
+ a(x_t), b(x_t)) (the mLSTM stabilizer), elementwise.

Where this sits: `classify` asks this module about a step that `linearity` found nonlinear over
the reals. If every element of h_t is max(h_{t-1}[j] + a_j(x_t), b_j(x_t)) of its own element j
(min for min-plus), the step is an affine map over the semiring (+ is its product, max its
sum), whose maps compose associatively:

    (a2, b2) o (a1, b1) = (a1 + a2, max(b1 + a2, b2))

so the same prefix networks rebuild it in log depth, with + and max gates
(`combine.MaxPlusAlgebra`). The step is put in that normal form from its graph, exactly as
`jacobian` extracts A(x): the state enters through h, through adding or subtracting a state-free
value, and through a max of two such forms or of a form and a state-free value; anything else
(a product, a max mixed with a min, a permutation of the state) is left to the unroll.
"""

from __future__ import annotations

import numpy as np

from rnncirc.frontend.tracer import Sym, elementwise
from rnncirc.ir.cell import CellBuilder, CellGraph
from rnncirc.ir.ops import Op

#: the kind for each semiring sum
KINDS = {Op.MAX: "max-plus", Op.MIN: "min-plus"}


def semiring_form(cell: CellGraph):
    """(kind, AffineStep with b(x) as offset, a(x) as a flat Sym) or None.

    ``a`` and ``b`` are state-free tensors of the state's shape: h_t = max(h_{t-1} + a, b).
    """
    from rnncirc.lower.jacobian import AffineStep, _replay_value

    builder = CellBuilder()
    value: dict[int, Sym] = {}
    form: dict[int, tuple] = {}  # node id -> (a, b or None, state index per element)
    join = None
    x = None
    for node in cell.live_nodes():
        if node.op == "state":
            zeros = Sym(builder.const(np.zeros(node.shape)), builder)
            form[node.id] = (zeros, None, np.arange(node.size).reshape(node.shape))
            continue
        if node.op == "input":
            x = value[node.id] = Sym(builder.node("input", node.shape), builder)
            continue
        if not any(o.id in form for o in node.operands):
            value[node.id] = _replay_value(node, value, builder)
            continue
        step = _step(node, value, form)
        if step is None:
            return None
        if node.op in KINDS:
            if join not in (None, node.op):
                return None  # max and min together: not one semiring
            join = node.op
        form[node.id] = step
    a, b, idx = form.get(cell.output.id, (None, None, None))
    if join is None or b is None or not np.array_equal(idx.ravel(), np.arange(idx.size)):
        return None
    if x is None:
        x = Sym(builder.node("input", cell.input.shape), builder)
    m = idx.size
    side = "vector" if len(cell.state_shape) == 1 else "flat"
    return KINDS[join], AffineStep(builder, x, b, (), side, m), a.reshape(-1)


def _step(node, value, form):
    """The normal form (a, b, idx) of a node from its operands' forms, or None."""
    op = node.op
    if op == "gather":
        if len(node.operands) != 1:
            return None  # a concat with state-free parts: max(h + a, b) does not cover it
        a, b, idx = form[node.operands[0].id]
        pick = node.arg
        return (_gather(a, pick), None if b is None else _gather(b, pick),
                idx.ravel()[pick])
    if op in (Op.ADD, Op.SUB):
        dep, free = node.operands
        if dep.id not in form:
            if op == Op.SUB:
                return None  # f - h is not in the semiring
            dep, free = free, dep
        if free.id in form:
            return None
        f = value[free.id]
        a, b, idx = form[dep.id]
        return (elementwise(op, a, f), None if b is None else elementwise(op, b, f), idx)
    if op in KINDS:
        left, right = node.operands
        if left.id in form and right.id in form:
            a1, b1, idx1 = form[left.id]
            a2, b2, idx2 = form[right.id]
            if not np.array_equal(idx1, idx2):
                return None
            return elementwise(op, a1, a2), _join(op, b1, b2), idx1
        dep, free = (left, right) if left.id in form else (right, left)
        a, b, idx = form[dep.id]
        return a, _join(op, b, value[free.id]), idx
    return None


def _join(op: Op, b1: Sym | None, b2: Sym | None) -> Sym | None:
    if b1 is None or b2 is None:
        return b2 if b1 is None else b1
    return elementwise(op, b1, b2)


def _gather(sym: Sym, pick: np.ndarray) -> Sym:
    from rnncirc.frontend.tracer import gather

    return gather([sym], pick)
