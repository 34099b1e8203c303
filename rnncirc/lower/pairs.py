"""`rc.to_integer_pairs`: a circuit over the rationals as one over the integers (Prop. 4).

Where this sits: a lowering pass from a `Circuit` to a `Circuit`, after `rc.compile` and
before evaluation or the boolean lowering. Merrill et al. (2026, Prop. 4, with the digest's
fix of its sum's denominator) turn a log-depth Q-circuit into a Z-circuit by holding every
value as an unnormalised pair (a, b) standing for a / b:

=========  ================================  =========================================
gate       numerator                         denominator
=========  ================================  =========================================
a/b + c/d  a*d + c*b                         b*d
a/b - c/d  a*d - c*b                         b*d
a/b * c/d  a*c                               b*d
a/b / c/d  a*d                               b*c
-(a/b)     -a                                b
=========  ================================  =========================================

So a Q-gate costs at most 4 Z-gates and the depth at most doubles; `GateBuilder` folds the
multiplications by a denominator 1, so an integer circuit comes back unchanged and only the
rational parts pay. Constants must be integers or dyadic (m / 2^k); rationals such as a
`fractions.Fraction` weight reach the circuit as division gates (`rnncirc.ir.rational`).
The result has no division: the fast kernels evaluate it modulo p, and `rc.to_boolean`
lowers it exactly on words wide enough. Its outputs gain a last axis of 2 (numerator,
denominator); the value is positive iff numerator * denominator is (PNC1 acceptance) and
zero iff the numerator is (ENC1).

Comparisons, max/min, select and the nonlinear functions have no pair form and are refused.
"""

from __future__ import annotations

import numpy as np

from rnncirc.errors import RnncircError
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.ops import ARITY, OP_NAMES, Op
from rnncirc.lower.unroll import drop_dead

PAIR_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG})
#: the largest power of two a dyadic constant's denominator may be (its numerator must stay
#: below 2^53 as well)
MAX_SHIFT = 52


class PairError(RnncircError):
    """The circuit cannot be written over integer pairs."""


def to_integer_pairs(circuit: Circuit) -> Circuit:
    """The circuit on (numerator, denominator) pairs of integers, without division gates.

    Parameters
    ----------
    circuit : a `Circuit` with add, sub, mul, div and neg gates only.

    Returns
    -------
    A `Circuit` with the same inputs whose outputs have a last axis of 2: the numerator and
    the denominator of each output.

    Examples
    --------
    >>> from fractions import Fraction
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def third(h, x):
    ...     return Fraction(1, 3) * h + x
    >>> pairs = rc.to_integer_pairs(rc.compile(third, 3))
    >>> pairs.op_counts.get("div", 0)
    0
    >>> pairs.evaluate(np.array([[1], [0], [2]])).reshape(3, 2).tolist()  # 19/9 = 57/27
    [[1.0, 1.0], [1.0, 3.0], [57.0, 27.0]]
    """
    gates = ARITY[circuit.op] > 0
    bad = sorted({OP_NAMES[o] for o in np.unique(circuit.op[gates])
                  if Op(int(o)) not in PAIR_OPS})
    if bad:
        raise PairError(f"rc.to_integer_pairs: {', '.join(bad)} gates have no form over "
                        "integer pairs (Prop. 4 covers +, -, *, / and negation)")
    builder = GateBuilder(capacity=max(1024, 3 * circuit.num_nodes))
    num = np.full(circuit.num_nodes, -1, dtype=np.int64)
    den = np.full(circuit.num_nodes, -1, dtype=np.int64)
    inputs = circuit.inputs.ravel()
    num[inputs] = builder.leaf(Op.INPUT, np.arange(len(inputs)))
    one = int(builder.const(1.0))
    den[inputs] = one
    consts = np.flatnonzero(circuit.op == Op.CONST)
    top, bottom = _dyadic(circuit.consts[circuit.a[consts]])
    num[consts], den[consts] = builder.const(top), builder.const(bottom)
    order = np.flatnonzero(gates)
    order = order[np.lexsort((circuit.op[order], circuit.levels[order]))]
    key = circuit.levels[order].astype(np.int64) * 256 + circuit.op[order]
    for group in np.split(order, np.flatnonzero(np.diff(key)) + 1):
        if len(group):
            _pair_gates(builder, Op(int(circuit.op[group[0]])), circuit, group, num, den)
    rows = builder.arrays(copy=False)
    outputs = np.stack([num[circuit.outputs], den[circuit.outputs]], axis=-1)
    info = circuit.info
    result = Circuit(op=rows["op"], a=rows["a"], b=rows["b"], c=rows["c"],
                     step=np.zeros(len(rows["op"]), dtype=np.int32), node=rows["node"],
                     consts=np.asarray(builder.const_values, dtype=np.float64),
                     inputs=num[circuit.inputs].astype(np.int32),
                     outputs=outputs.astype(np.int32),
                     info=type(info)(**{**info.__dict__,
                                        "state_shape": (*info.state_shape, 2),
                                        "topology": f"{info.topology} (integer pairs)"}))
    return drop_dead(result)


def _pair_gates(builder: GateBuilder, op: Op, circuit: Circuit, group: np.ndarray,
                num: np.ndarray, den: np.ndarray) -> None:
    a, b = num[circuit.a[group]], den[circuit.a[group]]
    if op == Op.NEG:
        num[group], den[group] = builder.gates(Op.NEG, a), b
        return
    c, d = num[circuit.b[group]], den[circuit.b[group]]
    if op in (Op.ADD, Op.SUB):
        num[group] = builder.gates(op, builder.gates(Op.MUL, a, d), builder.gates(Op.MUL, c, b))
        den[group] = builder.gates(Op.MUL, b, d)
    elif op == Op.MUL:
        num[group], den[group] = builder.gates(Op.MUL, a, c), builder.gates(Op.MUL, b, d)
    else:  # DIV
        num[group], den[group] = builder.gates(Op.MUL, a, d), builder.gates(Op.MUL, b, c)


def _dyadic(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer numerators and power-of-two denominators of float constants."""
    if not np.all(np.isfinite(values)):
        raise PairError("rc.to_integer_pairs: a constant is inf or NaN")
    _, exponent = np.frexp(values)
    shift = np.clip(53 - exponent, 0, None)  # value * 2^shift is an integer
    top = np.ldexp(values, shift)
    # the smallest shift that leaves an integer
    while True:
        smaller = (shift > 0) & (np.floor(top / 2) * 2 == top)
        if not smaller.any():
            break
        shift = np.where(smaller, shift - 1, shift)
        top = np.where(smaller, top / 2, top)
    if np.any(shift > MAX_SHIFT) or np.any(np.abs(top) >= 2.0**53):
        raise PairError("rc.to_integer_pairs: a constant is not an integer or a dyadic "
                        "rational m / 2^k with k <= 52; give rational weights as "
                        "fractions.Fraction")
    return top, np.ldexp(1.0, shift)
