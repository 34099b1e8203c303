"""Alphabet inputs: a symbol of ``range(k)`` traced as a one-hot vector, and `rc.lookup`.

A model declared with ``rc.rnn(..., alphabet=k)`` (or ``rc.program(alphabet=k)``) is traced on a
`SymbolSym` instead of a numeric `Sym`; it is read only through `lookup` (a one-hot weighted
sum of a table's rows) and comparisons with an integer, which the tracer
(`rnncirc.frontend.tracer`) records like any other operation.
"""

from __future__ import annotations

import numbers

import numpy as np

from rnncirc.errors import ShapeError, UnsupportedOperationError, located
from rnncirc.frontend.tracer import Sym, elementwise, index
from rnncirc.frontend.tracer_arrays import reduce_sum
from rnncirc.ir.ops import Op
from rnncirc.ir.rational import has_fraction, split_fraction


class SymbolSym(Sym):
    """The input of an alphabet model: one symbol of ``range(k)``, held as a one-hot vector.

    Only `rc.lookup(table, x)` and comparisons ``x == c`` / ``x != c`` with an integer constant
    are meaningful on a symbol.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<symbolic symbol of an alphabet of size {self.shape[0]}>"

    def is_symbol(self, value) -> Sym:
        k = self.shape[0]
        if isinstance(value, np.ndarray) and value.ndim == 0 \
                and np.issubdtype(value.dtype, np.integer):
            value = int(value)  # numpy hands over np.int64(2) == x as a 0-d array
        if not isinstance(value, numbers.Integral) or not 0 <= value < k:
            raise ShapeError(located(
                f"an alphabet input can only be compared with an integer in range({k}), "
                f"not {value!r}"))
        return index(Sym(self.node, self.builder), int(value))

    def __eq__(self, other):  # type: ignore[override]
        return self.is_symbol(other)

    def __ne__(self, other):  # type: ignore[override]
        return 1.0 - self.is_symbol(other)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # np.int64(2) == x reaches here through numpy; only the comparisons make sense
        if ufunc in (np.equal, np.not_equal) and method == "__call__" and not kwargs \
                and len(inputs) == 2:
            other = inputs[1] if inputs[0] is self else inputs[0]
            return self.__eq__(other) if ufunc is np.equal else self.__ne__(other)
        return self._not_a_vector()

    def _not_a_vector(self, *_args, **_kwargs):
        raise UnsupportedOperationError(located(
            "the input of an alphabet model is a symbol, not a number: read values with "
            "rc.lookup(table, x) (table has one row per symbol) or test it with x == c"))

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _not_a_vector
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = __abs__ = _not_a_vector
    __pow__ = __lt__ = __le__ = __gt__ = __ge__ = __getitem__ = __iter__ = _not_a_vector
    sum = mean = max = min = reshape = flatten = ravel = transpose = _not_a_vector
    _as_operand = _not_a_vector


def lookup(table, symbol) -> Sym:
    """``table[symbol]`` for a symbolic alphabet input: a one-hot weighted sum of the rows."""
    if not isinstance(symbol, SymbolSym):
        raise UnsupportedOperationError(located(
            "rc.lookup(table, x) needs x to be the input of a model declared with "
            "rc.rnn(..., alphabet=k)"))
    k = symbol.shape[0]
    if isinstance(table, Sym):
        raise UnsupportedOperationError(located(
            "rc.lookup(table, x): the table must be a numpy constant, not a symbolic value"))
    if has_fraction(table):  # exact: the looked-up numerator over the looked-up denominator
        num, den = split_fraction(table)
        if np.all(den == 1):
            return lookup(num, symbol)
        num, den = lookup(num, symbol), lookup(den, symbol)
        return Sym(den.builder.node(Op.DIV, num.shape, (num.node, den.node)), den.builder)
    table = np.asarray(table, dtype=np.float64)
    if table.ndim == 0 or table.shape[0] != k:
        raise ShapeError(located(
            f"rc.lookup: the table has shape {table.shape}, but the alphabet has {k} symbols, "
            f"so it needs shape ({k}, ...)"))
    onehot = Sym(symbol.node, symbol.builder).reshape((k,) + (1,) * (table.ndim - 1))
    return reduce_sum(elementwise(Op.MUL, onehot, table), axis=0)
