"""rc.to_integer_pairs (Prop. 4): a Q-circuit as a Z-circuit on (numerator, denominator)
pairs, evaluated by the fast kernels modulo p and by the boolean lowering."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.lower.pairs import PairError
from tests.constructions.test_exact import P, random_fraction, residue, third, wfa_reference


def as_fractions(pairs: np.ndarray) -> list[Fraction]:
    return [Fraction(int(a), int(b)) for a, b in pairs.reshape(-1, 2)]


@pytest.mark.parametrize("topology", ["sequential", "sklansky", "brent-kung"])
def test_pairs_of_a_rational_program_equal_its_fractions(topology):
    rng = np.random.default_rng(5)
    moves = np.array([[[random_fraction(rng) for _ in range(3)] for _ in range(3)]
                      for _ in range(2)], dtype=object)
    alpha, omega = [Fraction(1), Fraction(-1, 2), Fraction(2)], [Fraction(1, 3), 1, 2]
    circuit = rc.compile(rc.from_wfa(alpha, moves, omega), 12, topology=topology)
    pairs = rc.to_integer_pairs(circuit)
    assert "div" in circuit.op_counts and "div" not in pairs.op_counts
    assert pairs.depth <= 2 * circuit.depth
    words = rng.integers(0, 2, size=(5, 12))
    got = pairs.evaluate(words, modulus=P)
    for word, row in zip(words, got, strict=True):
        want = wfa_reference(alpha, moves, omega, word)
        assert [a * pow(int(b), -1, P) % P for a, b in row.reshape(-1, 2)] == \
            [residue(v) for v in want]


def test_an_integer_circuit_comes_back_with_denominators_one():
    program = rc.from_dfa([[1, 0], [0, 2], [2, 1]], 0, [2])
    circuit = rc.compile(program, 16, topology="sequential")
    pairs = rc.to_integer_pairs(circuit)
    words = np.random.default_rng(6).integers(0, 2, size=(50, 16))
    got = pairs.evaluate(words)
    np.testing.assert_array_equal(got[..., 1], 1.0)
    np.testing.assert_array_equal(got[..., 0], circuit.evaluate(words))
    assert pairs.size <= circuit.size


def test_the_boolean_lowering_of_pairs_is_exact():
    """(1/3) h + x on 4 steps: numerators and denominators below 2^11, exact on 12 bits."""
    pairs = rc.to_integer_pairs(rc.compile(third, 4, topology="sequential"))
    xs = np.random.default_rng(7).integers(-3, 4, size=(20, 4, 1))
    words = rc.to_boolean(pairs, width=12).evaluate(xs)
    exact = rc.compile(third, 4).evaluate(xs, exact=True)
    for got, want in zip(words, exact, strict=True):
        assert as_fractions(got) == want.ravel().tolist()


def test_what_has_no_pair_form_is_refused():
    @rc.rnn(state=1, inputs=1)
    def clipped(h, x):
        return rc.relu(h + x)

    with pytest.raises(PairError, match="relu gates have no form"):
        rc.to_integer_pairs(rc.compile(clipped, 3))

    @rc.rnn(state=1, inputs=1)
    def tiny(h, x):
        return 1e-300 * h + x

    with pytest.raises(PairError, match="not an integer or a dyadic"):
        rc.to_integer_pairs(rc.compile(tiny, 3, topology="sequential"))
