"""Kernels of one segment of gates: an affine block loop, a streamed one, and gate by gate.

Where this sits: under `rnncirc.eval.kernels`, whose `_segment` calls these once per segment
of a step (the segment kinds, opcodes and instruction fields are the instruction set,
`rnncirc.eval.isa`). An AFFINE segment (consecutive registers) is one loop over
``gates x Bp`` contiguous elements that LLVM vectorizes (`block_kernel`, with the scalar forms
of `scalar_ops`). An indexed or strided segment reads each gate's registers from the index
arrays or computes them and applies the op to one ``W``-lane vector (`gates_kernel`, with the
intrinsics of `vector_ops`); the transcendental ops are scalar. An affine segment of outputs
that no gate reads back (STREAMED) stores its results past the caches (`stream_kernel`): no
read of the line before the write, no eviction of the registers. ``p > 0`` selects arithmetic
modulo p: ADD, SUB, NEG as vector compare-and-correct, MUL as a scalar ``%``.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.eval.isa import (
    ABS,
    ADD,
    DIV,
    EQ,
    EXP,
    GE,
    GT,
    LE,
    LOG,
    LT,
    MAX,
    MIN,
    MUL,
    MULADD,
    NE,
    NEG,
    RELU,
    SELECT,
    SIGMOID,
    SILU,
    SOFTPLUS,
    SQRT,
    SUB,
    TANH,
)
from rnncirc.eval.scalar_ops import (
    s_abs,
    s_add,
    s_add_p,
    s_div,
    s_eq,
    s_exp,
    s_ge,
    s_gt,
    s_le,
    s_log,
    s_lt,
    s_max,
    s_min,
    s_mul,
    s_mul_p,
    s_muladd,
    s_muladd_p,
    s_ne,
    s_neg,
    s_neg_p,
    s_relu,
    s_select,
    s_sigmoid,
    s_silu,
    s_softplus,
    s_sqrt,
    s_sub,
    s_sub_p,
    s_tanh,
)
from rnncirc.eval.vector_ops import (
    vabs,
    vadd,
    vadd_p,
    vadd_streamed,
    vdiv,
    veq,
    vge,
    vgt,
    vle,
    vlt,
    vmax,
    vmin,
    vmul,
    vmul_streamed,
    vmuladd,
    vmuladd_streamed,
    vne,
    vneg,
    vneg_p,
    vrelu,
    vselect,
    vsqrt,
    vsub,
    vsub_p,
    vsub_streamed,
)


# Offsets are unsigned: with signed ones Numba adds negative-index wraparound to every access,
# which keeps LLVM from vectorizing (and slices would cost reference counting per call).
@numba.njit(inline="always", error_model="numpy")
def _block1(f, V, oo, oa, n, p):
    o, x = np.uint64(oo), np.uint64(oa)
    for j in range(n):
        u = np.uint64(j)
        V[o + u] = f(V[x + u], V[x + u], V[x + u], p)


@numba.njit(inline="always", error_model="numpy")
def _block2(f, V, oo, oa, ob, n, p):
    o, x, y = np.uint64(oo), np.uint64(oa), np.uint64(ob)
    for j in range(n):
        u = np.uint64(j)
        V[o + u] = f(V[x + u], V[y + u], V[y + u], p)


@numba.njit(inline="always", error_model="numpy")
def _block3(f, V, oo, oa, ob, oc, n, p):
    o, x, y, z = np.uint64(oo), np.uint64(oa), np.uint64(ob), np.uint64(oc)
    for j in range(n):
        u = np.uint64(j)
        V[o + u] = f(V[x + u], V[y + u], V[z + u], p)


# The op -> function chains below (and `_gates_float`'s) are the price of specialization:
# each branch hands the loop its op as a compile-time argument, so every op gets a loop of its
# own with the op inlined (and vectorized); a table indexed by the op at run time would be a
# call through a function pointer per element.
@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _block_float(op, n, oo, oa, ob, oc, V, p):  # noqa: C901
    if op == MULADD:  # (first: the combine of every linear scan, a*h + b)
        _block3(s_muladd, V, oo, oa, ob, oc, n, p)
    elif op == ADD:
        _block2(s_add, V, oo, oa, ob, n, p)
    elif op == MUL:
        _block2(s_mul, V, oo, oa, ob, n, p)
    elif op == SUB:
        _block2(s_sub, V, oo, oa, ob, n, p)
    elif op == DIV:
        _block2(s_div, V, oo, oa, ob, n, p)
    elif op == MAX:
        _block2(s_max, V, oo, oa, ob, n, p)
    elif op == MIN:
        _block2(s_min, V, oo, oa, ob, n, p)
    elif op == LT:
        _block2(s_lt, V, oo, oa, ob, n, p)
    elif op == LE:
        _block2(s_le, V, oo, oa, ob, n, p)
    elif op == GT:
        _block2(s_gt, V, oo, oa, ob, n, p)
    elif op == GE:
        _block2(s_ge, V, oo, oa, ob, n, p)
    elif op == EQ:
        _block2(s_eq, V, oo, oa, ob, n, p)
    elif op == NE:
        _block2(s_ne, V, oo, oa, ob, n, p)
    elif op == NEG:
        _block1(s_neg, V, oo, oa, n, p)
    elif op == ABS:
        _block1(s_abs, V, oo, oa, n, p)
    elif op == SQRT:
        _block1(s_sqrt, V, oo, oa, n, p)
    elif op == RELU:
        _block1(s_relu, V, oo, oa, n, p)
    elif op == SELECT:
        _block3(s_select, V, oo, oa, ob, oc, n, p)
    elif op == TANH:
        _block1(s_tanh, V, oo, oa, n, p)
    elif op == SIGMOID:
        _block1(s_sigmoid, V, oo, oa, n, p)
    elif op == EXP:
        _block1(s_exp, V, oo, oa, n, p)
    elif op == LOG:
        _block1(s_log, V, oo, oa, n, p)
    elif op == SOFTPLUS:
        _block1(s_softplus, V, oo, oa, n, p)
    elif op == SILU:
        _block1(s_silu, V, oo, oa, n, p)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _block_modp(op, n, oo, oa, ob, oc, V, p):
    if op == ADD:
        _block2(s_add_p, V, oo, oa, ob, n, p)
    elif op == SUB:
        _block2(s_sub_p, V, oo, oa, ob, n, p)
    elif op == MUL:
        _block2(s_mul_p, V, oo, oa, ob, n, p)
    elif op == NEG:
        _block1(s_neg_p, V, oo, oa, n, p)
    elif op == MULADD:
        _block3(s_muladd_p, V, oo, oa, ob, oc, n, p)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def block_kernel(op, n, oo, oa, ob, oc, V, p):
    """An affine segment: ``n`` contiguous elements from offsets oa, ob, oc into oo.

    ``p > 0`` selects arithmetic modulo p (both branches are compiled for every dtype; the
    ops of the other domain are never reached, see `vector_ops._vector_op`).
    """
    if p > 0:
        _block_modp(op, n, oo, oa, ob, oc, V, p)
    else:
        _block_float(op, n, oo, oa, ob, oc, V, p)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def stream_kernel(op, n, oo, oa, ob, oc, V, p, lanes):
    """An affine segment of float gates whose results no gate reads (outputs, see
    `rnncirc.eval.schedule.segments.stream_segments`): as `block_kernel`, a vector of W lanes
    at a time, the results stored past the caches. A prefix network writes its outputs once
    and never reads them back; through the cache each written line is first read from memory
    (write-allocate) and evicts a line the next steps need."""
    W = len(lanes)
    if op == MULADD:
        for j in range(0, n, W):
            vmuladd_streamed(V, oo + j, oa + j, ob + j, oc + j, p, lanes)
    elif op == MUL:
        for j in range(0, n, W):
            vmul_streamed(V, oo + j, oa + j, ob + j, 0, p, lanes)
    elif op == ADD:
        for j in range(0, n, W):
            vadd_streamed(V, oo + j, oa + j, ob + j, 0, p, lanes)
    elif op == SUB:
        for j in range(0, n, W):
            vsub_streamed(V, oo + j, oa + j, ob + j, 0, p, lanes)


# -- one run of gates ----------------------------------------------------------------------------
@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _gates_float(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes):  # noqa: C901
    W = len(lanes)
    if op == ADD:
        _each_gate(vadd, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == MUL:
        _each_gate(vmul, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == SUB:
        _each_gate(vsub, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == DIV:
        _each_gate(vdiv, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == MAX:
        _each_gate(vmax, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == MIN:
        _each_gate(vmin, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == LT:
        _each_gate(vlt, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == LE:
        _each_gate(vle, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == GT:
        _each_gate(vgt, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == GE:
        _each_gate(vge, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == EQ:
        _each_gate(veq, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == NE:
        _each_gate(vne, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == NEG:
        _each_gate(vneg, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == ABS:
        _each_gate(vabs, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == SQRT:
        _each_gate(vsqrt, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == RELU:
        _each_gate(vrelu, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == SELECT:
        _each_gate(vselect, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == MULADD:
        _each_gate(vmuladd, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    else:  # the transcendental ops are scalar anyway: W lanes as a block, gate by gate
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            block_kernel(np.int64(op), np.int64(W), ro, ra, np.int64(0), np.int64(0), V, p)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _gates_modp(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes):
    W = len(lanes)
    if op == ADD:
        _each_gate(vadd_p, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == SUB:
        _each_gate(vsub_p, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == NEG:
        _each_gate(vneg_p, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    elif op == MUL or op == MULADD:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            block_kernel(np.int64(op), np.int64(W), ro, ra, rb, rc, V, p)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _regs(g, ga, gb, gc, go, st, Bp, col):
    """Element offsets of gate g's registers: read from the index arrays (``st[8] == 0``) or
    computed as first register + g * stride (``st = (a, sa, b, sb, c, sc, o, so, 1)``)."""
    if st[8] == 0:
        return ga[g] * Bp + col, gb[g] * Bp + col, gc[g] * Bp + col, go[g] * Bp + col
    return ((st[0] + g * st[1]) * Bp + col, (st[2] + g * st[3]) * Bp + col,
            (st[4] + g * st[5]) * Bp + col, (st[6] + g * st[7]) * Bp + col)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _each_gate(vop, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes):
    """The `vector_ops` intrinsic `vop` on gates g0..g1-1 (its type is one op's own, so this
    loop is compiled apart for each op, with the op inlined; `vop` ignores the registers past
    its arity)."""
    for g in range(g0, g1):
        ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
        vop(V, ro, ra, rb, rc, p, lanes)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def gates_kernel(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes):
    """Gates g0..g1-1 of one op, one W-lane vector per gate (``p > 0``: modulo p); see
    `_regs` for `st`."""
    if p > 0:
        _gates_modp(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    else:
        _gates_float(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
