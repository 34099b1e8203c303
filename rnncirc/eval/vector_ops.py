"""LLVM vector intrinsics of the kernels: one op on a ``<W x dtype>`` vector of registers.

Where this sits: the bottom of the evaluator's kernels (`rnncirc.eval.kernels`, the cached
entry point; `segment_kernels` and `tree_kernels` call these once per gate or instruction).
Arithmetic, comparisons, min/max, abs, sqrt and select are emitted as LLVM vector
instructions through small `intrinsic`s, because Numba's own vectorizer does not vectorize a
loop of 8 lanes. ``W`` is a compile-time constant carried by the *type* of the ``lanes``
argument (a tuple of W zeros). Semantics follow `rnncirc.ir.ops` bit for bit (NaN
propagation and ties of maximum/minimum as numpy, comparisons as 1.0/0.0,
``select(a, b, c) = b if a != 0 else c``). On an int64 register file with ``p > 0`` the
modular forms (``vadd_p``, ``vsub_p``, ``vneg_p``) compute exactly modulo p by
compare-and-correct. Streamed forms store past the caches (non-temporal stores);
`prefetch_line` asks the cache for a line ahead of a step.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from rnncirc.eval.isa import N_FIELDS, OUT

_I32 = ir.IntType(32)


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


vadd = _vector_op(2, lambda b, vt, p, x, y: b.fadd(x, y))
vsub = _vector_op(2, lambda b, vt, p, x, y: b.fsub(x, y))
vmul = _vector_op(2, lambda b, vt, p, x, y: b.fmul(x, y))
vdiv = _vector_op(2, lambda b, vt, p, x, y: b.fdiv(x, y))
vmax = _vector_op(2, lambda b, vt, p, x, y: _maximum(b, x, y))
vmin = _vector_op(2, lambda b, vt, p, x, y: _minimum(b, x, y))
vlt = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered("<", x, y)))
vle = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered("<=", x, y)))
vgt = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered(">", x, y)))
vge = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered(">=", x, y)))
veq = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_ordered("==", x, y)))
vne = _vector_op(2, lambda b, vt, p, x, y: _as_float(b, vt, b.fcmp_unordered("!=", x, y)))
vneg = _vector_op(1, lambda b, vt, p, x: b.fneg(x))
vabs = _vector_op(1, lambda b, vt, p, x: _llvm_call(b, "llvm.fabs", vt, x))
vsqrt = _vector_op(1, lambda b, vt, p, x: _llvm_call(b, "llvm.sqrt", vt, x))
vrelu = _vector_op(1, lambda b, vt, p, x: _maximum(b, x, _zero(vt)))
vselect = _vector_op(3, lambda b, vt, p, x, y, z: b.select(
    b.fcmp_unordered("!=", x, _zero(vt)), y, z))
# fused: a product then a sum, each rounded (no FMA contraction: the circuit's own rounding)
vmuladd = _vector_op(3, lambda b, vt, p, x, y, z: b.fadd(b.fmul(x, y), z))
# the ops of `isa.STREAMABLE` with their results stored past the caches
vadd_streamed = _vector_op(2, lambda b, vt, p, x, y: b.fadd(x, y), streamed=True)
vsub_streamed = _vector_op(2, lambda b, vt, p, x, y: b.fsub(x, y), streamed=True)
vmul_streamed = _vector_op(2, lambda b, vt, p, x, y: b.fmul(x, y), streamed=True)
vmuladd_streamed = _vector_op(3, lambda b, vt, p, x, y, z: b.fadd(b.fmul(x, y), z),
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
def vdot2(typingctx, F, o, a, b, c, d, lanes):
    """``F[o:o+W] = F[a:a+W] * F[b:b+W] + F[c:c+W] * F[d:d+W]`` (floats)."""
    return types.void(F, o, a, b, c, d, lanes), _dot_codegen(2, lanes.count)


@intrinsic
def vdot4(typingctx, F, o, a, b, c, d, e, f, g, h, lanes):
    """``F[o:o+W] = (a*b + c*d) + (e*f + g*h)`` over the rows at those offsets (floats)."""
    return types.void(F, o, a, b, c, d, e, f, g, h, lanes), _dot_codegen(4, lanes.count)


def _shared_dot4(side):
    """An intrinsic ``f(F, G, r, st, lanes)``: G programs of one DOT4 instruction whose
    operand rows on one `side` of every product (0: the first factors, fields 0, 2, 4, 6;
    1: the second ones) stay put from program to program (``st`` 0 there: a matmul row of A
    shared by a group's programs C[i, j], j = 0, 1, ...). Those four rows are loaded once,
    before the loop, and each program loads only its own four: half the loads. Products and
    sums as `vdot4` (same operand order, same association). Registers and strides are
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


vdot4_first_kept = _shared_dot4(0)
vdot4_second_kept = _shared_dot4(1)


def _mod_add(b, vt, p, x, y):
    s = b.add(x, y)
    return b.select(b.icmp_signed(">=", s, p), b.sub(s, p), s)


def _mod_sub(b, vt, p, x, y):
    d = b.sub(x, y)
    return b.select(b.icmp_signed("<", d, _zero(vt)), b.add(d, p), d)


def _mod_neg(b, vt, p, x):
    return b.select(b.icmp_signed("==", x, _zero(vt)), x, b.sub(p, x))


vadd_p = _vector_op(2, _mod_add, types.Integer)
vsub_p = _vector_op(2, _mod_sub, types.Integer)
vneg_p = _vector_op(1, _mod_neg, types.Integer)


@intrinsic
def vcopy_from(typingctx, D, od, S, os, lanes):
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
def prefetch_line(typingctx, V, off):
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
