"""Sequential unroll: equal to RNN.run, exact sizes and depths, folding, structure."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.analyze.maxplus import unroll_formulas
from rnncirc.ir.ops import ARITY
from rnncirc.lower.unroll import template_pair

from ..conftest import example

n_sym = sp.Symbol("n", integer=True, positive=True)


def elman_model(d: int, k: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    W, U, b = rng.normal(size=(d, d)), rng.normal(size=(d, k)), rng.normal(size=d) + 0.1

    @rc.rnn(state=d, inputs=k)
    def elman(h, x):
        return rc.tanh(W @ h + U @ x + b)

    return elman


def elman_closed_form(d: int, k: int, n: int) -> tuple[int, int]:
    """Exact (depth, size) of the Elman unroll, derived by hand.

    Step 1 (h_0 = 0 folds away): d*k products, d*(k-1) adds for U x, d bias adds, d tanh;
    depth 1 + ceil(log2 k) + 1 + 1. Every later step adds d*d + d*k products,
    d*(d-1) + d*(k-1) adds for the two sums, d adds joining them, d bias adds and d tanh; the
    state path crosses one product, the W h tree (ceil(log2 d)), the join, the bias, the tanh.
    """
    log = lambda m: math.ceil(math.log2(m))  # noqa: E731
    size1 = d * k + d * (k - 1) + d + d
    size = d * d + d * k + d * (d - 1) + d * (k - 1) + 3 * d
    depth1 = 1 + log(k) + 2
    step_depth = 1 + log(d) + 3
    return depth1 + (n - 1) * step_depth, size1 + (n - 1) * size


@pytest.mark.parametrize("d,k", [(6, 3), (8, 5), (3, 1)])
def test_elman_closed_form_n_1_to_40(d, k):
    model = elman_model(d, k)
    templates = template_pair(model)
    depth_f, size_f = unroll_formulas(*templates, d)
    for n in range(1, 41):
        circuit = rc.compile(model, n)
        expected_depth, expected_size = elman_closed_form(d, k, n)
        assert (circuit.depth, circuit.size) == (expected_depth, expected_size), n
        assert int(depth_f.subs(n_sym, n)) == expected_depth
        assert int(size_f.subs(n_sym, n)) == expected_size


def test_elman_matches_run_batched_and_unbatched():
    model = elman_model(5, 3)
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 9):
        circuit = rc.compile(model, n)
        circuit.verify()
        xs = rng.normal(size=(4, n, 3))
        np.testing.assert_allclose(circuit.evaluate(xs), model.run(xs), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(circuit.evaluate(xs[0]), model.run(xs[0]), rtol=1e-9)


def test_zero_and_one_weights_cost_nothing():
    d = 6
    W = np.eye(d)
    W[0, 3] = 2.0  # identity plus one extra entry: 7 non-zeros, one of them not 1

    @rc.rnn(state=d, inputs=1)
    def sparse(h, x):
        return W @ h + x

    circuit = rc.compile(sparse, 5, topology="sequential")
    # per step after the first: 1 mul (the 2.0), 1 add in row 0, d adds of x; step 1: nothing
    # but the broadcast of x (h_0 = 0): zero gates.
    assert circuit.op_counts == {"add": 4 * (d + 1), "mul": 4}
    xs = np.random.default_rng(0).normal(size=(5, 1))
    np.testing.assert_allclose(circuit.evaluate(xs), sparse.run(xs), rtol=1e-12)


def test_levels_equal_networkx_longest_path():
    for name in ("elman", "gru", "parity", "mamba"):
        model = example(name)
        circuit = rc.compile(model, 3)
        graph = nx.DiGraph()
        graph.add_nodes_from(range(circuit.num_nodes))
        arity = ARITY[circuit.op]
        for column, need in ((circuit.a, 1), (circuit.b, 2), (circuit.c, 3)):
            gates = np.flatnonzero(arity >= need)
            graph.add_edges_from(zip(column[gates].tolist(), gates.tolist(), strict=True))
        assert circuit.depth == nx.dag_longest_path_length(graph)
        path = circuit.critical_path()
        assert len(path) == circuit.depth
        assert [g["level"] for g in path] == list(range(1, circuit.depth + 1))


@pytest.mark.parametrize("name", ["elman", "gru", "lstm", "mamba", "linear_attention", "parity"])
def test_examples_match_run(name):
    model = example(name)
    rng = np.random.default_rng(2)
    n = 7
    if model.alphabet:
        xs = rng.integers(0, model.alphabet, size=(3, n))
    else:
        xs = rng.normal(size=(3, n, model.input_size))
    for outputs in ("all", "last"):
        circuit = rc.compile(model, n, topology="sequential", outputs=outputs)
        circuit.verify()
        expected = model.run(xs)
        got = circuit.evaluate(xs)
        if outputs == "last":
            expected = expected[:, -1]
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["elman", "gru", "lstm", "mamba", "linear_attention", "parity"])
def test_example_formulas_exact(name):
    model = example(name)
    templates = template_pair(model)
    for outputs in ("all", "last"):
        depth_f, size_f = unroll_formulas(*templates, int(np.prod(model.state_shape)), outputs)
        for n in (1, 2, 3, 5, 8, 13, 40):
            circuit = rc.compile(model, n, topology="sequential", outputs=outputs)
            assert int(depth_f.subs(n_sym, n)) == circuit.depth, (outputs, n)
            assert int(size_f.subs(n_sym, n)) == circuit.size, (outputs, n)


def test_passthrough_state_is_wiring():
    @rc.rnn(state=3, inputs=1, init=np.array([1.0, 2.0, 3.0]))
    def rotate(h, x):
        return rc.concat([h[1:], h[:1] + x])

    circuit = rc.compile(rotate, 6, topology="sequential")
    circuit.verify()
    assert circuit.size == 6  # one add per step, the rotation is free
    xs = np.arange(6.0).reshape(6, 1)
    np.testing.assert_allclose(circuit.evaluate(xs), rotate.run(xs))


def test_save_load_roundtrip(tmp_path):
    circuit = rc.compile(example("gru"), 4)
    circuit.save(tmp_path / "c.npz")
    loaded = rc.Circuit.load(tmp_path / "c.npz")
    assert (loaded.depth, loaded.size, loaded.op_counts) == (circuit.depth, circuit.size,
                                                             circuit.op_counts)
    xs = np.random.default_rng(0).normal(size=(2, 4, 8))
    np.testing.assert_array_equal(loaded.evaluate(xs), circuit.evaluate(xs))


def test_verify_rejects_forward_reference():
    circuit = rc.compile(elman_model(3, 2), 2)
    a = circuit.a.copy()
    gate = int(np.flatnonzero(circuit.is_gate)[0])
    a[gate] = gate  # reads itself: not topological
    broken = rc.Circuit(op=circuit.op, a=a, b=circuit.b, c=circuit.c, step=circuit.step,
                        node=circuit.node, consts=circuit.consts, inputs=circuit.inputs,
                        outputs=circuit.outputs, info=circuit.info)
    with pytest.raises(AssertionError, match="not an earlier row"):
        broken.verify()


# -- property test: random step functions built from the supported operations ----------------
D, K = 3, 2
UNARY = ["tanh", "sigmoid", "relu", "abs", "softplus", "silu", "neg"]
BINARY = ["add", "sub", "mul", "maximum", "minimum", "where", "matmul_add"]


def _program(draw_ops):
    return draw_ops


programs = st.lists(
    st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 50), st.integers(0, 50)),
    min_size=1, max_size=8)


def build_model(program, seed):
    rng = np.random.default_rng(seed)
    Wx = rng.normal(size=(D, K))
    mats = [rng.normal(size=(D, D)) * 0.5 for _ in program]
    bias = rng.normal(size=D)
    perm = rng.permutation(D)

    def step(h, x):
        pool = [h, Wx @ x, h[perm] * 0.5 + bias]
        for (op, i, j), mat in zip(program, mats, strict=True):
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            if op == "neg":
                value = -a
            elif op in UNARY:
                value = getattr(rc, op)(a)
            elif op == "add":
                value = a + b
            elif op == "sub":
                value = a - b
            elif op == "mul":
                value = rc.tanh(a) * b
            elif op == "where":
                value = rc.where(a > b, a, b * 0.5)
            elif op == "matmul_add":
                value = mat @ a + b.sum() * 0.1
            else:
                value = getattr(rc, op)(a, b)
            pool.append(value)
        return rc.tanh(pool[-1])

    return rc.rnn(state=D, inputs=K, init=rng.normal(size=D))(step)


@settings(max_examples=60, deadline=None)
@given(program=programs, n=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_random_step_functions_evaluate_to_run(program, n, seed):
    model = build_model(program, seed)
    xs = np.random.default_rng(seed + 1).normal(size=(2, n, K))
    circuit = rc.compile(model, n)
    circuit.verify()
    np.testing.assert_allclose(circuit.evaluate(xs), model.run(xs), rtol=1e-9, atol=1e-10)
