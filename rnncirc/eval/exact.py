"""Exact evaluation: rationals as Python Fractions, or residues modulo a prime with division.

Where this sits: in `eval`, beside the fast Numba evaluator; `Circuit.evaluate` dispatches
here for ``exact=True`` and for ``modulus=p`` on circuits with division gates (the fast
kernels compute add, sub, mul and neg modulo p; circuits without division stay on them).

Both walk the circuit level by level like the reference evaluator, one numpy call per
(level, op) group over the whole batch:

* modulo p (`evaluate_modular`): int64 residues, products below 2^62 for p < 2^31; a / b is
  a * b^(p-2) mod p (Fermat), by square-and-multiply over the whole group at once. A
  denominator that is 0 mod p has no inverse: `ModulusError` names the gate. A rational
  constant a/b (`rnncirc.ir.rational`: the gate ``DIV(a, b)``) thus comes out as a * b^-1.
* exactly (`evaluate_exact`): object arrays of `fractions.Fraction`, every field operation
  and the piecewise-linear ones (max, min, relu, abs, comparisons, select) exact; the other
  unary functions (tanh, exp, ...) have no rational value and are refused. Python integers
  grow without bound, so this is for small circuits: above `EXACT_LIMIT` gate evaluations
  (gates x batch) it refuses with the estimate.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from rnncirc.errors import RnncircError
from rnncirc.eval.modular import (
    DEFAULT_MODULUS,
    ModulusError,
    check_modulus,
    constant_residues,
    residues,
)
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.ops import ARITY, OP_NAMES, Op, apply_op

#: the most gate evaluations (gates x batch) `evaluate_exact` takes on
EXACT_LIMIT = 20_000_000
MODULAR_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG})
EXACT_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.NEG, Op.MAX, Op.MIN, Op.RELU,
                       Op.ABS, Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE, Op.SELECT})


class ExactError(RnncircError):
    """Exact rational evaluation was asked for something it cannot do exactly."""


def has_division(circuit: Circuit) -> bool:
    """Whether the circuit holds a DIV gate (then modular evaluation runs here)."""
    return bool(np.any(circuit.op == Op.DIV))


def evaluate_modular(circuit: Circuit, values: np.ndarray, modulus: int | None = None
                     ) -> np.ndarray:
    """Outputs mod p for input-slot values ``(batch, slots)``: ``(batch, *outputs.shape)``.

    Examples
    --------
    >>> from fractions import Fraction
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def third(h, x):
    ...     return Fraction(1, 3) * h + x
    >>> c = rc.compile(third, 2)
    >>> p = 1_000_003
    >>> c.evaluate(np.array([[3], [1]]), modulus=p).ravel().tolist()  # 3, 1 + 1
    [3, 2]
    >>> int(c.evaluate(np.array([[1], [0]]), modulus=p)[1, 0]) == pow(3, -1, p)  # 1/3
    True
    """
    p = check_modulus(DEFAULT_MODULUS if modulus is None else modulus)
    bad = sorted({OP_NAMES[o] for o in np.unique(circuit.op[ARITY[circuit.op] > 0])
                  if Op(int(o)) not in MODULAR_OPS})
    if bad:
        raise ModulusError("exact evaluation modulo p supports add, sub, mul, div and neg "
                           f"only; this circuit has {', '.join(bad)} gates")

    def run(op, operands, group):
        a = operands[0]
        if op == Op.NEG:
            return np.mod(-a, p)
        b = operands[1]
        if op == Op.ADD:
            return np.mod(a + b, p)
        if op == Op.SUB:
            return np.mod(a - b, p)
        if op == Op.MUL:
            return np.mod(a * b, p)
        zero = b == 0
        if zero.any():
            gate = int(group[np.argwhere(zero)[0][0]])
            raise ModulusError(f"gate {gate} divides by a value that is 0 mod {p} (a zero "
                               "denominator, or one that p divides): evaluate modulo another "
                               "prime")
        return np.mod(a * _inverse(b, p), p)

    consts = constant_residues(circuit.consts, p)
    inputs = residues(np.asarray(values), p, "an input")
    return _walk(circuit, consts, inputs, np.int64, run)


def evaluate_exact(circuit: Circuit, values: np.ndarray, limit: int = EXACT_LIMIT
                   ) -> np.ndarray:
    """Outputs as `Fraction` objects for input-slot values ``(batch, slots)`` (an object
    array ``(batch, *outputs.shape)``); inputs and constants are read as exact rationals (a
    float is its dyadic value). Refused above `limit` gate evaluations (gates x batch).

    Examples
    --------
    >>> from fractions import Fraction
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def third(h, x):
    ...     return Fraction(1, 3) * h + x
    >>> rc.compile(third, 3).evaluate(np.array([[1], [0], [0]]), exact=True).ravel().tolist()
    [Fraction(1, 1), Fraction(1, 3), Fraction(1, 9)]
    """
    values = np.asarray(values)
    work = circuit.size * max(1, values.shape[0])
    if work > limit:
        raise ExactError(
            f"exact evaluation would run {work:,} gate evaluations in Python Fractions "
            f"({circuit.size:,} gates x batch {values.shape[0]}), above the limit of "
            f"{limit:,}; evaluate modulo a prime instead (modulus=p), or a shorter "
            "length or batch")
    bad = sorted({OP_NAMES[o] for o in np.unique(circuit.op[ARITY[circuit.op] > 0])
                  if Op(int(o)) not in EXACT_OPS})
    if bad:
        raise ExactError(f"exact evaluation covers +, -, *, /, max, min, relu, abs, "
                         f"comparisons and select; this circuit has {', '.join(bad)} gates, "
                         "which have no exact rational value")

    def run(op, operands, group):
        if op == Op.DIV and any(v == 0 for v in operands[1].flat):
            raise ExactError(f"a gate among {group[:3].tolist()}... divides by zero")
        if op == Op.RELU:
            return np.where(operands[0] > 0, operands[0], Fraction(0))
        if op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE):
            truth = apply_op(op, *operands)
            return np.where(truth != 0, Fraction(1), Fraction(0))
        return apply_op(op, *operands)

    consts = _fractions(circuit.consts)
    inputs = _fractions(values)
    return _walk(circuit, consts, inputs, object, run)


def _walk(circuit: Circuit, consts: np.ndarray, inputs: np.ndarray, dtype, run) -> np.ndarray:
    """Level by level, one `run(op, operands, gate ids)` per (level, op) group."""
    batch = inputs.shape[0]
    values = np.empty((circuit.num_nodes, batch), dtype=dtype)
    const_rows = np.flatnonzero(circuit.op == Op.CONST)
    values[const_rows] = consts[circuit.a[const_rows]][:, None]
    values[circuit.inputs.ravel()] = inputs.T
    gates = np.flatnonzero(ARITY[circuit.op] > 0)
    order = gates[np.lexsort((circuit.op[gates], circuit.levels[gates]))]
    key = circuit.levels[order].astype(np.int64) * 256 + circuit.op[order]
    for group in np.split(order, np.flatnonzero(np.diff(key)) + 1):
        if len(group) == 0:
            continue
        op = Op(int(circuit.op[group[0]]))
        operands = [values[column[group]] for column in (circuit.a, circuit.b, circuit.c)
                    [:ARITY[op]]]
        values[group] = run(op, operands, group)
    out = values[circuit.outputs.reshape(-1)]
    return out.T.reshape((batch,) + circuit.outputs.shape)


def _inverse(b: np.ndarray, p: int) -> np.ndarray:
    """b^(p-2) mod p elementwise (b != 0 mod p): square-and-multiply on the whole array."""
    result = np.ones_like(b)
    base = b.copy()
    e = p - 2
    while e:
        if e & 1:
            result = np.mod(result * base, p)
        base = np.mod(base * base, p)
        e >>= 1
    return result


def _fractions(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.floating) and not np.all(np.isfinite(values)):
        raise ExactError("inf or NaN has no exact rational value")
    out = np.empty(values.shape, dtype=object)
    out.flat[:] = [Fraction(v) for v in values.ravel().tolist()]
    return out
