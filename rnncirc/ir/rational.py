"""Exact rationals in circuits: a `fractions.Fraction` constant is a pair of integers.

Where this sits: in `ir`, read by the front end (which turns Fraction constants into gates)
and by `eval.exact` (which evaluates them exactly).

Design (Merrill et al. 2026, Prop. 4: a rational is an unnormalised pair (a, b) of integers).
The float path stores every constant as one float64 and folds constant arithmetic as it
builds; rationals must not go through it, and it must not slow down. So a Fraction a/b given
as a weight, init or table entry is traced as the gate ``DIV(CONST a, CONST b)``: both
operands are integers, exact in float64 up to 2^53, and `GateBuilder` folds such a division
only when its quotient is exactly a float (1/2, 6/3), never 1/3. Everything downstream sees
an ordinary gate:

* float evaluation computes a / b, correctly rounded: the very float ``float(Fraction(a, b))``
  that a float constant would have held, so float results do not change;
* ``evaluate(xs, modulus=p)`` computes a * b^-1 mod p (`eval.exact`), and
  ``evaluate(xs, exact=True)`` the Fraction itself, through every later gate;
* save/load, simplification and tiling copy the two integer constants and the gate like any
  other, so nothing needs a side table. The boolean lowering computes the division on its
  fixed-point words like any other: rounded, not exact (a rational there would need the pair
  carried through every gate, Prop. 4's 4 Z-gates per Q-gate).

The pair costs one gate per distinct rational constant, read by every step that uses it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

#: integers up to this magnitude are exact in float64
EXACT_INTEGER = 2**53


def has_fraction(value) -> bool:
    """Whether `value` (a number, or a nested list / array of them) holds a Fraction."""
    if isinstance(value, Fraction):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype == object and any(isinstance(v, Fraction) for v in value.flat)
    if isinstance(value, (list, tuple)):
        return any(has_fraction(v) for v in value)
    return False


def split_fraction(value) -> tuple[np.ndarray, np.ndarray]:
    """Numerators and denominators of `value` (Fractions, ints, floats) as float64 arrays.

    A float is its exact dyadic rational. Raises ValueError when a numerator or denominator
    is too large to be exact in float64.

    >>> num, den = split_fraction([Fraction(1, 3), 2, 0.5])
    >>> num.tolist(), den.tolist()
    ([1.0, 2.0, 1.0], [3.0, 1.0, 2.0])
    """
    array = np.empty(np.shape(value), dtype=object)
    array[...] = value if not isinstance(value, Fraction) else np.array(value, dtype=object)
    exact = [Fraction(v) if not isinstance(v, (float, np.floating)) or np.isfinite(v)
             else None for v in array.flat]
    if any(v is None for v in exact):
        raise ValueError("a rational constant cannot be inf or NaN")
    big = [v for v in exact if abs(v.numerator) >= EXACT_INTEGER or v.denominator >= EXACT_INTEGER]
    if big:
        raise ValueError(f"the rational {big[0]} has a numerator or denominator of 2^53 or "
                         "more, which float64 cannot hold exactly")
    num = np.array([float(v.numerator) for v in exact]).reshape(array.shape)
    den = np.array([float(v.denominator) for v in exact]).reshape(array.shape)
    return num, den


def exact_quotient(a: np.ndarray, b: np.ndarray, quotient: np.ndarray) -> np.ndarray:
    """Which float quotients ``quotient = a / b`` of integer-valued floats are exact (or are
    not quotients of two integers at all, so that nothing exact is lost by folding them)."""
    integers = (np.isfinite(a) & np.isfinite(b) & (np.floor(a) == a) & (np.floor(b) == b)
                & (np.abs(a) < EXACT_INTEGER) & (np.abs(b) < EXACT_INTEGER) & (b != 0))
    exact = ~integers
    for i in np.flatnonzero(integers):
        exact[i] = Fraction(int(a[i]), int(b[i])) == Fraction(float(quotient[i]))
    return exact


def evaluate_rows_exact(rows: dict, consts: np.ndarray, inputs: np.ndarray,
                        wanted: np.ndarray) -> np.ndarray:
    """`rnncirc.ir.reference.evaluate_rows` in Fractions: builder rows (a small template) on
    input-slot values ``(batch, slots)``; ``(batch, len(wanted))`` objects.

    Lowering passes that read a template's values at fixed inputs (a per-symbol table of
    A's coefficients) use it when the template divides, so that a rational coefficient
    stays the rational. Ops without a rational value (tanh, exp, ...) are computed in floats.
    """
    from rnncirc.ir.ops import ARITY, Op, apply_op

    op, a, b, c = rows["op"], rows["a"], rows["b"], rows["c"]
    values = np.empty((len(op), inputs.shape[0]), dtype=object)
    values[...] = Fraction(0)
    for i in np.flatnonzero(op == Op.CONST):
        values[i] = Fraction(float(consts[a[i]]))
    for i in np.flatnonzero(op == Op.INPUT):
        values[i] = [Fraction(float(v)) for v in inputs[:, a[i]]]
    for i in np.flatnonzero(ARITY[op] > 0):  # template-sized, not circuit-sized
        operands = [values[j] for j in (a[i], b[i], c[i])[:ARITY[op[i]]]]
        try:
            out = apply_op(Op(int(op[i])), *operands)
            values[i] = [v if isinstance(v, Fraction) else Fraction(float(v)) for v in out]
        except (TypeError, AttributeError, ZeroDivisionError, ValueError, OverflowError):
            with np.errstate(all="ignore"):
                floats = apply_op(Op(int(op[i])), *(o.astype(np.float64) for o in operands))
            values[i] = [Fraction(float(v)) if np.isfinite(v) else float(v) for v in floats]
    return values[np.asarray(wanted)].T
