"""The tracer: interning, constant folding, numpy semantics of every operation in api.md §1,
and the errors a step function gets for what cannot be traced."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.errors import (
    RnncircError,
    ShapeError,
    SymbolicControlFlowError,
    TracingError,
    UnsupportedOperationError,
)
from rnncirc.frontend.tracer import Sym, as_sym
from rnncirc.ir.cell import CellBuilder

RNG = np.random.default_rng(42)
W3 = RNG.normal(size=(3, 3)) / 2
U3 = RNG.normal(size=(3, 3)) / 2
T332 = RNG.normal(size=(3, 3, 2)) / 2
T2332 = RNG.normal(size=(2, 3, 3, 2)) / 2


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def fresh():
    """A builder with a symbolic state (3,) and input (3,), as the tracer makes them."""
    builder = CellBuilder()
    h = Sym(builder.node("state", (3,)), builder)
    x = Sym(builder.node("input", (3,)), builder)
    return builder, h, x


# -- interning and constant folding ---------------------------------------------------------
def test_same_expression_twice_is_the_same_node():
    builder, h, x = fresh()
    first = rc.tanh(W3 @ h + x * 2.0)
    count = len(builder.nodes)
    second = rc.tanh(W3 @ h + x * 2.0)
    assert second.node is first.node
    assert len(builder.nodes) == count  # nothing new was recorded
    assert (h[1:] + 1).node is (h[1:] + 1).node
    assert rc.where(h > 0, x, h).node is rc.where(h > 0, x, h).node


def test_interned_constants_are_compared_by_value():
    builder = CellBuilder()
    a = builder.const(np.arange(3.0))
    b = builder.const(np.array([0.0, 1.0, 2.0]))
    c = builder.const(np.arange(3.0).reshape(3, 1))
    assert a is b
    assert c is not a  # same bytes, different shape


def test_shared_subexpression_in_a_model_is_recorded_once():
    @rc.rnn(state=3, inputs=3)
    def twice(h, x):
        return rc.tanh(W3 @ h) + rc.tanh(W3 @ h) * x

    @rc.rnn(state=3, inputs=3)
    def once(h, x):
        t = rc.tanh(W3 @ h)
        return t + t * x

    assert len(twice.cell.nodes) == len(once.cell.nodes)
    assert rc.compile(twice, 3).size == rc.compile(once, 3).size


def test_weight_only_expressions_fold_to_constants():
    builder, h, _ = fresh()
    w = as_sym(W3, builder)
    folded = rc.tanh((w @ w.T + 1.0).sum(axis=0) * 0.5) - rc.concat([w[0], w[1]])[:3]
    assert folded.node.op == "const"
    expected = np.tanh((W3 @ W3.T + 1.0).sum(axis=0) * 0.5) - np.concatenate([W3[0], W3[1]])[:3]
    np.testing.assert_allclose(folded.node.arg, expected, rtol=1e-15)
    # a constant mixed with the state is not folded, and no node computes from constants only
    mixed = folded * h
    assert mixed.node.op != "const"


def test_no_cell_node_computes_from_constants_only():
    @rc.rnn(state=3, inputs=3)
    def model(h, x):
        return rc.sigmoid(W3 @ h + U3.T @ x + W3.sum(axis=1)) * rc.exp(-h ** 2)

    for node in model.cell.live_nodes():
        if node.operands:
            assert any(o.op != "const" for o in node.operands), node


def test_sym_array_attributes():
    builder, h, _ = fresh()
    m = h.reshape(1, 3) * np.ones((2, 1))
    assert m.shape == (2, 3) and m.ndim == 2 and m.size == 6 and len(m) == 2
    assert m.T.shape == (3, 2)
    assert h.T.node is h.node  # transposing a vector is the identity
    assert m.sum(axis=1).shape == (2,) and m.sum().shape == ()
    assert m.sum(axis=0, keepdims=True).shape == (1, 3)
    assert "symbolic" in repr(h)


# -- numpy semantics: each operation, traced and run, against a hand-written numpy loop ----
# Each case: (state, inputs, step written with rnncirc/numpy on h and x, reference in numpy)
CASES = {
    "add-sub-mul-div": (3, 3,
                        lambda h, x: (h + x) * 0.5 - x / 2.0 + 1 - 0.25 * h,
                        lambda h, x: (h + x) * 0.5 - x / 2.0 + 1 - 0.25 * h),
    "reflected-scalars": (3, 3,
                          lambda h, x: 2.0 - h / 4 + 1.0 / (2.0 + h * h) + 3 * x,
                          lambda h, x: 2.0 - h / 4 + 1.0 / (2.0 + h * h) + 3 * x),
    "unary-minus-plus-abs": (3, 3,
                             lambda h, x: -0.5 * h + (+x) - abs(x) * 0.1,
                             lambda h, x: -0.5 * h + x - np.abs(x) * 0.1),
    "power": (3, 3,
              lambda h, x: rc.tanh(h ** 2 - 0.3 * h ** 3 + x ** 1 + x ** 0 + 0.1 * x ** 5
                                   + h ** 2.0),
              lambda h, x: np.tanh(h ** 2 - 0.3 * h ** 3 + x + 1.0 + 0.1 * x ** 5 + h ** 2)),
    "np-square-power": (3, 3,
                        lambda h, x: rc.tanh(np.square(h) + np.power(x, 3)),
                        lambda h, x: np.tanh(h * h + x * x * x)),
    "indexing-slicing": (3, 3,
                         lambda h, x: rc.concat([h[1:], h[:1]]) * 0.5 + x[::-1] + h[-1] * x
                         + h[[2, 0, 1]] * 0.1 + h[np.array([True, False, True])].sum(),
                         lambda h, x: np.concatenate([h[1:], h[:1]]) * 0.5 + x[::-1]
                         + h[-1] * x + h[[2, 0, 1]] * 0.1 + (h[0] + h[2])),
    "matrix-indexing-transpose": ((2, 3), 3,
                                  lambda h, x: 0.5 * (W3 @ h.T).T + h[::-1, ::-1] * 0.1
                                  + h[:, 1:2] * x + h[1] * h[0, None] + 0.1 * x,
                                  lambda h, x: 0.5 * (W3 @ h.T).T + h[::-1, ::-1] * 0.1
                                  + h[:, 1:2] * x + h[1] * h[0][None] + 0.1 * x),
    "sum-axis": ((2, 3), 3,
                 lambda h, x: 0.5 * h - h.sum(axis=0) / 4 + h.sum(axis=1, keepdims=True) * 0.1
                 + x.sum() * 0.01 + h.sum(axis=-1)[:, None] * 0.2 + np.sum(h, axis=0) * 0.1
                 + x,
                 lambda h, x: 0.5 * h - h.sum(axis=0) / 4 + h.sum(axis=1)[:, None] * 0.1
                 + x.sum() * 0.01 + h.sum(axis=1)[:, None] * 0.2 + h.sum(axis=0) * 0.1 + x),
    "mean-reshape-flatten": ((2, 3), 3,
                             lambda h, x: 0.5 * h - h.mean(axis=0) + np.mean(h) * 0.1
                             + h.flatten()[::-1].reshape(2, 3) * 0.2
                             + np.reshape(x.ravel(), (1, 3)),
                             lambda h, x: 0.5 * h - h.mean(axis=0) + h.mean() * 0.1
                             + h.ravel()[::-1].reshape(2, 3) * 0.2 + x[None]),
    "numpy-constants-and-scalars": (3, 3,
                                    lambda h, x: np.float64(0.3) * h + np.array([1., 2., 3.]) * x
                                    + 2 + np.int64(1) + [0.5, 0.0, -0.5] + h * np.float32(0.5),
                                    lambda h, x: 0.3 * h + np.array([1., 2., 3.]) * x + 3.0
                                    + np.array([0.5, 0.0, -0.5])
                                    + h * float(np.float32(0.5))),
    "matmul-matrix-vector": (3, 3,
                             lambda h, x: rc.tanh(W3 @ h + x @ U3 + np.dot(U3, x) * 0.1),
                             lambda h, x: np.tanh(W3 @ h + x @ U3 + U3 @ x * 0.1)),
    "matmul-vector-vector": (3, 3,
                             lambda h, x: 0.5 * h + (h @ x) * 0.1 + np.matmul(x, x) * 0.01,
                             lambda h, x: 0.5 * h + float(h @ x) * 0.1 + float(x @ x) * 0.01),
    "matmul-stacked-constant": ((3, 3), 2,
                                lambda h, x: 0.5 * ((T332 @ x) @ h) * 0.5 + 0.1 * h
                                + (T2332 @ x).sum(axis=0),
                                lambda h, x: 0.25 * (np.einsum("ijk,k->ij", T332, x) @ h)
                                + 0.1 * h + np.einsum("aijk,k->ij", T2332, x)),
    "matmul-matrix-state": ((3, 3), 3,
                            lambda h, x: 0.5 * h @ W3 + rc.outer(x, x) * 0.1 - W3.T @ h * 0.2,
                            lambda h, x: 0.5 * h @ W3 + np.outer(x, x) * 0.1 - W3.T @ h * 0.2),
    "matmul-batched-symbolic": ((2, 3, 3), 3,
                                lambda h, x: 0.3 * (h @ h) + h.T.transpose(2, 1, 0) * 0.1
                                + (h @ x)[:, :, None] * 0.1 + 0.1 * x,
                                lambda h, x: 0.3 * (h @ h) + h * 0.1
                                + (h @ x)[:, :, None] * 0.1 + 0.1 * x),
    "tanh": (3, 3, lambda h, x: rc.tanh(W3 @ h + x), lambda h, x: np.tanh(W3 @ h + x)),
    "sigmoid": (3, 3, lambda h, x: rc.sigmoid(W3 @ h - x), lambda h, x: sigmoid(W3 @ h - x)),
    "relu": (3, 3, lambda h, x: rc.relu(W3 @ h + x) * 0.5,
             lambda h, x: np.maximum(W3 @ h + x, 0.0) * 0.5),
    "exp": (3, 3, lambda h, x: rc.exp(rc.tanh(h) - x * x),
            lambda h, x: np.exp(np.tanh(h) - x * x)),
    "log": (3, 3, lambda h, x: rc.log(1.0 + h * h + x * x),
            lambda h, x: np.log(1.0 + h * h + x * x)),
    "sqrt": (3, 3, lambda h, x: rc.sqrt(1.0 + h * h + x * x) * 0.5,
             lambda h, x: np.sqrt(1.0 + h * h + x * x) * 0.5),
    "abs": (3, 3, lambda h, x: rc.abs(W3 @ h - x) * 0.5,
            lambda h, x: np.abs(W3 @ h - x) * 0.5),
    "softplus": (3, 3, lambda h, x: rc.softplus(W3 @ h + 3 * x) * 0.5,
                 lambda h, x: np.log1p(np.exp(W3 @ h + 3 * x)) * 0.5),
    "silu": (3, 3, lambda h, x: rc.silu(W3 @ h + x),
             lambda h, x: (W3 @ h + x) * sigmoid(W3 @ h + x)),
    "numpy-ufuncs": (3, 3,
                     lambda h, x: np.tanh(h) + np.exp(-x * x) + np.log(1 + h * h)
                     + np.sqrt(x * x + 1) * 0.1 - np.abs(h) * 0.1,
                     lambda h, x: np.tanh(h) + np.exp(-x * x) + np.log(1 + h * h)
                     + np.sqrt(x * x + 1) * 0.1 - np.abs(h) * 0.1),
    "maximum-minimum": (3, 3,
                        lambda h, x: rc.maximum(h, x) * 0.5 + rc.minimum(h, 0.0)
                        + np.maximum(x, 0.5) * 0.1 - np.minimum(h, x) * 0.2,
                        lambda h, x: np.maximum(h, x) * 0.5 + np.minimum(h, 0.0)
                        + np.maximum(x, 0.5) * 0.1 - np.minimum(h, x) * 0.2),
    "where-comparisons": (3, 3,
                          lambda h, x: rc.where(h > x, h - x, rc.where(h <= 0, x, 0.5 * h))
                          + (h == h) * 0.1 + (x != 0) * 0.2 + 1.0 * (h >= 0.5)
                          - 1.0 * (h < -0.5) + np.where(x > 0, 0.1, -0.1),
                          lambda h, x: np.where(h > x, h - x, np.where(h <= 0, x, 0.5 * h))
                          + 0.1 + 0.2 * (x != 0) + 1.0 * (h >= 0.5) - 1.0 * (h < -0.5)
                          + np.where(x > 0, 0.1, -0.1)),
    "outer": ((3, 3), 3,
              lambda h, x: 0.9 * h + rc.outer(x, rc.tanh(h.sum(axis=1))) + np.outer(x, x) * 0.1,
              lambda h, x: 0.9 * h + np.outer(x, np.tanh(h.sum(axis=1))) + np.outer(x, x) * 0.1),
    "concat": (6, 3,
               lambda h, x: rc.concat([h[:3] * x, rc.tanh(h[3:])]) + np.concatenate([x, x]),
               lambda h, x: np.concatenate([h[:3] * x, np.tanh(h[3:])]) + np.concatenate([x, x])),
    "concat-axis1": ((2, 3), 2,
                     lambda h, x: rc.concat([h[:, :1] + x[:, None], 0.5 * h[:, 1:]], axis=1),
                     lambda h, x: np.concatenate([h[:, :1] + x[:, None], 0.5 * h[:, 1:]],
                                                 axis=1)),
    "stack": ((2, 3), 3,
              lambda h, x: rc.stack([h[0] + x, h[1] * x]) * 0.5 + np.stack([x, -x]) * 0.1,
              lambda h, x: np.stack([h[0] + x, h[1] * x]) * 0.5 + np.stack([x, -x]) * 0.1),
    "stack-axis1": ((3, 2), 3,
                    lambda h, x: rc.stack([h[:, 0] + x, 0.5 * h[:, 1]], axis=1),
                    lambda h, x: np.stack([h[:, 0] + x, 0.5 * h[:, 1]], axis=1)),
    "python-iteration": (3, 3,
                         lambda h, x: rc.stack([v * 0.5 for v in h])
                         + sum(h[i] * x[i] for i in range(len(x))) + x,
                         lambda h, x: h * 0.5 + float(h @ x) + x),
    "constant-new-state-part": (3, 3,
                                lambda h, x: 0.0 * x + np.array([1.0, 2.0, 3.0]) + 0.5 * h,
                                lambda h, x: np.array([1.0, 2.0, 3.0]) + 0.5 * h),
    "linear-attention": ((2, 3), 3,
                         lambda h, x: h + rc.outer(U3[:2] @ x, W3 @ x),
                         lambda h, x: h + np.outer(U3[:2] @ x, W3 @ x)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_operation_semantics(case, agrees):
    state, inputs, step, ref = CASES[case]
    model = rc.rnn(state=state, inputs=inputs, name=case.replace("-", "_"))(step)
    agrees(model, ref, n=3)


def test_outputs_last_and_nonzero_init(agrees):
    init = np.array([0.5, -1.0, 2.0])
    model = rc.rnn(state=3, inputs=3, init=init)(lambda h, x: rc.tanh(W3 @ h + x))
    agrees(model, lambda h, x: np.tanh(W3 @ h + x), n=5, init=init, outputs="last")
    agrees(model, lambda h, x: np.tanh(W3 @ h + x), n=1, init=init)


# -- what cannot be traced: the error, its class and the user's line -------------------------
def _line_of(fn, text: str) -> str:
    """``"file.py:LINE"`` of the first line of `fn`'s source that contains `text`."""
    lines, first = inspect.getsourcelines(fn)
    for offset, line in enumerate(lines):
        if text in line:
            return f"{os.path.basename(inspect.getsourcefile(fn))}:{first + offset}"
    raise AssertionError(f"{text!r} not in the source of {fn.__name__}")


def _trace_error(step, *, state=3, inputs=3, alphabet=None):
    kwargs = {"alphabet": alphabet} if alphabet else {"inputs": inputs}
    with pytest.raises(RnncircError) as info:
        rc.rnn(state=state, **kwargs)(step)
    message = str(info.value)
    assert "\n" not in message
    return info.value, message


def test_if_on_a_symbolic_value():
    def step(h, x):
        if h[0] > 0:
            return h
        return x

    err, message = _trace_error(step)
    assert isinstance(err, SymbolicControlFlowError)
    assert message.startswith(_line_of(step, "if h[0] > 0") + ": ")
    assert "`if`" in message and "rc.where" in message


@pytest.mark.parametrize("construct, expected", [
    ("while", "`while`"), ("bool", "bool()"), ("and", "`and`/`or`/`not`"),
    ("ternary", "conditional expression"), ("max", "max()"), ("elif", "`elif`"),
    ("assert", "`assert`"),
])
def test_truth_value_constructs_are_named(construct, expected):
    def step(h, x):
        if construct == "while":
            while h[0] > 0:
                h = h - 1
        elif construct == "bool":
            h = h * bool(x[0])
        elif construct == "and":
            h = h * (x[0] > 0 and 1.0)
        elif construct == "ternary":
            h = h if x[0] > 0 else -h
        elif construct == "max":
            h = h * max(x[0], 0.0)
        elif construct == "elif":
            if construct == "nothing":
                pass
            elif x[1] < 0:
                h = -h
        elif construct == "assert":
            assert x[0] > 0
        return h

    err, message = _trace_error(step)
    assert isinstance(err, SymbolicControlFlowError)
    assert expected in message, message
    assert "rc.where" in message or "rc.maximum" in message
    assert os.path.basename(__file__) in message


@pytest.mark.parametrize("convert, construct", [
    (lambda v: int(v), "int()"), (lambda v: float(v), "float()"),
    (lambda v: complex(v), "complex()"), (lambda v: range(v), "range()"),
    (lambda v: [1.0, 2.0, 3.0][v], "index"),
])
def test_conversions_of_a_symbolic_value(convert, construct):
    def step(h, x):
        return h * convert(h[0])

    err, message = _trace_error(step)
    assert isinstance(err, SymbolicControlFlowError)
    assert construct in message and "rc.where" in message
    assert os.path.basename(__file__) + ":" in message


@pytest.mark.parametrize("body, error, facts", [
    (lambda h, x: np.sort(h), UnsupportedOperationError, ["np.sort", "rc.where"]),
    (lambda h, x: np.linalg.inv(h.reshape(1, 3) * x.reshape(3, 1)), UnsupportedOperationError,
     ["np.linalg.inv"]),
    (lambda h, x: np.asarray(h), UnsupportedOperationError, ["numpy array"]),
    (lambda h, x: np.add.reduce(h) + h, UnsupportedOperationError, ["np.add.reduce"]),
    (lambda h, x: np.sin(h), UnsupportedOperationError, ["np.sin", "np.tanh"]),
    (lambda h, x: h ** 0.5, UnsupportedOperationError, ["0.5", "rc.exp"]),
    (lambda h, x: h ** -1, UnsupportedOperationError, ["-1"]),
    (lambda h, x: h ** x, UnsupportedOperationError, ["**"]),
    (lambda h, x: h[x], UnsupportedOperationError, ["symbolic index", "rc.where"]),
    (lambda h, x: h[x > 0], UnsupportedOperationError, ["symbolic index"]),
    (lambda h, x: h + "text", UnsupportedOperationError, ["str"]),
    (lambda h, x: h + x[:2], ShapeError, ["add", "(3,)", "(2,)"]),
    (lambda h, x: rc.where(h > 0, x[:2], h), ShapeError, ["select", "(3,)", "(2,)"]),
    (lambda h, x: np.ones((4, 2)) @ h, ShapeError, ["matmul", "(4, 2)", "(3,)"]),
    (lambda h, x: h @ 2.0, ShapeError, ["matmul", "(3,)", "()"]),
    (lambda h, x: np.ones((2, 2, 3)) @ (h * np.ones((3, 3, 3))), ShapeError,
     ["matmul", "(2, 2, 3)", "(3, 3, 3)"]),
    (lambda h, x: h.sum(axis=1), ShapeError, ["sum", "axis 1", "(3,)"]),
    (lambda h, x: h[5], ShapeError, ["indexing", "(3,)"]),
    (lambda h, x: h.reshape(2, 2), ShapeError, ["reshape", "(3,)"]),
    (lambda h, x: rc.concat([h, x.reshape(3, 1)]), ShapeError, ["concat", "(3,)", "(3, 1)"]),
    (lambda h, x: rc.stack([h, x[:2]]), ShapeError, ["stack", "(3,)", "(2,)"]),
    (lambda h, x: rc.lookup(W3, x), UnsupportedOperationError, ["alphabet"]),
])
def test_untraceable_operations(body, error, facts):
    err, message = _trace_error(body)
    assert isinstance(err, error), (type(err), message)
    for fact in facts:
        assert fact in message, (fact, message)
    assert os.path.basename(__file__) + ":" in message  # points at the user's line


def test_assignment_into_a_symbolic_value():
    def step(h, x):
        h[0] = 1.0
        return h

    err, message = _trace_error(step)
    assert isinstance(err, UnsupportedOperationError)
    assert _line_of(step, "h[0] = 1.0") in message and "rc.where" in message


def test_any_other_exception_in_the_step_is_a_tracing_error_at_the_user_line():
    def step(h, x):
        scale = {"a": 1.0}["b"]
        return h * scale

    err, message = _trace_error(step)
    assert type(err) is TracingError
    assert message.startswith(_line_of(step, '{"a": 1.0}["b"]') + ": ")
    assert "KeyError" in message and "step" in message


def test_errors_raised_inside_numpy_point_at_the_user_line():
    def step(h, x):
        np.linalg.inv(np.ones((2, 3)))
        return h

    err, message = _trace_error(step)
    assert type(err) is TracingError
    assert message.startswith(_line_of(step, "np.linalg.inv") + ": ")
    assert "LinAlgError" in message
