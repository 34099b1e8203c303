"""Numba kernels that walk a `Schedule` step by step over a batch.

Data layout
-----------
The buffer ``V`` is one flat C array of rows: row ``r`` is ``V[r*Bp : (r+1)*Bp]``, ``Bp``
lanes (the batch, padded to a multiple of the vector width ``W``), so every gate reads and
writes contiguous memory. The input slots take rows 0..n_in-1 (in blocks of features,
`rnncirc.eval.schedule.layout.input_rows`), output position p row ``n_in + p``, the
registers come after them (`rnncirc.eval.schedule.registers`): a gate reads its inputs and
writes its output where they are, so evaluating moves no data besides the gates' own reads
and writes. When the batch is split over threads each thread has a buffer of its own and copies
its lanes of the caller's inputs ``X`` in and of the outputs ``O`` out, flat buffers with
element strides ``(s0, s1)``: slot ``s`` of batch lane ``j`` is ``X[s*s0 + j*s1]``.

Gates
-----
An AFFINE segment (consecutive registers; the segment kinds, opcodes and instruction
fields are the instruction set, `rnncirc.eval.isa`) is one loop over
``gates x Bp`` contiguous elements that LLVM vectorizes (`block_kernel`). An indexed segment
reads each gate's registers from the index arrays and applies the op to one ``W``-lane
vector (`gates_kernel`): arithmetic, comparisons, min/max, abs, sqrt and select are emitted
as LLVM vector instructions on ``<W x dtype>`` through small `intrinsic`s, because Numba's
own vectorizer does not vectorize a loop of 8 lanes; the transcendental ops are scalar.
An affine segment of outputs that no gate reads back (STREAMED) stores its results past the
caches (non-temporal stores, `stream_kernel`): no read of the line before the write, no
eviction of the registers. Tiled schedules prefetch their input rows at an even rate before
each step (`_prefetch`; `rnncirc.eval.schedule.layout.prefetch_lists`).
``W`` is a compile-time constant carried by the *type* of the ``lanes`` argument (a tuple of
W zeros). Semantics follow `rnncirc.ir.ops` bit for bit (NaN propagation and ties of
maximum/minimum as numpy, comparisons as 1.0/0.0, ``select(a, b, c) = b if a != 0 else c``),
except that tanh may differ from numpy's by an ulp.

Fused trees
-----------
A PROGRAMS segment is a run of groups (`rnncirc.eval.schedule.grouping`): for each
group instruction, one loop over the group's G programs with the op tested once outside it,
registers computed from strides (`_strided_instr`) or read from index rows
(`_indexed_instr`). Instructions are ADD, SUB, MUL and the folded forms MULADD, DOT2 and DOT4,
each op rounded as in the circuit (no FMA contraction). A strided DOT4 whose operands on one
side of every product stay put from program to program (a matmul row of A shared by the
programs C[i, 0], C[i, 1], ...; a vector shared by the rows of a matrix-vector product) loads
those four rows once per group (`_shared_dot4`): half its loads. In a wide step every task
moves the scratch registers (those at or above ``sbase``) to rows of its own.

Integers modulo p
-----------------
With an int64 register file and ``p > 0`` the kernels compute exactly modulo ``p``
(2 < p < 2**31 prime, so a product of residues fits in int64): ADD, SUB, NEG as vector
compare-and-correct, MUL as a scalar ``%``. Other ops are refused before a kernel runs
(`rnncirc.eval.fast`).

Compilation
-----------
`run` is the one cached entry point (``cache=True``): compiled once per (dtype, W) and
reused across processes; `fill_rows` and the schedule builder are cached the same way. It
takes the schedule's arrays as one `ScheduleArrays` and hands that one value down to every
function that walks the schedule. The kernels import the instruction set
(`rnncirc.eval.isa`), never the scheduler.
The leaf kernels called once per segment, group or group instruction (`group_kernel`,
`_strided_instr`, `_indexed_instr`, `gates_kernel`, `block_kernel` and their per-op
bodies) take arrays but never allocate or slice, so they are compiled without NRT
(``_nrt=False``): no atomic incref/decref of their array arguments on every call. A dense
prefix circuit runs hundreds of thousands of group instructions per evaluation, and those
atomics would cost more than the instructions themselves.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from rnncirc.eval.isa import (
    AFFINE,
    DOT2,
    DOT4,
    GI_FIRST,
    GI_INDEXED,
    GI_OP,
    GI_ROW,
    GI_SCRATCH,
    GI_STRIDE,
    GRP_FIRST,
    GRP_SIZE,
    INDEXED,
    MULADD,
    N_FIELDS,
    OUT,
    PROGRAMS,
    SEG_A,
    SEG_B,
    SEG_C,
    SEG_OUT,
    STREAMED,
)
from rnncirc.ir.ops import Op

ADD, SUB, MUL, DIV = int(Op.ADD), int(Op.SUB), int(Op.MUL), int(Op.DIV)
MAX, MIN = int(Op.MAX), int(Op.MIN)
LT, LE, GT, GE, EQ, NE = int(Op.LT), int(Op.LE), int(Op.GT), int(Op.GE), int(Op.EQ), int(Op.NE)
NEG, TANH, SIGMOID, RELU = int(Op.NEG), int(Op.TANH), int(Op.SIGMOID), int(Op.RELU)
EXP, LOG, SQRT, ABS = int(Op.EXP), int(Op.LOG), int(Op.SQRT), int(Op.ABS)
SOFTPLUS, SILU, SELECT = int(Op.SOFTPLUS), int(Op.SILU), int(Op.SELECT)

#: ops the modulo-p kernels implement
MODP_OPS = frozenset({ADD, SUB, MUL, NEG})

_I32 = ir.IntType(32)


# -- LLVM vector intrinsics --------------------------------------------------------------------
def _vec_ptr(context, builder, aryty, ary, offset, offty, vt):
    """Pointer to ``<W x dtype>`` at element `offset` of the 1-D array `ary`."""
    array = context.make_array(aryty)(context, builder, ary)
    offset = context.cast(builder, offset, offty, types.intp)
    return builder.bitcast(builder.gep(array.data, [offset]), vt.as_pointer())


def _splat(builder, vt, value, width):
    vec = ir.Constant(vt, ir.Undefined)
    for i in range(width):
        vec = builder.insert_element(vec, value, ir.Constant(_I32, i))
    return vec


def _vector_op(arity, build, domain=types.Float, streamed=False):
    """An intrinsic ``vop(F, o, a, b, c, p, lanes)``: ``F[o:o+W] = build(F[a:a+W], ...)``.

    `build(builder, vt, p_splat, *operands)` returns the result vector; unused operand
    offsets are ignored; ``p`` is the modulus for integer arrays (ignored for floats). On an
    array of the other `domain` (float ops on the int64 file of the modular kernels and vice
    versa) it compiles to nothing: those branches exist in both kernels but never run.
    `streamed`: the result goes past the caches (a non-temporal store, whose address must
    be a multiple of the vector's size: rows of W >= 8 lanes in the 64-byte aligned buffer).
    """

    @intrinsic
    def vop(typingctx, F, o, a, b, c, p, lanes):
        width = lanes.count
        dtype = F.dtype

        def codegen(context, builder, sig, args):
            if not isinstance(dtype, domain):
                return context.get_dummy_value()
            et = context.get_value_type(dtype)
            vt = ir.VectorType(et, width)
            align = context.get_abi_sizeof(et)
            xs = [builder.load(_vec_ptr(context, builder, sig.args[0], args[0], args[2 + i],
                                        sig.args[2 + i], vt), align=align)
                  for i in range(arity)]
            pv = None
            if isinstance(dtype, types.Integer):
                pv = _splat(builder, vt, context.cast(builder, args[5], sig.args[5], dtype),
                            width)
            result = build(builder, vt, pv, *xs)
            store = builder.store(result, _vec_ptr(context, builder, sig.args[0], args[0],
                                                   args[1], sig.args[1], vt),
                                  align=align * width if streamed else align)
            if streamed:
                store.set_metadata("nontemporal", builder.module.add_metadata([_I32(1)]))
            return context.get_dummy_value()

        return types.void(F, o, a, b, c, p, lanes), codegen

    return vop


def _zero(vt):
    return ir.Constant(vt, None)


def _llvm_call(builder, name, vt, *operands):
    """Call the LLVM vector intrinsic `name` (e.g. llvm.fabs) on operands of type `vt`."""
    et = vt.element
    suffix = f"v{vt.count}{'f64' if isinstance(et, ir.DoubleType) else 'f32'}"
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt] * len(
        operands)), f"{name}.{suffix}")
    return builder.call(fn, list(operands))


def _as_float(builder, vt, mask):
    return builder.uitofp(mask, vt)


def _maximum(builder, x, y):
    # numpy's maximum: x if x > y or x is NaN, else y (so y on ties, e.g. -0.0 vs 0.0)
    take_x = builder.or_(builder.fcmp_ordered(">", x, y), builder.fcmp_unordered("uno", x, x))
    return builder.select(take_x, x, y)


def _minimum(builder, x, y):
    take_x = builder.or_(builder.fcmp_ordered("<", x, y), builder.fcmp_unordered("uno", x, x))
    return builder.select(take_x, x, y)


_vadd = _vector_op(2, lambda b, vt, p, x, y: b.fadd(x, y))
_vsub = _vector_op(2, lambda b, vt, p, x, y: b.fsub(x, y))
_vmul = _vector_op(2, lambda b, vt, p, x, y: b.fmul(x, y))
_vdiv = _vector_op(2, lambda b, vt, p, x, y: b.fdiv(x, y))
_vmax = _vector_op(2, lambda b, vt, p, x, y: _maximum(b, x, y))
_vmin = _vector_op(2, lambda b, vt, p, x, y: _minimum(b, x, y))
_vlt = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered("<", x, y)))
_vle = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered("<=", x, y)))
_vgt = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered(">", x, y)))
_vge = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered(">=", x, y)))
_veq = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered("==", x, y)))
_vne = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_unordered("!=", x, y)))
_vneg = _vector_op(1, lambda b, vt, p, x: b.fneg(x))
_vabs = _vector_op(1, lambda b, vt, p, x: _llvm_call(b, "llvm.fabs", vt, x))
_vsqrt = _vector_op(1, lambda b, vt, p, x: _llvm_call(b, "llvm.sqrt", vt, x))
_vrelu = _vector_op(1, lambda b, vt, p, x: _maximum(b, x, _zero(vt)))
_vselect = _vector_op(3, lambda b, vt, p, x, y, z: b.select(
    b.fcmp_unordered("!=", x, _zero(vt)), y, z))
# fused: a product then a sum, each rounded (no FMA contraction: the circuit's own rounding)
_vmuladd = _vector_op(3, lambda b, vt, p, x, y, z: b.fadd(b.fmul(x, y), z))
# the ops of `isa.STREAMABLE` with their results stored past the caches
_vadd_streamed = _vector_op(2, lambda b, vt, p, x, y: b.fadd(x, y), streamed=True)
_vsub_streamed = _vector_op(2, lambda b, vt, p, x, y: b.fsub(x, y), streamed=True)
_vmul_streamed = _vector_op(2, lambda b, vt, p, x, y: b.fmul(x, y), streamed=True)
_vmuladd_streamed = _vector_op(3, lambda b, vt, p, x, y, z: b.fadd(b.fmul(x, y), z),
                               streamed=True)


def _float_only(width, body):
    """A codegen that emits ``body(context, builder, sig, args, vt, align)`` (``vt`` the
    ``<width x dtype>`` vector of the array argument, ``align`` its element size) for arrays of
    floats, and nothing for the int64 arrays of the modular kernels, which compile the
    float-only ops too but never reach them."""

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        if isinstance(aryty.dtype, types.Float):
            et = context.get_value_type(aryty.dtype)
            body(context, builder, sig, args, ir.VectorType(et, width),
                 context.get_abi_sizeof(et))
        return context.get_dummy_value()

    return codegen


def _sum_of_products(builder, xs):
    """``xs[0]*xs[1] + xs[2]*xs[3] + ...`` summed as a balanced tree in order, each op
    rounded (no FMA: the circuit's own rounding)."""
    terms = [builder.fmul(xs[2 * i], xs[2 * i + 1]) for i in range(len(xs) // 2)]
    while len(terms) > 1:
        terms = [builder.fadd(terms[i], terms[i + 1]) for i in range(0, len(terms), 2)]
    return terms[0]


def _dot_codegen(n_pairs, width):
    """Codegen of ``F[o:o+W] = sum of n_pairs products`` over operand offsets
    (`_sum_of_products`)."""

    def body(context, builder, sig, args, vt, align):
        aryty = sig.args[0]
        xs = [builder.load(_vec_ptr(context, builder, aryty, args[0], args[i], sig.args[i], vt),
                           align=align) for i in range(2, 2 + 2 * n_pairs)]
        builder.store(_sum_of_products(builder, xs),
                      _vec_ptr(context, builder, aryty, args[0], args[1], sig.args[1], vt),
                      align=align)

    return _float_only(width, body)


@intrinsic
def _vdot2(typingctx, F, o, a, b, c, d, lanes):
    """``F[o:o+W] = F[a:a+W] * F[b:b+W] + F[c:c+W] * F[d:d+W]`` (floats)."""
    return types.void(F, o, a, b, c, d, lanes), _dot_codegen(2, lanes.count)


@intrinsic
def _vdot4(typingctx, F, o, a, b, c, d, e, f, g, h, lanes):
    """``F[o:o+W] = (a*b + c*d) + (e*f + g*h)`` over the rows at those offsets (floats)."""
    return types.void(F, o, a, b, c, d, e, f, g, h, lanes), _dot_codegen(4, lanes.count)


def _shared_dot4(side):
    """An intrinsic ``f(F, G, r, st, lanes)``: G programs of one DOT4 instruction whose
    operand rows on one `side` of every product (0: the first factors, fields 0, 2, 4, 6;
    1: the second ones) stay put from program to program (``st`` 0 there: a matmul row of A
    shared by a group's programs C[i, j], j = 0, 1, ...). Those four rows are loaded once,
    before the loop, and each program loads only its own four: half the loads. Products and
    sums as `_vdot4` (same operand order, same association). Registers and strides are
    element offsets (``r[OUT]``, ``st[OUT]``: the result); the programs of a step never write a
    row another one reads, so the hoisted loads see the same values."""
    fixed = (0, 2, 4, 6) if side == 0 else (1, 3, 5, 7)

    @intrinsic
    def dot4(typingctx, F, G, r, st, lanes):
        def body(context, builder, sig, args, vt, align):
            data = context.make_array(sig.args[0])(context, builder, args[0]).data
            count = context.cast(builder, args[1], sig.args[1], types.intp)
            first = [context.cast(builder, builder.extract_value(args[2], f),
                                  sig.args[2].dtype, types.intp) for f in range(N_FIELDS)]
            stride = [context.cast(builder, builder.extract_value(args[3], f),
                                   sig.args[3].dtype, types.intp) for f in range(N_FIELDS)]

            def pointer(offset):
                return builder.bitcast(builder.gep(data, [offset]), vt.as_pointer())

            kept = {f: builder.load(pointer(first[f]), align=align) for f in fixed}
            with cgutils.for_range(builder, count) as loop:
                g = loop.index

                def at(f):
                    return builder.add(first[f], builder.mul(g, stride[f]))

                xs = [kept[f] if f in kept else builder.load(pointer(at(f)), align=align)
                      for f in range(8)]
                builder.store(_sum_of_products(builder, xs), pointer(at(OUT)), align=align)

        return types.void(F, G, r, st, lanes), _float_only(lanes.count, body)

    return dot4


_vdot4_first_kept = _shared_dot4(0)
_vdot4_second_kept = _shared_dot4(1)


def _mod_add(b, vt, p, x, y):
    s = b.add(x, y)
    return b.select(b.icmp_signed(">=", s, p), b.sub(s, p), s)


def _mod_sub(b, vt, p, x, y):
    d = b.sub(x, y)
    return b.select(b.icmp_signed("<", d, _zero(vt)), b.add(d, p), d)


def _mod_neg(b, vt, p, x):
    return b.select(b.icmp_signed("==", x, _zero(vt)), x, b.sub(p, x))


_vadd_p = _vector_op(2, _mod_add, types.Integer)
_vsub_p = _vector_op(2, _mod_sub, types.Integer)
_vneg_p = _vector_op(1, _mod_neg, types.Integer)


@intrinsic
def _vcopy_from(typingctx, D, od, S, os, lanes):
    """``D[od:od+W] = S[os:os+W]`` between two 1-D arrays of one dtype."""
    width = lanes.count

    def codegen(context, builder, sig, args):
        et = context.get_value_type(sig.args[0].dtype)
        vt = ir.VectorType(et, width)
        align = context.get_abi_sizeof(et)
        value = builder.load(_vec_ptr(context, builder, sig.args[2], args[2], args[3],
                                      sig.args[3], vt), align=align)
        builder.store(value, _vec_ptr(context, builder, sig.args[0], args[0], args[1],
                                      sig.args[1], vt), align=align)
        return context.get_dummy_value()

    if D.dtype != S.dtype:
        return None
    return types.void(D, od, S, os, lanes), codegen


@intrinsic
def _prefetch(typingctx, V, off):
    """Ask the cache for the line holding ``V[off]`` (a hint: no fault, no result)."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, _I32, _I32, _I32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        # (read, keep in all cache levels, data cache)
        builder.call(fn, [ptr, _I32(0), _I32(3), _I32(1)])
        return context.get_dummy_value()

    return types.void(V, off), codegen


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
@numba.njit(error_model="numpy")
def _s_add(x, y, z, p):
    return x + y


@numba.njit(error_model="numpy")
def _s_sub(x, y, z, p):
    return x - y


@numba.njit(error_model="numpy")
def _s_mul(x, y, z, p):
    return x * y


@numba.njit(error_model="numpy")
def _s_div(x, y, z, p):
    return x / y


@numba.njit(error_model="numpy")
def _s_max(x, y, z, p):
    return x if (x > y) | (x != x) else y


@numba.njit(error_model="numpy")
def _s_min(x, y, z, p):
    return x if (x < y) | (x != x) else y


@numba.njit(error_model="numpy")
def _s_lt(x, y, z, p):
    return 1.0 if x < y else 0.0


@numba.njit(error_model="numpy")
def _s_le(x, y, z, p):
    return 1.0 if x <= y else 0.0


@numba.njit(error_model="numpy")
def _s_gt(x, y, z, p):
    return 1.0 if x > y else 0.0


@numba.njit(error_model="numpy")
def _s_ge(x, y, z, p):
    return 1.0 if x >= y else 0.0


@numba.njit(error_model="numpy")
def _s_eq(x, y, z, p):
    return 1.0 if x == y else 0.0


@numba.njit(error_model="numpy")
def _s_ne(x, y, z, p):
    return 1.0 if x != y else 0.0


@numba.njit(error_model="numpy")
def _s_neg(x, y, z, p):
    return -x


@numba.njit(error_model="numpy")
def _s_abs(x, y, z, p):
    return abs(x)


@numba.njit(error_model="numpy")
def _s_sqrt(x, y, z, p):
    return math.sqrt(x)


@numba.njit(error_model="numpy")
def _s_relu(x, y, z, p):
    return x if (x > 0) | (x != x) else 0.0


@numba.njit(error_model="numpy")
def _s_select(x, y, z, p):
    return y if x != 0 else z


@numba.njit(error_model="numpy")
def _s_muladd(x, y, z, p):
    return x * y + z


@numba.njit(error_model="numpy")
def _s_tanh(x, y, z, p):
    return math.tanh(x)


@numba.njit(error_model="numpy")
def _s_sigmoid(x, y, z, p):
    return _sigmoid(x)


@numba.njit(error_model="numpy")
def _s_exp(x, y, z, p):
    return math.exp(x)


@numba.njit(error_model="numpy")
def _s_log(x, y, z, p):
    return math.log(x)


@numba.njit(error_model="numpy")
def _s_softplus(x, y, z, p):
    return _softplus(x)


@numba.njit(error_model="numpy")
def _s_silu(x, y, z, p):
    return _silu(x)


@numba.njit(error_model="numpy")
def _s_add_p(x, y, z, p):
    s = x + y
    return s - p if s >= p else s


@numba.njit(error_model="numpy")
def _s_sub_p(x, y, z, p):
    d = x - y
    return d + p if d < 0 else d


@numba.njit(error_model="numpy")
def _s_mul_p(x, y, z, p):
    return (x * y) % p


@numba.njit(error_model="numpy")
def _s_neg_p(x, y, z, p):
    return x if x == 0 else p - x


@numba.njit(error_model="numpy")
def _s_muladd_p(x, y, z, p):
    s = (x * y) % p + z
    return s - p if s >= p else s


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


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _block_float(op, n, oo, oa, ob, oc, V, p):  # noqa: C901
    if op == MULADD:  # (first: the combine of every linear scan, a*h + b)
        _block3(_s_muladd, V, oo, oa, ob, oc, n, p)
    elif op == ADD:
        _block2(_s_add, V, oo, oa, ob, n, p)
    elif op == MUL:
        _block2(_s_mul, V, oo, oa, ob, n, p)
    elif op == SUB:
        _block2(_s_sub, V, oo, oa, ob, n, p)
    elif op == DIV:
        _block2(_s_div, V, oo, oa, ob, n, p)
    elif op == MAX:
        _block2(_s_max, V, oo, oa, ob, n, p)
    elif op == MIN:
        _block2(_s_min, V, oo, oa, ob, n, p)
    elif op == LT:
        _block2(_s_lt, V, oo, oa, ob, n, p)
    elif op == LE:
        _block2(_s_le, V, oo, oa, ob, n, p)
    elif op == GT:
        _block2(_s_gt, V, oo, oa, ob, n, p)
    elif op == GE:
        _block2(_s_ge, V, oo, oa, ob, n, p)
    elif op == EQ:
        _block2(_s_eq, V, oo, oa, ob, n, p)
    elif op == NE:
        _block2(_s_ne, V, oo, oa, ob, n, p)
    elif op == NEG:
        _block1(_s_neg, V, oo, oa, n, p)
    elif op == ABS:
        _block1(_s_abs, V, oo, oa, n, p)
    elif op == SQRT:
        _block1(_s_sqrt, V, oo, oa, n, p)
    elif op == RELU:
        _block1(_s_relu, V, oo, oa, n, p)
    elif op == SELECT:
        _block3(_s_select, V, oo, oa, ob, oc, n, p)
    elif op == TANH:
        _block1(_s_tanh, V, oo, oa, n, p)
    elif op == SIGMOID:
        _block1(_s_sigmoid, V, oo, oa, n, p)
    elif op == EXP:
        _block1(_s_exp, V, oo, oa, n, p)
    elif op == LOG:
        _block1(_s_log, V, oo, oa, n, p)
    elif op == SOFTPLUS:
        _block1(_s_softplus, V, oo, oa, n, p)
    elif op == SILU:
        _block1(_s_silu, V, oo, oa, n, p)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _block_modp(op, n, oo, oa, ob, oc, V, p):
    if op == ADD:
        _block2(_s_add_p, V, oo, oa, ob, n, p)
    elif op == SUB:
        _block2(_s_sub_p, V, oo, oa, ob, n, p)
    elif op == MUL:
        _block2(_s_mul_p, V, oo, oa, ob, n, p)
    elif op == NEG:
        _block1(_s_neg_p, V, oo, oa, n, p)
    elif op == MULADD:
        _block3(_s_muladd_p, V, oo, oa, ob, oc, n, p)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def block_kernel(op, n, oo, oa, ob, oc, V, p):
    """An affine segment: ``n`` contiguous elements from offsets oa, ob, oc into oo.

    ``p > 0`` selects arithmetic modulo p (both branches are compiled for every dtype; the
    ops of the other domain are never reached, see `_vector_op`).
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
            _vmuladd_streamed(V, oo + j, oa + j, ob + j, oc + j, p, lanes)
    elif op == MUL:
        for j in range(0, n, W):
            _vmul_streamed(V, oo + j, oa + j, ob + j, 0, p, lanes)
    elif op == ADD:
        for j in range(0, n, W):
            _vadd_streamed(V, oo + j, oa + j, ob + j, 0, p, lanes)
    elif op == SUB:
        for j in range(0, n, W):
            _vsub_streamed(V, oo + j, oa + j, ob + j, 0, p, lanes)


# -- one run of gates ----------------------------------------------------------------------------
@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _gates_float(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes):  # noqa: C901
    W = len(lanes)
    if op == ADD:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vadd(V, ro, ra, rb, 0, p, lanes)
    elif op == MUL:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vmul(V, ro, ra, rb, 0, p, lanes)
    elif op == SUB:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vsub(V, ro, ra, rb, 0, p, lanes)
    elif op == DIV:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vdiv(V, ro, ra, rb, 0, p, lanes)
    elif op == MAX:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vmax(V, ro, ra, rb, 0, p, lanes)
    elif op == MIN:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vmin(V, ro, ra, rb, 0, p, lanes)
    elif op == LT:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vlt(V, ro, ra, rb, 0, p, lanes)
    elif op == LE:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vle(V, ro, ra, rb, 0, p, lanes)
    elif op == GT:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vgt(V, ro, ra, rb, 0, p, lanes)
    elif op == GE:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vge(V, ro, ra, rb, 0, p, lanes)
    elif op == EQ:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _veq(V, ro, ra, rb, 0, p, lanes)
    elif op == NE:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vne(V, ro, ra, rb, 0, p, lanes)
    elif op == NEG:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vneg(V, ro, ra, 0, 0, p, lanes)
    elif op == ABS:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vabs(V, ro, ra, 0, 0, p, lanes)
    elif op == SQRT:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vsqrt(V, ro, ra, 0, 0, p, lanes)
    elif op == RELU:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vrelu(V, ro, ra, 0, 0, p, lanes)
    elif op == SELECT:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vselect(V, ro, ra, rb, rc, p, lanes)
    elif op == MULADD:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vmuladd(V, ro, ra, rb, rc, p, lanes)
    else:  # the transcendental ops are scalar anyway: W lanes as a block, gate by gate
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            block_kernel(np.int64(op), np.int64(W), ro, ra, np.int64(0), np.int64(0), V, p)


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _gates_modp(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes):
    W = len(lanes)
    if op == ADD:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vadd_p(V, ro, ra, rb, 0, p, lanes)
    elif op == SUB:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vsub_p(V, ro, ra, rb, 0, p, lanes)
    elif op == NEG:
        for g in range(g0, g1):
            ra, rb, rc, ro = _regs(g, ga, gb, gc, go, st, Bp, col)
            _vneg_p(V, ro, ra, 0, 0, p, lanes)
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


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def gates_kernel(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes):
    """Gates g0..g1-1 of one op, one W-lane vector per gate (``p > 0``: modulo p); see
    `_regs` for `st`."""
    if p > 0:
        _gates_modp(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)
    else:
        _gates_float(op, g0, g1, col, V, Bp, ga, gb, gc, go, st, p, lanes)


# -- fused trees ---------------------------------------------------------------------------------
@numba.njit(inline="always", nogil=True, error_model="numpy")
def _mulmod(V, i, k, p):
    return (V[i] * V[k]) % p


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _addmod(x, y, p):
    s = x + y
    return s - p if s >= p else s


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _tree_op(op, V, r, p, lanes):
    """One instruction of a fused tree on W lanes: `r` holds the element offsets of its 8
    operands and (last) of its result. ADD, SUB, MUL, MULADD ``a*b + c``, DOT2 and DOT4
    (`rnncirc.eval.isa`); ``p > 0``: modulo p, lane by lane."""
    if p > 0:
        if op == DOT2 or op == DOT4:
            for j in range(len(lanes)):
                s = _addmod(_mulmod(V, r[0] + j, r[1] + j, p), _mulmod(V, r[2] + j, r[3] + j, p),
                            p)
                if op == DOT4:
                    s = _addmod(s, _addmod(_mulmod(V, r[4] + j, r[5] + j, p),
                                           _mulmod(V, r[6] + j, r[7] + j, p), p), p)
                V[r[OUT] + j] = s
        else:
            block_kernel(np.int64(op), np.int64(len(lanes)), r[OUT], r[0], r[1], r[2], V, p)
    elif op == DOT4:
        _vdot4(V, r[OUT], r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], lanes)
    elif op == DOT2:
        _vdot2(V, r[OUT], r[0], r[1], r[2], r[3], lanes)
    elif op == MULADD:
        _vmuladd(V, r[OUT], r[0], r[1], r[2], p, lanes)
    elif op == ADD:
        _vadd(V, r[OUT], r[0], r[1], 0, p, lanes)
    elif op == MUL:
        _vmul(V, r[OUT], r[0], r[1], 0, p, lanes)
    else:
        _vsub(V, r[OUT], r[0], r[1], 0, p, lanes)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _step(r, st):
    return (r[0] + st[0], r[1] + st[1], r[2] + st[2], r[3] + st[3], r[4] + st[4],
            r[5] + st[5], r[6] + st[6], r[7] + st[7], r[OUT] + st[OUT])


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _strided_instr(op, G, r, st, V, p, lanes):
    """One instruction of G programs whose registers move by constant strides `st` from `r`
    (element offsets); the op is tested once, outside the loop."""
    if p > 0:
        for _ in range(G):
            _tree_op(op, V, r, p, lanes)
            r = _step(r, st)
    elif op == DOT4:
        if st[0] == 0 and st[2] == 0 and st[4] == 0 and st[6] == 0:
            _vdot4_first_kept(V, G, r, st, lanes)
        elif st[1] == 0 and st[3] == 0 and st[5] == 0 and st[7] == 0:
            _vdot4_second_kept(V, G, r, st, lanes)
        else:
            for _ in range(G):
                _vdot4(V, r[OUT], r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], lanes)
                r = _step(r, st)
    elif op == DOT2:
        for _ in range(G):
            _vdot2(V, r[OUT], r[0], r[1], r[2], r[3], lanes)
            r = _step(r, st)
    elif op == MULADD:
        for _ in range(G):
            _vmuladd(V, r[OUT], r[0], r[1], r[2], p, lanes)
            r = _step(r, st)
    elif op == ADD:
        for _ in range(G):
            _vadd(V, r[OUT], r[0], r[1], 0, p, lanes)
            r = _step(r, st)
    elif op == MUL:
        for _ in range(G):
            _vmul(V, r[OUT], r[0], r[1], 0, p, lanes)
            r = _step(r, st)
    else:
        for _ in range(G):
            _vsub(V, r[OUT], r[0], r[1], 0, p, lanes)
            r = _step(r, st)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _at(r, sbase, shift, Bp, col):
    """Element offset of register r; scratch registers (>= sbase) moved by the task's shift."""
    return (r + shift if r >= sbase else r) * Bp + col


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _indexed_instr(op, r0, G, col, V, Bp, fi, sbase, shift, p, lanes):
    """One instruction of G programs, registers from index rows r0..r0+G-1; the op is
    tested once, and each loop reads only the fields its op uses."""
    if p > 0 or op == DOT4:
        for i in range(r0, r0 + G):
            r = (_at(fi[i, 0], sbase, shift, Bp, col), _at(fi[i, 1], sbase, shift, Bp, col),
                 _at(fi[i, 2], sbase, shift, Bp, col), _at(fi[i, 3], sbase, shift, Bp, col),
                 _at(fi[i, 4], sbase, shift, Bp, col), _at(fi[i, 5], sbase, shift, Bp, col),
                 _at(fi[i, 6], sbase, shift, Bp, col), _at(fi[i, 7], sbase, shift, Bp, col),
                 _at(fi[i, OUT], sbase, shift, Bp, col))
            _tree_op(op, V, r, p, lanes)
    elif op == DOT2:
        for i in range(r0, r0 + G):
            _vdot2(V, _at(fi[i, OUT], sbase, shift, Bp, col), _at(fi[i, 0], sbase, shift, Bp, col),
                   _at(fi[i, 1], sbase, shift, Bp, col), _at(fi[i, 2], sbase, shift, Bp, col),
                   _at(fi[i, 3], sbase, shift, Bp, col), lanes)
    elif op == MULADD:
        for i in range(r0, r0 + G):
            _vmuladd(V, _at(fi[i, OUT], sbase, shift, Bp, col),
                     _at(fi[i, 0], sbase, shift, Bp, col), _at(fi[i, 1], sbase, shift, Bp, col),
                     _at(fi[i, 2], sbase, shift, Bp, col), p, lanes)
    else:
        for i in range(r0, r0 + G):
            ro = _at(fi[i, OUT], sbase, shift, Bp, col)
            ra = _at(fi[i, 0], sbase, shift, Bp, col)
            rb = _at(fi[i, 1], sbase, shift, Bp, col)
            if op == ADD:
                _vadd(V, ro, ra, rb, 0, p, lanes)
            elif op == MUL:
                _vmul(V, ro, ra, rb, 0, p, lanes)
            else:
                _vsub(V, ro, ra, rb, 0, p, lanes)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _first(gi, m, f, shift, Bp, col):
    """Element offset of field f of group instruction m's first program."""
    return (gi[m, GI_FIRST + f] + (shift if (gi[m, GI_SCRATCH] >> f) & 1 else 0)) * Bp + col


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def group_kernel(k0, k1, col, V, Bp, grp, gi, fi, sbase, shift, p, lanes):
    """Groups k0..k1-1 of fused trees (see `rnncirc.eval.schedule.grouping`) on the
    W lanes at `col`, instruction-major within each group; `shift` moves the scratch rows
    (a task of a wide step has its own)."""
    for k in range(k0, k1):
        G = grp[k, GRP_SIZE]
        for m in range(grp[k, GRP_FIRST], grp[k + 1, GRP_FIRST]):
            op = gi[m, GI_OP]
            if gi[m, GI_INDEXED] != 0:
                _indexed_instr(np.int64(op), np.int64(gi[m, GI_ROW]), G, col, V, Bp, fi, sbase,
                               shift, p, lanes)
                continue
            r = (_first(gi, m, 0, shift, Bp, col), _first(gi, m, 1, shift, Bp, col),
                 _first(gi, m, 2, shift, Bp, col), _first(gi, m, 3, shift, Bp, col),
                 _first(gi, m, 4, shift, Bp, col), _first(gi, m, 5, shift, Bp, col),
                 _first(gi, m, 6, shift, Bp, col), _first(gi, m, 7, shift, Bp, col),
                 _first(gi, m, 8, shift, Bp, col))
            s0 = GI_STRIDE
            st = (gi[m, s0] * Bp, gi[m, s0 + 1] * Bp, gi[m, s0 + 2] * Bp, gi[m, s0 + 3] * Bp,
                  gi[m, s0 + 4] * Bp, gi[m, s0 + 5] * Bp, gi[m, s0 + 6] * Bp,
                  gi[m, s0 + 7] * Bp, gi[m, s0 + 8] * Bp)
            _strided_instr(np.int64(op), G, r, st, V, p, lanes)


# -- copies between the caller's arrays and the registers -----------------------------------------
@numba.njit(inline="always", nogil=True, error_model="numpy")
def _load(V, ro, X, so, xs1, k0, k1, nb, vec, lanes):
    """Register row at `ro` <- input slot whose first element is at `so` (lanes k0..k1)."""
    W = len(lanes)
    if vec:
        for col in range(k0 * W, k1 * W, W):
            _vcopy_from(V, ro + col, X, so + col, lanes)
    else:
        c1 = min(k1 * W, nb)
        for j in range(k0 * W, c1):
            V[ro + j] = X[so + j * xs1]
        for j in range(max(c1, k0 * W), k1 * W):  # padding lanes: a copy of lane 0
            V[ro + j] = X[so]


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _store(O, po, os1, V, ro, k0, k1, nb, vec, lanes):
    W = len(lanes)
    if vec:
        for col in range(k0 * W, k1 * W, W):
            _vcopy_from(O, po + col, V, ro + col, lanes)
    else:
        for j in range(k0 * W, min(k1 * W, nb)):
            O[po + j * os1] = V[ro + j]


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _copy_block(D, od, S, os, n):
    d, s = np.uint64(od), np.uint64(os)
    for j in range(n):
        u = np.uint64(j)
        D[d + u] = S[s + u]


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _copies(lo, hi, k0, k1, V, Bp, copy_dst, copy_src, copy_len, full, lanes):
    """Copy blocks lo..hi-1 (consecutive rows to consecutive rows): one contiguous copy
    when the lanes are whole rows, else vector by vector over lane chunks k0..k1-1."""
    W = len(lanes)
    for i in range(lo, hi):
        n = copy_len[i]
        if full:
            _copy_block(V, copy_dst[i] * Bp, V, copy_src[i] * Bp, n * Bp)
        else:
            for m in range(n):
                for col in range(k0 * W, k1 * W, W):
                    _vcopy_from(V, (copy_dst[i] + m) * Bp + col, V,
                                (copy_src[i] + m) * Bp + col, lanes)


class ScheduleArrays(NamedTuple):
    """What the kernels read of a schedule (`rnncirc.eval.schedule.Schedule`, whose docstring
    describes each array): one value handed down from `run` to every function that walks
    the schedule, instead of two dozen positional arguments five calls deep. `run` takes it
    as a plain tuple in this field order (`from_schedule` makes one), which Numba's dispatcher
    types without calling back into Python, and names its fields inside."""

    slot_row: np.ndarray
    n_in: int
    n_out: int
    ga: np.ndarray
    gb: np.ndarray
    gc: np.ndarray
    go: np.ndarray
    run_op: np.ndarray
    run_kind: np.ndarray
    run_ptr: np.ndarray
    run_idx: np.ndarray
    run_base: np.ndarray
    run_stride: np.ndarray
    level_run_ptr: np.ndarray
    grp: np.ndarray
    gi: np.ndarray
    fi: np.ndarray
    sbase: int
    nscr: int  # scratch rows per task (a task of a wide step moves its scratch by t * nscr)
    copy_dst: np.ndarray
    copy_src: np.ndarray
    copy_len: np.ndarray
    level_copy_ptr: np.ndarray
    pf_row: np.ndarray
    pf_len: np.ndarray
    level_pf_ptr: np.ndarray  # (all zeros: no prefetching)

    @classmethod
    def from_schedule(cls, schedule, prefetch: bool = True) -> tuple:
        """The plain tuple `run` takes for `schedule` (without its prefetch lists unless
        `prefetch`)."""
        s = schedule
        return tuple(cls(
            slot_row=s.slot_row, n_in=s.n_inputs, n_out=s.n_outputs, ga=s.ga, gb=s.gb,
            gc=s.gc, go=s.go, run_op=s.run_op, run_kind=s.run_kind, run_ptr=s.run_ptr,
            run_idx=s.run_idx, run_base=s.run_base, run_stride=s.run_stride,
            level_run_ptr=s.level_run_ptr, grp=s.grp, gi=s.gi, fi=s.fi, sbase=s.sbase,
            nscr=s.n_scratch, copy_dst=s.copy_dst, copy_src=s.copy_src, copy_len=s.copy_len,
            level_copy_ptr=s.level_copy_ptr, pf_row=s.pf_row, pf_len=s.pf_len,
            level_pf_ptr=s.level_pf_ptr if prefetch else s.no_prefetch_ptr))


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _segment(q, a, e, k0, k1, full, V, Bp, p, shift, lanes, s):
    """Gates a..e-1 (of the step order) of segment q of the schedule arrays `s`: an affine
    segment as one block loop when the lanes are whole rows (results stored past the caches
    when STREAMED), a strided one gate by gate with computed registers, an indexed one gate
    by gate with registers from the index arrays, a program segment fused tree by fused
    tree (scratch registers moved by `shift`)."""
    W = len(lanes)
    off = a - s.run_ptr[q]
    kind = s.run_kind[q]
    op = np.int64(s.run_op[q])
    if kind == PROGRAMS:
        g0 = s.run_idx[q] + off
        for col in range(k0 * W, k1 * W, W):
            group_kernel(g0, g0 + e - a, col, V, Bp, s.grp, s.gi, s.fi, s.sbase, shift, p, lanes)
        return
    if kind == INDEXED:
        i0 = s.run_idx[q] + off
        zero = np.int64(0)  # (typed like the strided tuple: one compiled gates_kernel)
        st = (zero, zero, zero, zero, zero, zero, zero, zero, zero)
        for col in range(k0 * W, k1 * W, W):
            gates_kernel(op, i0, i0 + e - a, col, V, Bp, s.ga, s.gb, s.gc, s.go, st, p, lanes)
        return
    # (scalar reads: a row view run_base[q] would cost reference counting per segment)
    base = s.run_base
    if kind == STREAMED and full and W > 1 and p == 0:  # (non-temporal stores: float vectors)
        stream_kernel(op, (e - a) * Bp, (base[q, SEG_OUT] + off) * Bp,
                      (base[q, SEG_A] + off) * Bp, (base[q, SEG_B] + off) * Bp,
                      (base[q, SEG_C] + off) * Bp, V, p, lanes)
        return
    if (kind == AFFINE or kind == STREAMED) and full:
        block_kernel(op, (e - a) * Bp, (base[q, SEG_OUT] + off) * Bp,
                     (base[q, SEG_A] + off) * Bp, (base[q, SEG_B] + off) * Bp,
                     (base[q, SEG_C] + off) * Bp, V, p)
        return
    stride = s.run_stride
    st = (np.int64(base[q, SEG_A]), np.int64(stride[q, SEG_A]), np.int64(base[q, SEG_B]),
          np.int64(stride[q, SEG_B]), np.int64(base[q, SEG_C]), np.int64(stride[q, SEG_C]),
          np.int64(base[q, SEG_OUT]), np.int64(stride[q, SEG_OUT]), np.int64(1))
    for col in range(k0 * W, k1 * W, W):
        gates_kernel(op, off, off + e - a, col, V, Bp, s.ga, s.gb, s.gc, s.go, st, p, lanes)


# (`_levels` and `_share` are compiled without NRT too: `_segment` is inlined into them, and
# with NRT every inlined call increfs and decrefs each of its arrays, atomics that can cost
# more than a short affine segment itself)
@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _levels(l0, l1, k0, k1, V, Bp, p, lanes, s):
    """Steps l0..l1-1 of the schedule arrays `s` on lane chunks k0..k1-1, serially; before
    each step, the cache lines of the rows it prefetches
    (`rnncirc.eval.schedule.layout.prefetch_lists`)."""
    W = len(lanes)
    full = k0 == 0 and k1 * W == Bp
    line = 64 // V.itemsize
    for lv in range(l0, l1):
        for i in range(s.level_pf_ptr[lv], s.level_pf_ptr[lv + 1]):
            for off in range(s.pf_row[i] * Bp, (s.pf_row[i] + s.pf_len[i]) * Bp, line):
                _prefetch(V, off)
        for q in range(s.level_run_ptr[lv], s.level_run_ptr[lv + 1]):
            _segment(q, s.run_ptr[q], s.run_ptr[q + 1], k0, k1, full, V, Bp, p, np.int64(0),
                     lanes, s)
        _copies(s.level_copy_ptr[lv], s.level_copy_ptr[lv + 1], k0, k1, V, Bp, s.copy_dst,
                s.copy_src, s.copy_len, full, lanes)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fill_rows(src, dst, row, slot_row, c0, c1):
    """``dst[slot_row[s]*row + j] = src[j, s]`` for slots c0..c1-1 (with a cast): the
    caller's ``(batch, slots)`` array into the input rows of a buffer (rows of `row`
    elements, slot s in row ``slot_row[s]``). Slot by slot, so the writes are whole rows and
    the reads `batch` sequential streams (unsigned offsets: no wraparound checks)."""
    rows = src.shape[0]
    for c in range(c0, c1):
        o = np.uint64(slot_row[c] * row)
        for j in range(rows):
            dst[o + np.uint64(j)] = src[j, c]


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _share(lv, t, n_tasks, V, Bp, p, lanes, s):
    """Task t's share of the gates of step lv (a wide step), with its own scratch rows."""
    q_lo = s.level_run_ptr[lv]
    q_hi = s.level_run_ptr[lv + 1]
    g_lo = s.run_ptr[q_lo]
    n = s.run_ptr[q_hi] - g_lo
    a = g_lo + n * t // n_tasks
    b = g_lo + n * (t + 1) // n_tasks
    if a >= b:
        return
    q = q_lo
    while s.run_ptr[q + 1] <= a and q < q_hi - 1:  # the segment holding gate a
        q += 1
    while a < b:
        e = min(s.run_ptr[q + 1], b)
        _segment(q, a, e, 0, Bp // len(lanes), True, V, Bp, p, t * s.nscr, lanes, s)
        a = e
        q += 1


#: how `run` splits the work over threads
SERIAL, LANES, WIDE = 0, 1, 2


@numba.njit(nogil=True, error_model="numpy")
def _task(mode, step, t, n_tasks, l0, l1, bounds, V, Bp, X, xs0, xs1, O, os0, os1, p, lanes,
          s):
    """Task t of a parallel step (see `run`); in a wide step each task has its own
    scratch registers."""
    W = len(lanes)
    chunks = Bp // W
    if mode == LANES:  # lanes bounds[t]..bounds[t+1]-1, in the t-th buffer
        size = len(V) // n_tasks
        Vt = V[t * size:(t + 1) * size]
        lo = bounds[t]
        m = bounds[t + 1] - lo
        vec_in = xs1 == 1 and m == Bp
        # (in when the first step runs, out after the last: a run cut into chunks for
        # progress reports calls this once per chunk)
        for i in range(s.n_in if l0 == 0 else 0):
            _load(Vt, s.slot_row[i] * Bp, X, i * xs0 + lo * xs1, xs1, np.int64(0), chunks, m,
                  vec_in, lanes)
        _levels(l0, l1, np.int64(0), chunks, Vt, Bp, p, lanes, s)
        vec_out = os1 == 1 and m == Bp
        for i in range(s.n_out if l1 == len(s.level_run_ptr) - 1 else 0):
            _store(O, i * os0 + lo * os1, os1, Vt, (s.n_in + i) * Bp, np.int64(0), chunks, m,
                   vec_out, lanes)
        return
    lv = l0 + step // 2
    if step % 2 == 0:
        _share(lv, t, n_tasks, V, Bp, p, lanes, s)
    else:
        lo = s.level_copy_ptr[lv]
        n = s.level_copy_ptr[lv + 1] - lo
        _copies(lo + n * t // n_tasks, lo + n * (t + 1) // n_tasks, 0, chunks, V, Bp,
                s.copy_dst, s.copy_src, s.copy_len, True, lanes)


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def run(mode, l0, l1, n_tasks, bounds, V, Bp, X, xs0, xs1, O, os0, os1, p, lanes, arrays):
    """Evaluate steps l0..l1-1 of the schedule whose `ScheduleArrays` are `arrays` (a plain
    tuple, `ScheduleArrays.from_schedule`): the one compiled entry point (per dtype and
    width W).

    `V` is the buffer: input slot s in row ``slot_row[s]`` (rows 0..n_in-1), output
    position p in row ``n_in + p``, the registers after them
    (`rnncirc.eval.schedule.registers`), ``Bp`` lanes a row.

    * SERIAL: one thread walks the steps over all lanes of `V`.
    * LANES: `V` holds `n_tasks` buffers of ``Bp`` lanes each; thread t copies batch lanes
      ``bounds[t]..bounds[t+1]-1`` of the inputs `X` into its buffer, walks the steps and
      copies its outputs to `O` (flat arrays with element strides ``(s0, s1)``: slot s of
      lane j is ``X[s*s0 + j*s1]``). The lanes of a batch are independent, so threads
      never wait for each other or share a cache line.
    * WIDE: every step's gates and copies are each split over `n_tasks` tasks (a task's
      share of an affine segment is still affine).
    """
    s = ScheduleArrays(*arrays)
    if mode == SERIAL:
        _levels(l0, l1, np.int64(0), Bp // len(lanes), V, Bp, p, lanes, s)
        return
    n_steps = 1 if mode == LANES else 2 * (l1 - l0)
    for step in range(n_steps):
        for t in prange(n_tasks):
            _task(mode, step, np.int64(t), n_tasks, l0, l1, bounds, V, Bp, X, xs0, xs1, O,
                  os0, os1, p, lanes, s)
