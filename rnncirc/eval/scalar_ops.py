"""Scalar forms of every op with the reference semantics, for the long loops of the kernels.

Where this sits: under `segment_kernels`, whose affine segments apply one of these to
``gates x lanes`` contiguous elements in a loop LLVM vectorizes (the transcendental ops are
scalar anyway). Semantics follow `rnncirc.ir.ops` bit for bit, except that the math-library ops
(`rnncirc.ir.ops.LIBM_OPS`: tanh, exp, log, ...) call the C library and may differ from numpy's
by a few ulps; the ``_p`` forms compute exactly modulo a prime p < 2^31 on int64
(a product of residues fits).
"""

from __future__ import annotations

import math

import numba


# -- scalar helpers with the reference semantics -----------------------------------------------
@numba.njit(error_model="numpy")
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@numba.njit(error_model="numpy")
def _silu(x):
    return x / (1.0 + math.exp(-x))


@numba.njit(error_model="numpy")
def _softplus(x):
    # numpy's logaddexp(0, x)
    if x > 0:
        return x + math.log1p(math.exp(-x))
    if x <= 0:
        return math.log1p(math.exp(x))
    return x + 0.0  # NaN


# -- scalar forms of every op, for the long loops over affine segments -----------------------------
# Each takes the modulus p (ignored by the float ops) so that one loop template serves all.
# One named function per op, though only its body differs: `segment_kernels._block1/2/3`
# take the op as a compile-time argument and compile one loop per op with it inlined, which
# LLVM vectorizes; a factory would make the same functions nameless in Numba's messages.
@numba.njit(error_model="numpy")
def s_add(x, y, z, p):
    return x + y


@numba.njit(error_model="numpy")
def s_sub(x, y, z, p):
    return x - y


@numba.njit(error_model="numpy")
def s_mul(x, y, z, p):
    return x * y


@numba.njit(error_model="numpy")
def s_div(x, y, z, p):
    return x / y


@numba.njit(error_model="numpy")
def s_max(x, y, z, p):
    return x if (x > y) | (x != x) else y


@numba.njit(error_model="numpy")
def s_min(x, y, z, p):
    return x if (x < y) | (x != x) else y


@numba.njit(error_model="numpy")
def s_lt(x, y, z, p):
    return 1.0 if x < y else 0.0


@numba.njit(error_model="numpy")
def s_le(x, y, z, p):
    return 1.0 if x <= y else 0.0


@numba.njit(error_model="numpy")
def s_gt(x, y, z, p):
    return 1.0 if x > y else 0.0


@numba.njit(error_model="numpy")
def s_ge(x, y, z, p):
    return 1.0 if x >= y else 0.0


@numba.njit(error_model="numpy")
def s_eq(x, y, z, p):
    return 1.0 if x == y else 0.0


@numba.njit(error_model="numpy")
def s_ne(x, y, z, p):
    return 1.0 if x != y else 0.0


@numba.njit(error_model="numpy")
def s_neg(x, y, z, p):
    return -x


@numba.njit(error_model="numpy")
def s_abs(x, y, z, p):
    return abs(x)


@numba.njit(error_model="numpy")
def s_sqrt(x, y, z, p):
    return math.sqrt(x)


@numba.njit(error_model="numpy")
def s_relu(x, y, z, p):
    return x if (x > 0) | (x != x) else 0.0


@numba.njit(error_model="numpy")
def s_select(x, y, z, p):
    return y if x != 0 else z


@numba.njit(error_model="numpy")
def s_muladd(x, y, z, p):
    return x * y + z


@numba.njit(error_model="numpy")
def s_tanh(x, y, z, p):
    return math.tanh(x)


@numba.njit(error_model="numpy")
def s_sigmoid(x, y, z, p):
    return _sigmoid(x)


@numba.njit(error_model="numpy")
def s_exp(x, y, z, p):
    return math.exp(x)


@numba.njit(error_model="numpy")
def s_log(x, y, z, p):
    return math.log(x)


@numba.njit(error_model="numpy")
def s_softplus(x, y, z, p):
    return _softplus(x)


@numba.njit(error_model="numpy")
def s_silu(x, y, z, p):
    return _silu(x)


@numba.njit(error_model="numpy")
def s_add_p(x, y, z, p):
    s = x + y
    return s - p if s >= p else s


@numba.njit(error_model="numpy")
def s_sub_p(x, y, z, p):
    d = x - y
    return d + p if d < 0 else d


@numba.njit(error_model="numpy")
def s_mul_p(x, y, z, p):
    return (x * y) % p


@numba.njit(error_model="numpy")
def s_neg_p(x, y, z, p):
    return x if x == 0 else p - x


@numba.njit(error_model="numpy")
def s_muladd_p(x, y, z, p):
    s = (x * y) % p + z
    return s - p if s >= p else s
