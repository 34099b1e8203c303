"""Classification: exact kinds for hand-written and generated cells; reasons; examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc

from ..conftest import example
from ..models import LINEAR, nonlinear


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_kinds_of_linear_models(name):
    model, kind, rank = LINEAR[name]
    result = rc.classify(model)
    assert (result.kind, result.rank) == (kind, rank)
    assert result.complexity == {"scalar": "TC0", "diagonal": "TC0",
                                 "permutation-diagonal": "NC1", "dplr": "PNC1",
                                 "dense": "PNC1"}[kind]
    assert "linear in its state" in result.reason


def test_matrix_state_sides():
    assert rc.classify(LINEAR["deltanet"][0]).side == "right"

    @rc.rnn(state=(3, 2), inputs=2)
    def left(S, x):
        A = np.array([[0.5, 0.1, 0.0], [0.0, 0.4, 0.2], [0.3, 0.0, 0.1]])
        return (A * rc.sigmoid(x[0])) @ S + x[1]

    result = rc.classify(left)
    assert (result.kind, result.side) == ("dense", "left")


@pytest.mark.parametrize("name,kind", [("elman", "nonlinear"), ("gru", "nonlinear"),
                                       ("lstm", "nonlinear"), ("mamba", "diagonal"),
                                       ("linear_attention", "scalar"),
                                       ("parity", "permutation-diagonal")])
def test_examples(name, kind):
    assert rc.classify(example(name)).kind == kind


def test_nonlinear_reason_names_the_blocking_operation_and_line():
    result = rc.classify(nonlinear)
    assert result.kind == "nonlinear"
    assert result.complexity == "L (log precision) / P (poly precision)"
    assert "tanh" in result.reason and "models.py:" in result.reason
    assert "h_{t-1} -> tanh" in result.reason


@pytest.mark.parametrize("body,blocker", [
    ("h * h + x", "product (mul) of two values that both depend on the state"),
    ("x / (1.0 + h)", "division"),
    ("rc.where(h > 0, h, x)", "the gt applied to a value that depends on the state"),
    ("rc.where(x > 0, h, x) + rc.where(h[0] + x > 1.0, 0.0, h)", "gt"),
    ("rc.maximum(h, x) * x", "max"),  # max(h, x) alone is max-plus (test_semiring)
    ("rc.sigmoid(x) * h + rc.relu(h)", "relu"),
])
def test_a_that_depends_on_h_is_never_linear(body, blocker):
    namespace = {"rc": rc, "np": np}
    exec(f"def step(h, x):\n    return {body}\n", namespace)
    model = rc.rnn(state=3, inputs=3)(namespace["step"])
    result = rc.classify(model)
    assert result.kind == "nonlinear"
    assert blocker in result.reason


def test_parallel_topology_on_nonlinear_model_is_refused():
    with pytest.raises(rc.errors.NotLinearError, match="tanh"):
        rc.compile(nonlinear, 8, topology="sklansky")


# -- generated cells: linear ones built from x-only coefficients, nonlinear ones not -------------
D = 3
coefficient_ops = st.sampled_from(["sigmoid", "tanh", "exp_neg", "const"])
structures = st.sampled_from(["scalar", "diagonal", "permutation", "rank1", "dense"])


def _coefficient(op, shape, rng):
    """A coefficient function of x alone, with its weights drawn once."""
    w = rng.normal(size=shape + (2,))
    c = rng.normal(size=shape)
    return {"sigmoid": lambda x: rc.sigmoid(w @ x), "tanh": lambda x: rc.tanh(w @ x),
            "exp_neg": lambda x: rc.exp(-rc.softplus(w @ x)), "const": lambda x: c}[op]


@settings(max_examples=40, deadline=None)
@given(structure=structures, op=coefficient_ops, seed=st.integers(0, 1000),
       poison=st.booleans())
def test_generated_cells(structure, op, seed, poison):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(D)
    while structure == "permutation" and np.array_equal(perm, np.arange(D)):
        perm = rng.permutation(D)
    shape = {"scalar": (), "diagonal": (D,), "permutation": (D,), "rank1": (),
             "dense": (D, D)}[structure]
    coef = _coefficient(op, shape, rng)
    key = _coefficient("tanh", (D,), rng)

    def step(h, x):
        if structure in ("scalar", "diagonal"):
            new = coef(x) * h
        elif structure == "permutation":
            new = coef(x) * h[perm]
        elif structure == "rank1":
            k = key(x)
            new = h - coef(x) * k * (k @ h)
        else:
            new = (coef(x) + np.eye(D)) @ h
        if poison:
            new = new + 0.1 * rc.tanh(h[0])  # any nonlinear use of h makes it nonlinear
        return new + np.ones((D, 2)) @ x

    model = rc.rnn(state=D, inputs=2)(step)
    result = rc.classify(model)
    if poison:
        assert result.kind == "nonlinear"
        return
    expected = {"scalar": "scalar", "diagonal": "diagonal",
                "permutation": "permutation-diagonal", "rank1": "dplr", "dense": "dense"}
    assert result.kind == expected[structure]
    xs = rng.normal(size=(2, 5, 2))
    circuit = rc.compile(model, 5)
    np.testing.assert_allclose(circuit.evaluate(xs), model.run(xs), rtol=1e-9, atol=1e-12)


def test_cached_classifications_let_their_models_go():
    import gc
    import weakref

    @rc.rnn(state=2, inputs=1)
    def decay(h, x):
        return 0.5 * h + x

    assert rc.classify(decay) is rc.classify(decay)  # cached
    rc.depth_profile(decay, [1, 2, 3])  # its formula and topology caches too
    gone = weakref.ref(decay)
    del decay
    gc.collect()
    assert gone() is None
