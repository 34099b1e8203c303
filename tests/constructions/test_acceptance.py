"""rc.accepts: sign and zero tests of the readout as program outputs, through evaluation and
the boolean lowering."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.errors import OptionError
from tests.constructions.test_automata import random_dfa, simulate

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import counter_connectivity as cc  # noqa: E402


def test_dfa_acceptance_in_circuits_and_boolean_circuits():
    rng = np.random.default_rng(11)
    table, start, accepting = random_dfa(rng, 5, 3, partial=True)
    program = rc.accepts(rc.from_dfa(table, start, accepting))
    words = rng.integers(0, 3, size=(400, 20))
    expected = simulate(table, start, accepting, words).astype(float)
    circuit = rc.compile(program, 20)
    np.testing.assert_array_equal(circuit.evaluate(words)[..., 0], expected)
    bits = rc.to_boolean(circuit, width=4).evaluate(words)[..., 0]
    np.testing.assert_array_equal(bits, expected)


def test_connectivity_acceptance_in_the_boolean_circuit():
    """The counter machine's answer as bit 0 of an 8-bit word (counters stay below 2^7)."""
    rng = np.random.default_rng(12)
    words = []
    while len(words) < 40:
        edges = [(i, int(rng.integers(i + 1, 6))) for i in range(1, 5) if rng.random() < 0.7]
        word = cc.encode(int(rng.integers(1, 6)), edges, int(rng.integers(1, 6)))
        if len(word) == 24:
            words.append(word)
    words = np.array(words)
    circuit = rc.compile(rc.accepts(cc.connectivity), 24)
    want = (cc.connectivity.run(words)[:, -1, 0] > 0).astype(float)
    assert set(want) == {0.0, 1.0}
    np.testing.assert_array_equal(circuit.evaluate(words)[:, -1, 0], want)
    np.testing.assert_array_equal(rc.to_boolean(circuit, width=8).evaluate(words)[:, -1, 0],
                                  want)


def test_zero_test_of_an_iterated_product():
    """ENC1 acceptance: (A_1 ... A_N)[0, 0] == 0, at every block end."""
    rng = np.random.default_rng(13)
    mats = rng.choice([-1, 0, 1], p=[0.45, 0.1, 0.45], size=(300, 3, 3, 3))
    program = rc.accepts(rc.imm_program(), test="zero", output=0)
    out = rc.compile(program, 27).evaluate(mats.reshape(300, 27, 1).astype(float))[..., 0]
    for m, row in zip(mats, out, strict=True):
        products = [m[0], m[0] @ m[1], m[0] @ m[1] @ m[2]]
        assert row[8::9].tolist() == [float(p[0, 0] == 0) for p in products]
    assert 0 < out[:, 8::9].mean() < 1


def test_positivity_of_an_rnn_state():
    @rc.rnn(state=2, inputs=1)
    def running(h, x):
        return h + x * np.array([1.0, -1.0])

    xs = np.array([[1.0], [-2.0], [3.0]])
    assert rc.accepts(running, output=1).run(xs).ravel().tolist() == [0.0, 1.0, 0.0]
    assert rc.accepts(running, test="nonnegative").run(xs).ravel().tolist() == [1, 0, 1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(test="greater"), "test must be one of"),
    (dict(output=5), "an index into the model's 1 output"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(OptionError, match=message):
        rc.accepts(rc.from_dfa([[0]], 0, [0]), **kwargs)
