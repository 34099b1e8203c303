"""Array operations on symbolic values: reductions, matmul, powers, joins, and numpy dispatch.

Where this sits: the tracer (`rnncirc.frontend.tracer`) records nodes through `elementwise` and
`gather`; the operations here are built from those (`reduce_sum` adds the one node kind of its
own, a sum over axes). `Sym`'s operators and methods (``@``, ``**``, ``.sum``, ``.max``) and the
``rc.*`` functions (`rnncirc.frontend.functions`) call them, and `Sym.__array_ufunc__` /
`Sym.__array_function__` dispatch numpy calls through `_UFUNCS` and `_ARRAY_FUNCTIONS`. Constants
are folded here as in the tracer, so a value computed only from weights never reaches the circuit.
"""

from __future__ import annotations

import numbers

import numpy as np

from rnncirc.errors import ShapeError, UnsupportedOperationError, located
from rnncirc.frontend.tracer import Sym, _const, _is_const, as_sym, builder_of, elementwise, gather
from rnncirc.ir.ops import Op


def reduce_sum(value, axis=None, keepdims: bool = False) -> Sym:
    sym = as_sym(value, builder_of(value))
    axes = _axes(sym, axis, "sum")
    out_shape = tuple(s for i, s in enumerate(sym.shape) if i not in axes)
    if _is_const(sym):
        result = _const(sym.builder, sym.node.arg.sum(axis=axes))
    elif not axes:
        result = sym
    else:
        result = Sym(sym.builder.node("sum", out_shape, (sym.node,), axes), sym.builder)
    if keepdims:
        result = result.reshape(tuple(1 if i in axes else s for i, s in enumerate(sym.shape)))
    return result


def reduce_extreme(op: Op, value, axis=None, keepdims: bool = False) -> Sym:
    """Maximum (``Op.MAX``) or minimum over axes: a balanced tree of pairwise gates (depth
    ceil(log2 k) for k values), written as halvings of the moved axis."""
    sym = as_sym(value, builder_of(value))
    ndim = sym.ndim
    axes = _axes(sym, axis, op.name.lower())
    if _is_const(sym):
        fn = np.max if op == Op.MAX else np.min
        result = _const(sym.builder, fn(sym.node.arg, axis=axes))
    elif not axes:
        result = sym
    else:
        rest = tuple(i for i in range(ndim) if i not in axes)
        flat = sym.transpose(rest + axes).reshape(
            tuple(sym.shape[i] for i in rest) + (-1,))
        while flat.shape[-1] > 1:
            half = flat.shape[-1] // 2
            paired = elementwise(op, flat[..., :half], flat[..., half:2 * half])
            flat = concat([paired, flat[..., 2 * half:]], axis=-1) if flat.shape[-1] % 2 \
                else paired
        result = flat[..., 0]
    if keepdims:
        result = result.reshape(tuple(1 if i in axes else s for i, s in enumerate(sym.shape)))
    return result


def _axes(sym: Sym, axis, what: str) -> tuple[int, ...]:
    ndim = sym.ndim
    if axis is None:
        return tuple(range(ndim))
    try:
        picked = [int(a) for a in np.atleast_1d(axis)]
    except (TypeError, ValueError):
        raise ShapeError(located(f"{what}: bad axis {axis!r}")) from None
    if ndim == 0 or any(not -ndim <= a < ndim for a in picked):
        raise ShapeError(located(f"{what}: axis {axis!r} is out of range for shape {sym.shape}"))
    return tuple(sorted({a % ndim for a in picked}))


def matmul(left, right) -> Sym:
    """``left @ right`` with numpy's rules: 1-D promotion and broadcast stacked dimensions."""
    builder = builder_of(left, right)
    a, b = as_sym(left, builder), as_sym(right, builder)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(located(
            f"matmul: operands of shapes {a.shape} and {b.shape}: matmul needs at least 1-D "
            "operands (use * for scalars)"))
    if a.shape[-1] != (b.shape[0] if b.ndim == 1 else b.shape[-2]):
        raise ShapeError(located(
            f"matmul: shapes {a.shape} and {b.shape} do not match: the last axis of the left "
            f"({a.shape[-1]}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} "
            f"axis of the right ({b.shape[0] if b.ndim == 1 else b.shape[-2]})"))
    if _is_const(a) and _is_const(b):
        return _const(builder, a.node.arg @ b.node.arg)
    a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
    b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
    try:
        np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ShapeError(located(
            f"matmul: stacked dimensions of shapes {a.shape} and {b.shape} do not broadcast")) \
            from None
    # (..., m, k, 1) * (..., 1, k, n) summed over k: each product is one gate, each output one
    # balanced adder tree; zero weights are dropped when scalarized.
    products = elementwise(Op.MUL, a2.reshape(a2.shape + (1,)),
                           b2.reshape(b2.shape[:-2] + (1,) + b2.shape[-2:]))
    result = reduce_sum(products, axis=-2)
    if a.ndim == 1:
        result = result.reshape(result.shape[:-2] + result.shape[-1:])
    if b.ndim == 1:
        result = result.reshape(result.shape[:-1])
    return result


def power(value, exponent) -> Sym:
    builder = builder_of(value)
    base = as_sym(value, builder)
    if isinstance(exponent, numbers.Real) and not isinstance(exponent, numbers.Integral) \
            and float(exponent).is_integer():
        exponent = int(exponent)  # h ** 2.0 is h ** 2
    if not isinstance(exponent, numbers.Integral) or not 0 <= exponent <= 64:
        raise UnsupportedOperationError(located(
            f"x ** {exponent!r}: only small non-negative integer exponents (0..64) are "
            "supported; write rc.exp(e * rc.log(x)) for others"))
    if exponent == 0:
        return _const(builder, np.ones(base.shape))
    # square-and-multiply keeps the depth at about log2(exponent)
    result, square, k = None, base, int(exponent)
    while k:
        if k & 1:
            result = square if result is None else result * square
        k >>= 1
        if k:
            square = square * square
    return result


def concat(values, axis: int = 0) -> Sym:
    builder = builder_of(*values)
    if builder is None:
        return np.concatenate(values, axis=axis)
    syms = [as_sym(v, builder) for v in values]
    offsets = np.cumsum([0] + [s.size for s in syms])
    pieces = [np.arange(s.size, dtype=np.int64).reshape(s.shape) + off
              for s, off in zip(syms, offsets, strict=False)]
    try:
        picked = np.concatenate(pieces, axis=axis)
    except (ValueError, np.exceptions.AxisError) as err:
        shapes = ", ".join(str(s.shape) for s in syms)
        raise ShapeError(located(f"concat of shapes {shapes} along axis {axis}: {err}")) from None
    return gather(syms, picked)


def stack(values, axis: int = 0) -> Sym:
    builder = builder_of(*values)
    if builder is None:
        return np.stack(values, axis=axis)
    syms = [as_sym(v, builder) for v in values]
    if len({s.shape for s in syms}) > 1:
        shapes = ", ".join(str(s.shape) for s in syms)
        raise ShapeError(located(f"stack: all operands need the same shape, got {shapes}"))
    try:
        expanded = [np.expand_dims(np.empty(s.shape), axis) for s in syms]  # validate axis
    except (ValueError, np.exceptions.AxisError) as err:
        raise ShapeError(located(f"stack along axis {axis}: {err}")) from None
    return concat([s.reshape(e.shape) for s, e in zip(syms, expanded, strict=True)], axis=axis)


def where(condition, if_true, if_false) -> Sym:
    return elementwise(Op.SELECT, condition, if_true, if_false)


def clip(value, low, high) -> Sym:
    """``np.clip``: min(max(value, low), high); a bound of None is left open."""
    result = as_sym(value, builder_of(value))
    if low is not None:
        result = elementwise(Op.MAX, result, low)
    if high is not None:
        result = elementwise(Op.MIN, result, high)
    return result


def outer(left, right) -> Sym:
    builder = builder_of(left, right)
    a, b = as_sym(left, builder).flatten(), as_sym(right, builder).flatten()
    return elementwise(Op.MUL, a.reshape(-1, 1), b.reshape(1, -1))


def _divide(a, b):
    return elementwise(Op.DIV, a, b)


_UFUNCS = {
    np.add: lambda a, b: elementwise(Op.ADD, a, b),
    np.subtract: lambda a, b: elementwise(Op.SUB, a, b),
    np.multiply: lambda a, b: elementwise(Op.MUL, a, b),
    np.divide: _divide,
    np.negative: lambda a: elementwise(Op.NEG, a),
    np.positive: lambda a: a,
    np.matmul: matmul,
    np.maximum: lambda a, b: elementwise(Op.MAX, a, b),
    np.minimum: lambda a, b: elementwise(Op.MIN, a, b),
    np.less: lambda a, b: elementwise(Op.LT, a, b),
    np.less_equal: lambda a, b: elementwise(Op.LE, a, b),
    np.greater: lambda a, b: elementwise(Op.GT, a, b),
    np.greater_equal: lambda a, b: elementwise(Op.GE, a, b),
    np.equal: lambda a, b: elementwise(Op.EQ, a, b),
    np.not_equal: lambda a, b: elementwise(Op.NE, a, b),
    np.tanh: lambda a: elementwise(Op.TANH, a),
    np.exp: lambda a: elementwise(Op.EXP, a),
    np.log: lambda a: elementwise(Op.LOG, a),
    np.sqrt: lambda a: elementwise(Op.SQRT, a),
    np.absolute: lambda a: elementwise(Op.ABS, a),
    np.square: lambda a: power(a, 2),
    np.power: power,
}

_ARRAY_FUNCTIONS = {
    np.sum: reduce_sum,
    np.mean: lambda a, axis=None, keepdims=False: as_sym(a, builder_of(a)).mean(axis, keepdims),
    np.concatenate: concat,
    np.stack: stack,
    np.where: where,
    np.outer: outer,
    np.dot: lambda a, b: matmul(a, b),
    np.transpose: lambda a, axes=None: a.transpose(axes) if axes else a.transpose(),
    np.reshape: lambda a, shape: a.reshape(shape),
    np.max: lambda a, axis=None, keepdims=False: reduce_extreme(Op.MAX, a, axis, keepdims),
    np.min: lambda a, axis=None, keepdims=False: reduce_extreme(Op.MIN, a, axis, keepdims),
    np.clip: lambda a, a_min, a_max: clip(a, a_min, a_max),
}
