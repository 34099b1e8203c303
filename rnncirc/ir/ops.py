"""The gate-level op table: the one place that says what every circuit gate means.

Every stage after scalarization (builder, simplification, levels, evaluators, exports) reads
this table. Ops are small integers so that a circuit stores them in one uint8 array.

=========  =====  ==================================================================
op         arity  meaning (numpy semantics, float64)
=========  =====  ==================================================================
CONST      0      the constant ``consts[a]``
INPUT      0      input slot ``a`` (step t, element s lives at slot ``t*K + s``)
STATE      0      state slot ``a`` (only inside a one-step template, never in a Circuit)
ADD        2      a + b
SUB        2      a - b
MUL        2      a * b
DIV        2      a / b
MAX        2      maximum(a, b)
MIN        2      minimum(a, b)
LT..NE     2      comparisons, 1.0 when true else 0.0
NEG        1      -a
TANH ...   1      the unary nonlinear functions below
SELECT     3      b if a != 0 else c   (``rc.where(a, b, c)``)
=========  =====  ==================================================================
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Op(IntEnum):
    CONST = 0
    INPUT = 1
    STATE = 2
    ADD = 3
    SUB = 4
    MUL = 5
    DIV = 6
    MAX = 7
    MIN = 8
    LT = 9
    LE = 10
    GT = 11
    GE = 12
    EQ = 13
    NE = 14
    NEG = 15
    TANH = 16
    SIGMOID = 17
    RELU = 18
    EXP = 19
    LOG = 20
    SQRT = 21
    ABS = 22
    SOFTPLUS = 23
    SILU = 24
    SELECT = 25


N_OPS = len(Op)
LEAF_OPS = (Op.CONST, Op.INPUT, Op.STATE)
BINARY_OPS = (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAX, Op.MIN,
              Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)
UNARY_OPS = (Op.NEG, Op.TANH, Op.SIGMOID, Op.RELU, Op.EXP, Op.LOG, Op.SQRT, Op.ABS,
             Op.SOFTPLUS, Op.SILU)
COMMUTATIVE_OPS = (Op.ADD, Op.MUL, Op.MAX, Op.MIN, Op.EQ, Op.NE)

#: Ops computed by a math library, whose last bit depends on which one: numpy dispatches
#: exp, log and tanh to its own SIMD code on CPUs with AVX-512 and to other code elsewhere,
#: the Numba kernels call the C library. Each is faithful to about an ulp, so two evaluations
#: of these ops agree within `LIBM_ULPS` units in the last place (sigmoid and silu add the
#: rounding of ``1 + e`` and of a division to exp's) and exactly on special values (NaN, ±inf,
#: ±0 and where a result overflows or underflows). Every other op is exact in IEEE arithmetic
#: (sqrt is correctly rounded), so it agrees bit for bit on every machine.
LIBM_OPS = (Op.TANH, Op.SIGMOID, Op.EXP, Op.LOG, Op.SOFTPLUS, Op.SILU)
LIBM_ULPS = 4

#: arity per op code, as an array so that it can index whole op columns at once
ARITY = np.zeros(N_OPS, dtype=np.int8)
ARITY[list(BINARY_OPS)] = 2
ARITY[list(UNARY_OPS)] = 1
ARITY[Op.SELECT] = 3

#: lower-case names, as used in reports, JSON and DOT labels
OP_NAMES = tuple(op.name.lower() for op in Op)

IS_COMMUTATIVE = np.zeros(N_OPS, dtype=bool)
IS_COMMUTATIVE[list(COMMUTATIVE_OPS)] = True


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
    return np.logaddexp(0.0, x)


def silu(x):
    return x / (1.0 + np.exp(-x))


def relu(x):
    return np.maximum(x, 0.0)


def _cmp(fn):
    return lambda a, b: fn(a, b).astype(np.float64)


#: numpy implementation of each op; the eager reference (`RNN.run`), constant folding and the
#: reference evaluator all use these, so they agree bit for bit.
UNARY_IMPL = {
    Op.NEG: np.negative, Op.TANH: np.tanh, Op.SIGMOID: sigmoid, Op.RELU: relu,
    Op.EXP: np.exp, Op.LOG: np.log, Op.SQRT: np.sqrt, Op.ABS: np.abs,
    Op.SOFTPLUS: softplus, Op.SILU: silu,
}
BINARY_IMPL = {
    Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply, Op.DIV: np.divide,
    Op.MAX: np.maximum, Op.MIN: np.minimum,
    Op.LT: _cmp(np.less), Op.LE: _cmp(np.less_equal), Op.GT: _cmp(np.greater),
    Op.GE: _cmp(np.greater_equal), Op.EQ: _cmp(np.equal), Op.NE: _cmp(np.not_equal),
}


def select(cond, a, b):
    return np.where(cond != 0, a, b)


def apply_op(op: Op, *operands):
    """Apply `op` to numpy operands with the circuit's semantics."""
    if op in UNARY_IMPL:
        return UNARY_IMPL[op](*operands)
    if op in BINARY_IMPL:
        return BINARY_IMPL[op](*operands)
    if op == Op.SELECT:
        return select(*operands)
    raise ValueError(f"op {op!r} has no value semantics")
