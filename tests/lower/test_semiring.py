"""Semiring recurrences (issue 16, item 4): a step linear over (max, +) or (min, +) is
classified as such and lowered by the prefix networks; its circuit equals `RNN.run` on every
topology, and `measure` stays exact for it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.lower import prefix
from rnncirc.lower.measure import measure_linear

from ..models import assert_circuits_equal_run, random_inputs

K = 2
_rng = np.random.default_rng(4)
W, V = _rng.normal(size=(3, K)), _rng.normal(size=(3, K))


def running_max(h, x):
    return rc.maximum(h, W @ x)


def stabilizer(m, x):  # the mLSTM stabilizer: m_t = max(log f_t + m_{t-1}, log i_t)
    return rc.maximum(-rc.softplus(-(W @ x)) + m, V @ x)


def stabilizer_reordered(m, x):
    return rc.maximum(V @ x, m - rc.softplus(-(W @ x)))


def shifted_min(h, x):
    return rc.minimum(h - 0.1, W @ x) + 1.0


def nested_max(h, x):
    return rc.maximum(rc.maximum(h + 0.5, W @ x), rc.maximum(h - V @ x, V @ x))


def matrix_state(S, x):
    return rc.maximum(S + (W @ x)[:, None], 0.0)


# name -> (step, state, kind, init)
CASES = {
    "running_max": (running_max, 3, "max-plus", None),
    "stabilizer": (stabilizer, 3, "max-plus", np.array([0.5, -1.0, 2.0])),
    "stabilizer_reordered": (stabilizer_reordered, 3, "max-plus", None),
    "shifted_min": (shifted_min, 3, "min-plus", None),
    "nested_max": (nested_max, 3, "max-plus", None),
    "matrix_state": (matrix_state, (3, 2), "max-plus", None),
}
TOPOLOGIES = prefix.TOPOLOGIES


def _case(name):
    step, state, kind, init = CASES[name]
    return rc.rnn(state=state, inputs=K, init=init, name=name)(step), kind


@pytest.mark.parametrize("name", sorted(CASES))
def test_kind_class_and_reason(name):
    model, kind = _case(name)
    result = rc.classify(model)
    assert result.kind == kind and result.is_linear
    assert result.complexity == "TC0 (derived, not in the paper)"
    assert "semiring" in result.reason and "do not" in result.reason


@pytest.mark.parametrize("name", sorted(CASES))
def test_circuits_equal_run_on_every_topology(name):
    model, _ = _case(name)
    assert_circuits_equal_run(model, name, TOPOLOGIES, rtol=1e-12)


@pytest.mark.parametrize("name", ["running_max", "stabilizer"])
def test_measure_is_exact(name):
    model, _ = _case(name)
    cls = rc.classify(model)
    for n in (3, 7, 16, 33):
        for topology in ("sklansky", "kogge-stone", "brent-kung"):
            circuit = rc.compile(model, n, topology=topology)
            exact = measure_linear(model, cls, n, topology)
            assert (exact.depth, exact.size) == (circuit.depth, circuit.size)


def test_log_depth_over_the_semiring():
    model, _ = _case("stabilizer")
    parallel = rc.compile(model, 1024)
    assert parallel.depth < 40 < rc.compile(model, 1024, topology="sequential").depth


@pytest.mark.parametrize("body", [
    "rc.minimum(rc.maximum(h, x[0]), 1.0)",  # max and min together
    "rc.maximum(h * x[0], x[1])",  # a product with the state
    "rc.maximum(x[0] - h, x[1])",  # -h is not in the semiring
    "rc.maximum(h + h, x[0])",
])
def test_other_uses_of_max_stay_nonlinear(body):
    namespace = {"rc": rc}
    exec(f"def step(h, x):\n    return {body}\n", namespace)
    model = rc.rnn(state=2, inputs=K)(namespace["step"])
    result = rc.classify(model)
    assert result.kind == "nonlinear"
    assert "max" in result.reason or "mul" in result.reason
    assert "can only be unrolled" not in result.reason


# a random max-plus step written in random forms: max(h + a, b) in any order of operands,
# shifted by constants, nested maxima
forms = st.lists(st.sampled_from(["shift", "max_free", "max_self", "swap"]), min_size=1,
                 max_size=5)


@settings(max_examples=30, deadline=None)
@given(ops=forms, seed=st.integers(0, 10**6))
def test_random_max_plus_steps(ops, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(3, K)) for _ in ops]

    def step(h, x):
        e = h
        for op, w in zip(ops, weights, strict=True):
            if op == "shift":
                e = e + rc.tanh(w @ x)
            elif op == "max_free":
                e = rc.maximum(e, w @ x)
            elif op == "max_self":
                e = rc.maximum(e - 0.25, e + w @ x)
            else:
                e = rc.maximum(w @ x, e)
        return rc.maximum(e, weights[0] @ x - 1.0)

    model = rc.rnn(state=3, inputs=K)(step)
    assert rc.classify(model).kind == "max-plus"
    xs = random_inputs(model, 6, seed=seed)
    np.testing.assert_allclose(rc.compile(model, 6).evaluate(xs), model.run(xs), rtol=1e-12,
                               atol=1e-12)
