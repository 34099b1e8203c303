"""Tracer: runs a step function once on symbolic values and records a `CellGraph`.

A `Sym` behaves like a numpy array (operators, indexing, ``.T``, ``.sum``, numpy ufuncs and a
few array functions) but records each operation as an interned node. Every operator goes through
`elementwise`, `gather`, `reduce_sum` or `matmul`; constants are folded here already, so that a
value computed only from weights never reaches the circuit. This module holds `Sym`, the
conversions and the recorders of elementwise operations and wiring; the array operations built
from them (`reduce_sum`, `matmul`, powers, concat, where, ...) and the numpy dispatch tables are
in `rnncirc.frontend.tracer_arrays`, which imports this module: `Sym` imports it where used.

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
        from rnncirc.frontend.tracer_arrays import matmul

        return matmul(self, other)

    def __rmatmul__(self, other):
        from rnncirc.frontend.tracer_arrays import matmul

        return matmul(other, self)

    def __neg__(self):
        return elementwise(Op.NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return elementwise(Op.ABS, self)

    def __pow__(self, exponent):
        from rnncirc.frontend.tracer_arrays import power

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
        from rnncirc.frontend.tracer_arrays import reduce_sum

        return reduce_sum(self, axis, keepdims)

    def max(self, axis=None, keepdims: bool = False):
        from rnncirc.frontend.tracer_arrays import reduce_extreme

        return reduce_extreme(Op.MAX, self, axis, keepdims)

    def min(self, axis=None, keepdims: bool = False):
        from rnncirc.frontend.tracer_arrays import reduce_extreme

        return reduce_extreme(Op.MIN, self, axis, keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        from rnncirc.frontend.tracer_arrays import reduce_sum

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
        from rnncirc.frontend.tracer_arrays import _UFUNCS

        fn = _UFUNCS.get(ufunc)
        if method != "__call__" or fn is None or kwargs:
            name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            raise UnsupportedOperationError(located(
                f"{name} is not supported on symbolic values; supported numpy ufuncs are "
                f"{', '.join(sorted('np.' + u.__name__ for u in _UFUNCS))} "
                "(or use the rc.* functions)"))
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        from rnncirc.frontend.tracer_arrays import _ARRAY_FUNCTIONS

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


# -- the elementwise recorder (array operations: `tracer_arrays`) --------------------------
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
