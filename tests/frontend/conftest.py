"""Shared helpers for the front-end tests: compare a model three ways on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

import rnncirc as rc


def random_inputs(model: rc.RNN, n: int, batch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if model.alphabet:
        return rng.integers(0, model.alphabet, size=(batch, n))
    return rng.normal(size=(batch, n, model.input_size))


def hand_loop(ref, init: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The states h_1..h_n of ``h_t = ref(h_{t-1}, x_t)`` for a batch of sequences."""
    out = []
    for seq in xs:
        h, states = np.array(init, dtype=np.float64), []
        for x in seq:
            h = np.asarray(ref(h, x), dtype=np.float64)
            states.append(h)
        out.append(states)
    return np.array(out)


def check_agrees(model: rc.RNN, ref, *, n: int = 4, batch: int = 2, init=None,
                 outputs: str = "all", seed: int = 0) -> np.ndarray:
    """`model.run` == hand-written numpy loop, and the compiled circuit == `model.run`.

    Checked batched and unbatched; returns the batched states of `model.run`.
    """
    xs = random_inputs(model, n, batch, seed)
    got = model.run(xs)
    assert got.shape == (batch, n) + model.state_shape
    want = hand_loop(ref, model.init if init is None else init, xs)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.run(xs[1]), got[1], rtol=0, atol=0)

    circuit = rc.compile(model, n, outputs=outputs)
    expected = got if outputs == "all" else got[:, -1]
    np.testing.assert_allclose(circuit.evaluate(xs), expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(circuit.evaluate(xs[0]), expected[0], rtol=1e-9, atol=1e-12)
    return got


@pytest.fixture
def agrees():
    return check_agrees
