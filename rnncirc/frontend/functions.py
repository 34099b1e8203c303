"""The ``rc.*`` functions a step function calls: symbolic while tracing, numpy otherwise.

The same step function runs in two ways: traced once on `Sym` values (to build the circuit)
and eagerly on numpy arrays (`RNN.run`, the reference semantics). Each function below checks
which one it is given; the numpy branch uses `rnncirc.ir.ops` so both agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from rnncirc.errors import InputError
from rnncirc.frontend import alphabet, tracer, tracer_arrays
from rnncirc.frontend.model import Real
from rnncirc.frontend.tracer import Sym, builder_of
from rnncirc.ir import ops
from rnncirc.ir.ops import Op


def _unary(op: Op, doc: str):
    impl = ops.UNARY_IMPL[op]

    def function(x):
        if isinstance(x, Sym):
            return tracer.elementwise(op, x)
        return impl(np.asarray(x, dtype=np.float64))

    function.__name__ = op.name.lower()
    function.__doc__ = doc
    return function


tanh = _unary(Op.TANH, "Hyperbolic tangent, elementwise.\n\n>>> float(tanh(0.0))\n0.0")
sigmoid = _unary(Op.SIGMOID, "Logistic sigmoid 1 / (1 + exp(-x)).\n\n>>> float(sigmoid(0.0))\n0.5")
relu = _unary(Op.RELU, "max(x, 0), elementwise.\n\n>>> relu(np.array([-1.0, 2.0])).tolist()\n"
                       "[0.0, 2.0]")
exp = _unary(Op.EXP, "Exponential, elementwise.")
log = _unary(Op.LOG, "Natural logarithm, elementwise.")
sqrt = _unary(Op.SQRT, "Square root, elementwise.")
abs = _unary(Op.ABS, "Absolute value, elementwise.")  # noqa: A001 - mirrors numpy's name
softplus = _unary(Op.SOFTPLUS, "log(1 + exp(x)), computed stably.")
silu = _unary(Op.SILU, "x * sigmoid(x) (also called swish).")


def maximum(a, b):
    """Elementwise maximum with numpy broadcasting.

    >>> maximum(np.array([1.0, 5.0]), 3.0).tolist()
    [3.0, 5.0]
    """
    if builder_of(a, b):
        return tracer.elementwise(Op.MAX, a, b)
    return np.maximum(a, b)


def minimum(a, b):
    """Elementwise minimum with numpy broadcasting."""
    if builder_of(a, b):
        return tracer.elementwise(Op.MIN, a, b)
    return np.minimum(a, b)


def clip(x, low, high):
    """``np.clip``: x limited to [low, high] (a max and a min gate; None leaves a side open).

    >>> clip(np.array([-2.0, 0.5, 3.0]), -1.0, 1.0).tolist()
    [-1.0, 0.5, 1.0]
    """
    if builder_of(x, low, high):
        return tracer_arrays.clip(x, low, high)
    return np.clip(np.asarray(x, dtype=np.float64), low, high)


def rsqrt(x):
    """1 / sqrt(x), elementwise (a square root and a division gate).

    >>> float(rsqrt(4.0))
    0.5
    """
    return 1.0 / sqrt(x)


def softmax(x, axis: int = -1):
    """exp(x - max x) / sum exp(x - max x) along `axis`: the stable softmax.

    >>> softmax(np.array([0.0, np.log(3.0)])).round(6).tolist()
    [0.25, 0.75]
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    e = exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def layer_norm(x, weight=None, bias=None, eps: float = 1e-5, axis: int = -1):
    """(x - mean) / sqrt(var + eps) * weight + bias along `axis` (LayerNorm).

    >>> layer_norm(np.array([1.0, 3.0]), eps=0.0).tolist()
    [-1.0, 1.0]
    """
    centred = x - x.mean(axis=axis, keepdims=True)
    normed = centred * rsqrt((centred * centred).mean(axis=axis, keepdims=True) + eps)
    return _affine(normed, weight, bias)


def rms_norm(x, weight=None, eps: float = 1e-6, axis: int = -1):
    """x / sqrt(mean(x^2) + eps) * weight along `axis` (RMSNorm).

    >>> rms_norm(np.array([3.0, 4.0]), eps=0.0).round(6).tolist()
    [0.848528, 1.131371]
    """
    return _affine(x * rsqrt((x * x).mean(axis=axis, keepdims=True) + eps), weight, None)


def _affine(x, weight, bias):
    if weight is not None:
        x = x * weight
    if bias is not None:
        x = x + bias
    return x


def where(condition, if_true, if_false):
    """``if_true`` where ``condition`` is non-zero, else ``if_false`` (a select gate).

    This is how a step function makes decisions: Python ``if`` cannot be traced.

    >>> where(np.array([1.0, 0.0]), 5.0, -5.0).tolist()
    [5.0, -5.0]
    """
    if builder_of(condition, if_true, if_false):
        return tracer_arrays.where(condition, if_true, if_false)
    return ops.select(np.asarray(condition), if_true, if_false).astype(np.float64)


def outer(a, b):
    """Outer product of two vectors (flattened first, as numpy does)."""
    if builder_of(a, b):
        return tracer_arrays.outer(a, b)
    return np.outer(a, b)


def concat(values, axis: int = 0):
    """Concatenate along an existing axis (``np.concatenate``)."""
    return tracer_arrays.concat(list(values), axis)


def stack(values, axis: int = 0):
    """Stack along a new axis (``np.stack``)."""
    return tracer_arrays.stack(list(values), axis)


def lookup(table, symbol):
    """``table[symbol]`` for the symbol input of an alphabet model.

    ``table`` is a numpy array with one row per symbol. In a circuit it becomes a weighted
    sum of the symbol's one-hot bits, so 0/1 tables cost no multiplications.

    >>> lookup(np.array([[1.0, 0.0], [0.0, 1.0]]), 1).tolist()
    [0.0, 1.0]
    """
    if isinstance(symbol, Sym):
        return alphabet.lookup(table, symbol)
    table = np.asarray(table, dtype=np.float64)
    if not isinstance(symbol, (int, np.integer)) or not 0 <= symbol < table.shape[0]:
        raise InputError(f"rc.lookup: symbol {symbol!r} is not an integer in "
                         f"range({table.shape[0]})")
    return table[symbol].view(Real)  # a row compares to 1.0/0.0, as in the circuit
