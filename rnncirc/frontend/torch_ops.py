"""The torch operations a custom cell may use, each as the rc.* operation that means the same.

Where this sits: the front end; `torch_fx` replays a traced ``forward`` with these. Every
implementation takes torch's arguments (``dim``, ``keepdim``, ...) and works both on numpy
arrays (`RNN.run`, the eager reference) and on symbolic values (tracing), so one table serves
both. torch's semantics are kept where they differ from numpy's (``transpose`` swaps two
dimensions, ``chunk`` sizes, ``F.normalize``'s ``max(norm, eps)``). Two approximations, both
far below float64 test tolerances: ``softplus``'s ``threshold`` (torch returns x above it,
here log(1 + exp(x)) throughout) and ``x ** 0.5`` as a square root.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from rnncirc.errors import UnsupportedOperationError
from rnncirc.frontend import functions as rc
from rnncirc.frontend import tracer
from rnncirc.frontend.torch_import import cell_step
from rnncirc.frontend.tracer import Sym

#: calls that mean nothing at inference: replayed as the identity, with a warning
IGNORED_AT_INFERENCE = {"F.dropout", "nn.Dropout"}


# -- shapes ------------------------------------------------------------------------------------
def _dim(value, dim: int) -> int:
    ndim = len(value.shape)
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise UnsupportedOperationError(f"dim {dim} is out of range for shape {value.shape}")
    return dim % max(ndim, 1)


def _axis(value, dim):
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return tuple(_dim(value, d) for d in dim)
    return _dim(value, dim)


def _sizes(shape) -> tuple:
    """``view(2, 3)`` and ``view((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(value, *shape):
    return value.reshape(_sizes(shape))


def transpose(value, dim0: int, dim1: int):
    if len(value.shape) < 2:
        return value
    axes = list(range(len(value.shape)))
    a, b = _dim(value, dim0), _dim(value, dim1)
    axes[a], axes[b] = axes[b], axes[a]
    return value.transpose(axes)


def permute(value, *dims):
    return value.transpose([_dim(value, d) for d in _sizes(dims)])


def unsqueeze(value, dim: int):
    shape = tuple(value.shape)
    d = dim if dim >= 0 else dim + len(shape) + 1
    return value.reshape(shape[:d] + (1,) + shape[d:])


def squeeze(value, dim=None):
    shape = tuple(value.shape)
    if dim is None:
        return value.reshape(tuple(s for s in shape if s != 1))
    drop = {_dim(value, d) for d in (dim if isinstance(dim, (list, tuple)) else (dim,))}
    return value.reshape(tuple(s for i, s in enumerate(shape) if i not in drop or s != 1))


def flatten(value, start_dim: int = 0, end_dim: int = -1):
    shape = tuple(value.shape)
    if not shape:
        return value.reshape((1,))
    a, b = _dim(value, start_dim), _dim(value, end_dim)
    return value.reshape(shape[:a] + (math.prod(shape[a:b + 1]),) + shape[b + 1:])


def expand(value, *sizes):
    sizes = _sizes(sizes)
    shape = (1,) * (len(sizes) - len(value.shape)) + tuple(value.shape)
    target = tuple(s if t == -1 else t for s, t in zip(shape, sizes, strict=True))
    value = value.reshape(shape)
    if isinstance(value, Sym):
        return tracer.broadcast_to(value, target)
    return np.broadcast_to(value, target)


def _take(value, dim: int, lo: int, hi: int):
    return value[(slice(None),) * dim + (slice(lo, hi),)]


def chunk(value, chunks: int, dim: int = 0):
    d = _dim(value, dim)
    size = -(-value.shape[d] // chunks)  # torch: equal chunks of ceil(n / chunks)
    return tuple(_take(value, d, lo, lo + size) for lo in range(0, value.shape[d], size))


def split(value, split_size_or_sections, dim: int = 0):
    d = _dim(value, dim)
    n = value.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        bounds = list(range(0, n, split_size_or_sections)) + [n]
    else:
        bounds = [0, *np.cumsum(split_size_or_sections).tolist()]
    return tuple(_take(value, d, lo, hi) for lo, hi in zip(bounds, bounds[1:], strict=False))


def size(value, dim=None):
    return tuple(value.shape) if dim is None else value.shape[_dim(value, dim)]


def tensor_attribute(value, name: str):
    """``getattr(x, "shape")`` and friends, as fx records them."""
    if name == "shape":
        return tuple(value.shape)
    if name == "ndim":
        return len(value.shape)
    if name == "T":
        return value.transpose()
    if name == "mT":
        return transpose(value, -2, -1)
    raise UnsupportedOperationError(f"the attribute .{name} of a tensor is not supported "
                                    "(supported: .shape, .ndim, .T, .mT)")


# -- arithmetic and reductions -----------------------------------------------------------------
def add(value, other, *, alpha=1):
    return value + (other if alpha == 1 else alpha * other)


def sub(value, other, *, alpha=1):
    return value - (other if alpha == 1 else alpha * other)


def div(value, other, *, rounding_mode=None):
    if rounding_mode is not None:
        raise UnsupportedOperationError(f"division with rounding_mode={rounding_mode!r} is "
                                        "not supported (only true division)")
    return value / other


def power(value, exponent):
    if not isinstance(exponent, numbers.Number):
        raise UnsupportedOperationError("a tensor exponent is not supported (only a constant "
                                        "number); write torch.exp(exponent * torch.log(base))")
    if exponent == 0.5:
        return rc.sqrt(value)
    if exponent == -0.5:
        return rc.rsqrt(value)
    return value ** exponent


def floor_int(a, b, op):
    if not all(isinstance(v, numbers.Integral) for v in (a, b)):
        raise UnsupportedOperationError("// and % are supported on integers (sizes) only")
    return op(a, b)


def total(value, dim=None, keepdim: bool = False, *, dtype=None):
    return value.sum(axis=_axis(value, dim), keepdims=keepdim)


def mean(value, dim=None, keepdim: bool = False, *, dtype=None):
    return value.mean(axis=_axis(value, dim), keepdims=keepdim)


def matmul(a, b):
    return a @ b


def linear(value, weight, bias=None):
    # W @ x for a vector x is the order a hand-written step uses: the same cell graph
    out = weight @ value if len(value.shape) == 1 else value @ weight.T
    return out if bias is None else out + bias


def einsum(equation: str, *operands):
    """torch.einsum as products and sums (the structure a matmul has): each operand is laid
    out over all the equation's letters, multiplied, and the letters not kept summed."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    if "..." in equation:
        raise UnsupportedOperationError("einsum with '...' is not supported; name every axis")
    lhs, arrow, out = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise UnsupportedOperationError(f"einsum {equation!r} names {len(terms)} operands, "
                                        f"got {len(operands)}")
    letters = "".join(terms)
    if not arrow:  # implicit output: the letters used once, in alphabetical order
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    summed = "".join(dict.fromkeys(c for c in letters if c not in out))
    order = out + summed
    sizes: dict[str, int] = {}
    laid_out = []
    for term, operand in zip(terms, operands, strict=True):
        if len(set(term)) != len(term) or len(term) != len(operand.shape):
            raise UnsupportedOperationError(
                f"einsum term {term!r} (shape {tuple(operand.shape)}) is not supported: one "
                "letter per axis, no repeated letter (diagonals)")
        for c, s in zip(term, operand.shape, strict=True):
            if sizes.setdefault(c, s) != s:
                raise UnsupportedOperationError(f"einsum {equation!r}: axis {c!r} has sizes "
                                                f"{sizes[c]} and {s}")
        present = [c for c in order if c in term]
        moved = operand.transpose([term.index(c) for c in present]) if term else operand
        laid_out.append(moved.reshape(tuple(sizes[c] if c in term else 1 for c in order)))
    product = laid_out[0]
    for operand in laid_out[1:]:
        product = product * operand
    if summed:
        product = product.sum(axis=tuple(range(len(out), len(order))))
    return product


def normalize(value, p=2.0, dim: int = 1, eps: float = 1e-12, out=None):
    if p != 2:
        raise UnsupportedOperationError(f"F.normalize with p={p} is not supported (p=2 only)")
    norm = rc.sqrt(total(value * value, dim, keepdim=True))
    return value / rc.maximum(norm, eps)


def softplus(value, beta=1.0, threshold=20.0):
    return rc.softplus(value) if beta == 1 else rc.softplus(beta * value) / beta


def elu(value, alpha=1.0, inplace=False):
    return rc.where(value > 0, value, alpha * (rc.exp(value) - 1.0))


def softmax(value, dim=None, *, dtype=None, _stacklevel=3):
    return rc.softmax(value, axis=-1 if dim is None else _dim(value, dim))


def layer_norm(value, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    if len(tuple(normalized_shape)) != 1:
        raise UnsupportedOperationError("layer_norm over more than the last dimension is not "
                                        "supported")
    return rc.layer_norm(value, weight, bias, eps=eps)


def clamp(value, min=None, max=None):  # noqa: A002 - torch's names
    return rc.clip(value, min, max)


def constant(fill: float):
    def make(*size, dtype=None, device=None, requires_grad=False, layout=None):
        return np.full(_sizes(size), fill)

    return make


def like(fill: float):
    def make(value, *, dtype=None, device=None, requires_grad=False, layout=None,
             memory_format=None):
        return np.full(tuple(value.shape), fill)

    return make


def identity(value, *args, **kwargs):
    return value


def _unary(fn):
    def apply(value, *, out=None):
        return fn(value)

    return apply


def _activation(fn):
    def apply(value, inplace=False):
        return fn(value)

    return apply


_UNARY = {"sigmoid": rc.sigmoid, "tanh": rc.tanh, "exp": rc.exp, "log": rc.log,
          "sqrt": rc.sqrt, "rsqrt": rc.rsqrt, "abs": rc.abs, "relu": rc.relu,
          "square": lambda v: v * v, "neg": operator.neg}

_SHARED = {  # torch.NAME and Tensor.NAME alike
    **{name: _unary(fn) for name, fn in _UNARY.items()},
    "add": add, "sub": sub, "mul": operator.mul, "div": div, "true_divide": div,
    "matmul": matmul, "mm": matmul, "mv": matmul, "bmm": matmul, "pow": power,
    "sum": total, "mean": mean, "transpose": transpose, "swapaxes": transpose,
    "permute": permute, "unsqueeze": unsqueeze, "squeeze": squeeze, "reshape": reshape,
    "flatten": flatten, "chunk": chunk, "split": split, "outer": rc.outer,
    "clamp": clamp, "clip": clamp, "maximum": rc.maximum, "minimum": rc.minimum,
    "softmax": softmax,
}

_METHODS_ONLY = {
    "view": reshape, "expand": expand, "size": size, "dim": lambda v: len(v.shape),
    "t": lambda v: transpose(v, 0, 1), "contiguous": identity, "clone": identity,
    "detach": identity, "float": identity, "double": identity, "to": identity,
    "type_as": identity,
}

_OPERATORS = {
    operator.add: ("+", operator.add), operator.sub: ("-", operator.sub),
    operator.mul: ("*", operator.mul), operator.truediv: ("/", operator.truediv),
    operator.neg: ("unary -", operator.neg), operator.pos: ("unary +", operator.pos),
    operator.matmul: ("@", matmul), operator.pow: ("**", power),
    operator.getitem: ("indexing", operator.getitem),
    operator.gt: (">", operator.gt), operator.ge: (">=", operator.ge),
    operator.lt: ("<", operator.lt), operator.le: ("<=", operator.le),
    operator.eq: ("==", operator.eq), operator.ne: ("!=", operator.ne),
    operator.floordiv: ("//", lambda a, b: floor_int(a, b, operator.floordiv)),
    operator.mod: ("%", lambda a, b: floor_int(a, b, operator.mod)),
    getattr: ("attribute access", tensor_attribute),
}


def function_table(torch) -> dict:
    """fx call_function target -> (the name users write, implementation)."""
    F = torch.nn.functional
    table = dict(_OPERATORS)
    for name, fn in _SHARED.items():
        if hasattr(torch, name):
            table[getattr(torch, name)] = (f"torch.{name}", fn)
    more = {
        "cat": lambda tensors, dim=0: rc.concat(list(tensors), axis=dim),
        "stack": lambda tensors, dim=0: rc.stack(list(tensors), axis=dim),
        "einsum": einsum, "where": rc.where, "ger": rc.outer,
        "zeros": constant(0.0), "ones": constant(1.0), "zeros_like": like(0.0),
        "ones_like": like(1.0), "eye": lambda n, m=None, **_: np.eye(n, m),
        "flatten": flatten,
    }
    more["concat"] = more["concatenate"] = more["cat"]
    for name, fn in more.items():
        table[getattr(torch, name)] = (f"torch.{name}", fn)
    functional = {
        "relu": _activation(rc.relu), "silu": _activation(rc.silu), "sigmoid": rc.sigmoid,
        "tanh": rc.tanh, "softplus": softplus, "elu": elu, "linear": linear,
        "normalize": normalize, "softmax": softmax, "layer_norm": layer_norm,
        "dropout": identity,
    }
    for name, fn in functional.items():
        table[getattr(F, name)] = (f"F.{name}", fn)
    for name, fn in (("sqrt", rc.sqrt), ("exp", rc.exp), ("log", rc.log)):
        # torch.fx records math calls on traced sizes, as in 1 / math.sqrt(k.shape[-1])
        table[getattr(math, name)] = (f"math.{name}", fn)
    return table


def method_table() -> dict:
    """fx call_method name -> implementation (the tensor is the first argument)."""
    return {**_SHARED, **_METHODS_ONLY, "silu": rc.silu}


def _linear_module(sub, params, value):
    return linear(value, params["weight"], params.get("bias"))


def _layer_norm_module(sub, params, value):
    return layer_norm(value, sub.normalized_shape, params.get("weight"), params.get("bias"),
                      sub.eps)


def _cell_module(sub, params, value, state=None):
    """A torch cell called inside a custom cell: the step of `torch_import.cell_step`."""
    kind = next(c.__name__ for c in type(sub).__mro__
                if c.__name__ in ("RNNCell", "GRUCell", "LSTMCell"))[:-4]
    if "_step" not in params:  # built once per submodule, not at every replayed step
        params["_step"] = cell_step(kind, params["weight_ih"], params["weight_hh"],
                                    params.get("bias_ih"), params.get("bias_hh"),
                                    nonlinearity=getattr(sub, "nonlinearity", "tanh"))[0]
    step, hidden = params["_step"], sub.hidden_size
    if state is None:  # torch's default: a zero state
        state = (np.zeros(hidden), np.zeros(hidden)) if kind == "LSTM" else np.zeros(hidden)
    if kind != "LSTM":
        return step(state, value)
    new = step(rc.concat(list(state)), value)
    return new[:hidden], new[hidden:]


_MODULES = {
    "Linear": _linear_module,
    "RNNCell": _cell_module,
    "GRUCell": _cell_module,
    "LSTMCell": _cell_module,
    "LayerNorm": _layer_norm_module,
    "Tanh": lambda sub, params, v: rc.tanh(v),
    "Sigmoid": lambda sub, params, v: rc.sigmoid(v),
    "ReLU": lambda sub, params, v: rc.relu(v),
    "SiLU": lambda sub, params, v: rc.silu(v),
    "Softplus": lambda sub, params, v: softplus(v, sub.beta, sub.threshold),
    "ELU": lambda sub, params, v: elu(v, sub.alpha),
    "Softmax": lambda sub, params, v: softmax(v, sub.dim),
    "Identity": lambda sub, params, v: v,
    "Dropout": lambda sub, params, v: v,
}


def module_handler(sub, torch):
    """The replay of a leaf module (``handler(sub, params, *args)``), or None."""
    for cls in type(sub).__mro__:
        if cls.__module__.startswith("torch.nn") and cls.__name__ in _MODULES:
            return _MODULES[cls.__name__]
    return None


def supported_text(torch) -> str:
    """Everything the table knows, for the message that refuses anything else."""
    names = {name for name, _ in function_table(torch).values()}

    def under(prefix: str) -> set[str]:
        return {n[len(prefix):] for n in names if n.startswith(prefix)}

    functions, methods = under("torch."), set(method_table())
    operators = " ".join(name for name, _ in _OPERATORS.values()
                         if not name[0].isalpha() or name == "indexing")
    return (f"nn.{{{', '.join(_MODULES)}}}; torch.NAME and Tensor.NAME for NAME in "
            f"{{{', '.join(sorted(functions & methods))}}}; "
            f"torch.{{{', '.join(sorted(functions - methods))}}}; "
            f"Tensor.{{{', '.join(sorted(methods - functions))}}}; "
            f"F.{{{', '.join(sorted(under('F.')))}}}; math.{{{', '.join(sorted(under('math.')))}}}"
            f"; operators {operators}")
