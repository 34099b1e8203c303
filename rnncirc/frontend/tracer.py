"""Tracer: runs a step function once on symbolic values and records a `CellGraph`.

A `Sym` behaves like a numpy array (operators, indexing, ``.T``, ``.sum``, numpy ufuncs and a
few array functions) but records each operation as an interned node. Every operator goes through
`elementwise`, `gather`, `reduce_sum` or `matmul`; constants are folded here already, so that a
value computed only from weights never reaches the circuit.

Python control flow on a symbolic value cannot be recorded; those constructs raise
`SymbolicControlFlowError` with the fix (`rc.where`), from the `Untraceable` mixin
(`rnncirc.frontend.untraceable`). Alphabet inputs and `rc.lookup` are in
`rnncirc.frontend.alphabet`.
"""

from __future__ import annotations

import numbers

import numpy as np

from rnncirc.errors import ShapeError, UnsupportedOperationError, located
from rnncirc.frontend.untraceable import Untraceable, numpy_name
from rnncirc.ir.cell import CellBuilder, Node
from rnncirc.ir.ops import Op, apply_op
from rnncirc.ir.rational import exact_quotient, has_fraction, split_fraction


class Sym(Untraceable):
    """A symbolic tensor inside a step function being traced."""

    __slots__ = ("node", "builder")
    __array_priority__ = 1000.0

    def __init__(self, node: Node, builder: CellBuilder):
        self.node = node
        self.builder = builder

    # -- array attributes -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.shape

    @property
    def ndim(self) -> int:
        return len(self.node.shape)

    @property
    def size(self) -> int:
        return self.node.size

    @property
    def T(self) -> Sym:
        return self.transpose()

    def __repr__(self) -> str:
        return f"<symbolic {self.node.label} of shape {self.shape}>"

    # -- arithmetic ------------------------------------------------------------------------
    def __add__(self, other):
        return elementwise(Op.ADD, self, other)

    def __radd__(self, other):
        return elementwise(Op.ADD, other, self)

    def __sub__(self, other):
        return elementwise(Op.SUB, self, other)

    def __rsub__(self, other):
        return elementwise(Op.SUB, other, self)

    def __mul__(self, other):
        return elementwise(Op.MUL, self, other)

    def __rmul__(self, other):
        return elementwise(Op.MUL, other, self)

    def __truediv__(self, other):
        return elementwise(Op.DIV, self, other)

    def __rtruediv__(self, other):
        return elementwise(Op.DIV, other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return elementwise(Op.NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return elementwise(Op.ABS, self)

    def __pow__(self, exponent):
        return power(self, exponent)

    def __lt__(self, other):
        return elementwise(Op.LT, self, other)

    def __le__(self, other):
        return elementwise(Op.LE, self, other)

    def __gt__(self, other):
        return elementwise(Op.GT, self, other)

    def __ge__(self, other):
        return elementwise(Op.GE, self, other)

    def __eq__(self, other):  # type: ignore[override]
        return elementwise(Op.EQ, self, other)

    def __ne__(self, other):  # type: ignore[override]
        return elementwise(Op.NE, self, other)

    __hash__ = None  # type: ignore[assignment]

    # -- structure -------------------------------------------------------------------------
    def __getitem__(self, key):
        return index(self, key)

    def __len__(self) -> int:
        self._no_loop_over_positions()
        if not self.shape:
            raise UnsupportedOperationError(located("len() of a symbolic scalar is undefined"))
        return self.shape[0]

    def __iter__(self):
        self._no_loop_over_positions()
        if not self.shape:
            raise UnsupportedOperationError(
                located("cannot iterate over a symbolic scalar; index a vector instead"))
        return (self[i] for i in range(self.shape[0]))

    def _as_operand(self) -> Sym:
        """Itself; an alphabet symbol (`rnncirc.frontend.alphabet`) refuses arithmetic here."""
        return self

    def sum(self, axis=None, keepdims: bool = False):
        return reduce_sum(self, axis, keepdims)

    def max(self, axis=None, keepdims: bool = False):
        return reduce_extreme(Op.MAX, self, axis, keepdims)

    def min(self, axis=None, keepdims: bool = False):
        return reduce_extreme(Op.MIN, self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        total = reduce_sum(self, axis, keepdims)
        return total * (total.size / self.size) if self.size else total

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _wire(self, lambda ids: ids.reshape(shape), "reshape")

    def flatten(self):
        return self.reshape(-1)

    ravel = flatten

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return _wire(self, lambda ids: ids.transpose(*axes) if axes else ids.T, "transpose")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = _UFUNCS.get(ufunc)
        if method != "__call__" or fn is None or kwargs:
            name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            raise UnsupportedOperationError(located(
                f"{name} is not supported on symbolic values; supported numpy ufuncs are "
                f"{', '.join(sorted('np.' + u.__name__ for u in _UFUNCS))} "
                "(or use the rc.* functions)"))
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        fn = _ARRAY_FUNCTIONS.get(func)
        if fn is None:
            raise UnsupportedOperationError(located(
                f"{numpy_name(func)} is not supported on symbolic values; use operators or "
                "rc.tanh, rc.sigmoid, rc.relu, rc.exp, rc.log, rc.sqrt, rc.abs, rc.softplus, "
                "rc.silu, rc.maximum, rc.minimum, rc.where, rc.outer, rc.concat, rc.stack, "
                "rc.lookup"))
        return fn(*args, **kwargs)


# -- conversion helpers --------------------------------------------------------------------
def builder_of(*values) -> CellBuilder | None:
    for value in values:
        if isinstance(value, Sym):
            return value.builder
        if isinstance(value, (list, tuple)):
            found = builder_of(*value)
            if found is not None:
                return found
    return None


def as_sym(value, builder: CellBuilder, what: str = "operand") -> Sym:
    if isinstance(value, Sym):
        return value._as_operand()
    if has_fraction(value):
        return _rational(value, builder, what)
    if isinstance(value, (numbers.Number, np.ndarray, np.generic, list, tuple)):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise UnsupportedOperationError(located(
                f"cannot use {type(value).__name__} as a numeric {what}: {err}")) from None
        return Sym(builder.const(array), builder)
    raise UnsupportedOperationError(located(
        f"cannot use a {type(value).__name__} as a numeric {what} in a step function"))


def _rational(value, builder: CellBuilder, what: str) -> Sym:
    """A constant holding Fractions: the gate num / den of two integer constants, which
    stays a gate (`rnncirc.ir.rational`)."""
    try:
        num, den = split_fraction(value)
    except (TypeError, ValueError) as err:
        raise UnsupportedOperationError(located(
            f"cannot use {type(value).__name__} as an exact rational {what}: {err}")) from None
    if np.all(den == 1):
        return _const(builder, num)
    parts = (builder.const(num), builder.const(den))
    return Sym(builder.node(Op.DIV, num.shape, parts), builder)


def _exact_division(a: Sym, b: Sym, quotient) -> bool:
    shape = np.shape(quotient)
    return bool(exact_quotient(*(np.broadcast_to(s.node.arg, shape).ravel() for s in (a, b)),
                               np.ravel(quotient)).all())


def _is_const(sym: Sym) -> bool:
    return sym.node.op == "const"


def _const(builder: CellBuilder, value) -> Sym:
    return Sym(builder.const(value), builder)


def _wire(sym: Sym, transform, what: str) -> Sym:
    """Apply a numpy shape transform to the *ids* of `sym`'s elements: pure wiring."""
    ids = np.arange(sym.size, dtype=np.int64).reshape(sym.shape)
    try:
        picked = np.asarray(transform(ids))
    except (ValueError, IndexError, TypeError) as err:
        raise ShapeError(located(f"{what} of a symbolic value of shape {sym.shape}: {err}")) \
            from None
    return gather([sym], picked)


def gather(operands: list[Sym], picked: np.ndarray) -> Sym:
    """Element i of the result is element picked[i] of the concatenated flat operands."""
    builder = operands[0].builder
    picked = np.array(picked, dtype=np.int64, order="C")  # not ascontiguousarray: keeps 0-d
    if all(_is_const(o) for o in operands):
        flat = np.concatenate([o.node.arg.ravel() for o in operands])
        return _const(builder, flat[picked])
    if len(operands) == 1 and picked.shape == operands[0].shape and np.array_equal(
            picked.ravel(), np.arange(operands[0].size)):
        return operands[0]
    node = builder.node("gather", picked.shape, tuple(o.node for o in operands), picked)
    return Sym(node, builder)


def broadcast_to(sym: Sym, shape: tuple[int, ...]) -> Sym:
    if sym.shape == shape:
        return sym
    return _wire(sym, lambda ids: np.broadcast_to(ids, shape), "broadcast")


def index(sym: Sym, key) -> Sym:
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(k, Sym) for k in keys):
        raise UnsupportedOperationError(located(
            "indexing with a symbolic index cannot be traced; use rc.lookup(table, x) for an "
            "alphabet input or rc.where to choose between values"))
    return _wire(sym, lambda ids: ids[key], "indexing")


# -- the four primitive recorders ----------------------------------------------------------
def elementwise(op: Op, *values) -> Sym:
    builder = builder_of(*values)
    syms = [as_sym(v, builder) for v in values]
    try:
        shape = np.broadcast_shapes(*(s.shape for s in syms))
    except ValueError:
        shapes = " and ".join(str(s.shape) for s in syms)
        raise ShapeError(located(
            f"{op.name.lower()}: operands of shapes {shapes} do not broadcast together")) \
            from None
    if all(_is_const(s) for s in syms):
        with np.errstate(all="ignore"):
            folded = apply_op(op, *(s.node.arg for s in syms))
        if op != Op.DIV or _exact_division(*syms, folded):  # a rational stays a / b
            return _const(builder, folded)
    syms = [broadcast_to(s, shape) for s in syms]
    return Sym(builder.node(op, shape, tuple(s.node for s in syms)), builder)


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
