"""Exact rationals (Prop. 4): Fraction constants stay exact through compilation; circuits
are evaluated in Fractions (exact=True) and modulo p with division by inverses."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.compiler import TOPOLOGIES
from rnncirc.errors import OptionError, RnncircError
from rnncirc.eval.exact import ExactError, evaluate_exact
from rnncirc.eval.modular import ModulusError

P = 1_000_003


def residue(value: Fraction, p: int = P) -> int:
    return value.numerator * pow(value.denominator, -1, p) % p


@rc.rnn(state=1, inputs=1)
def third(h, x):
    return Fraction(1, 3) * h + x


@rc.rnn(state=1, inputs=1)
def third_float(h, x):
    return (1 / 3) * h + x


def third_reference(xs) -> list[Fraction]:
    h, out = Fraction(0), []
    for x in xs:
        h = Fraction(1, 3) * h + Fraction(int(x))
        out.append(h)
    return out


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_a_third_times_h_is_exact(topology):
    xs = np.random.default_rng(0).integers(-9, 10, size=(40, 1))
    expected = third_reference(xs.ravel())
    circuit = rc.compile(third, 40, topology=topology)
    got = circuit.evaluate(xs, exact=True).ravel().tolist()
    assert got == expected
    assert all(isinstance(v, Fraction) for v in got)
    assert circuit.evaluate(xs, modulus=P).ravel().tolist() == [residue(v) for v in expected]


def test_floats_stay_floats():
    """The Fraction's float path gives the float constant's values, bit for bit (the
    prefix network's, which reassociates: close to the step-by-step run); a float
    1/3 is the dyadic rational it is, and exact evaluation says so."""
    xs = np.random.default_rng(1).normal(size=(3, 50, 1))
    exact, floats = rc.compile(third, 50), rc.compile(third_float, 50)
    np.testing.assert_array_equal(exact.evaluate(xs), floats.evaluate(xs))
    np.testing.assert_allclose(exact.evaluate(xs), third.run(xs), rtol=1e-12, atol=1e-15)
    one_step = rc.compile(third_float, 2).evaluate(np.array([[1], [0]]), exact=True)
    assert one_step[1, 0] == Fraction(1 / 3) != Fraction(1, 3)


def random_fraction(rng) -> Fraction:
    return Fraction(int(rng.integers(-6, 7)), int(rng.integers(1, 8)))


def wfa_reference(alpha, moves, omega, word) -> list[Fraction]:
    v, out = np.array(alpha, dtype=object), []
    for a in word:
        v = v @ moves[a]
        out.append(v @ np.array(omega, dtype=object))
    return out


@pytest.mark.parametrize("deterministic", [False, True])
def test_rational_weighted_automata_are_exact(deterministic):
    rng = np.random.default_rng(2 + deterministic)
    states, symbols = 4, 3
    moves = np.empty((symbols, states, states), dtype=object)
    moves[...] = Fraction(0)
    for a in range(symbols):
        for q in range(states):
            targets = [int(rng.integers(states))] if deterministic else range(states)
            for q2 in targets:
                moves[a, q, q2] = random_fraction(rng)
    alpha = [random_fraction(rng) for _ in range(states)]
    omega = [random_fraction(rng) for _ in range(states)]
    program = rc.from_wfa(alpha, moves, omega)
    assert rc.classify(program).kind == ("permutation-diagonal" if deterministic else "dense")
    words = rng.integers(0, symbols, size=(4, 24))
    for topology in ("sequential", "sklansky", "brent-kung"):
        circuit = rc.compile(program, 24, topology=topology)
        exact = circuit.evaluate(words, exact=True)[..., 0]
        wants = [wfa_reference(alpha, moves, omega, word) for word in words]
        assert exact.tolist() == wants, topology
        if "eq" in circuit.op_counts:  # per-symbol permutations compose by comparisons,
            with pytest.raises(ModulusError, match="eq gates"):  # which have no residue
                circuit.evaluate(words, modulus=P)
            continue
        modular = circuit.evaluate(words, modulus=P)[..., 0]
        assert modular.tolist() == [[residue(v) for v in want] for want in wants], topology


def test_rational_tables_and_products_of_rationals():
    """(1/3)(1/3) is 1/9, not a float product: rationals compose exactly through the tracer's
    constant folding and the builder's."""
    @rc.rnn(state=2, alphabet=2)
    def steps(h, x):
        scale = Fraction(1, 3) * Fraction(1, 3) + Fraction(2, 7)
        return rc.lookup(np.array([[Fraction(1, 5), 1], [2, Fraction(-3, 11)]], dtype=object),
                         x) * h * scale + 1

    word = np.array([0, 1, 1, 0, 1])
    h, want = [Fraction(0)] * 2, []
    table = [[Fraction(1, 5), Fraction(1)], [Fraction(2), Fraction(-3, 11)]]
    for a in word:
        h = [table[a][i] * h[i] * (Fraction(1, 9) + Fraction(2, 7)) + 1 for i in range(2)]
        want.append(h)
    circuit = rc.compile(steps, 5)
    assert circuit.evaluate(word, exact=True).tolist() == want
    assert circuit.evaluate(word, modulus=P).tolist() == [[residue(v) for v in row]
                                                          for row in want]


def test_save_and_load_keep_rationals(tmp_path):
    circuit = rc.compile(third, 5)
    path = os.path.join(tmp_path, "third.npz")
    circuit.save(path)
    xs = np.array([[1], [0], [0], [2], [0]])
    assert rc.Circuit.load(path).evaluate(xs, exact=True).ravel().tolist() == \
        third_reference(xs.ravel())


def test_a_denominator_that_p_divides_is_an_error():
    with pytest.raises(ModulusError, match="0 mod 3"):
        rc.compile(third, 3).evaluate(np.ones((3, 1), dtype=int), modulus=3)


def test_exact_evaluation_refuses_what_it_cannot_do():
    @rc.rnn(state=1, inputs=1)
    def squashed(h, x):
        return rc.tanh(h + x)

    with pytest.raises(ExactError, match="tanh"):
        rc.compile(squashed, 3).evaluate(np.ones((3, 1)), exact=True)
    circuit = rc.compile(third, 64)
    with pytest.raises(ExactError, match=f"{circuit.size:,} gates x batch 100"):
        evaluate_exact(circuit, np.ones((100, 64)), limit=10_000)
    with pytest.raises(RnncircError, match="without modulus"):
        circuit.evaluate(np.ones((64, 1)), exact=True, modulus=P)


def test_exact_relu_comparisons_and_select():
    @rc.rnn(state=2, inputs=1)
    def pieces(h, x):
        y = Fraction(1, 2) * h + x
        return rc.concat([rc.relu(y[:1] - Fraction(1, 3)),
                          rc.where(y[1:] > Fraction(1, 4), y[1:], -y[1:])])

    xs = np.array([[1], [-1], [2], [0]])
    h, want = [Fraction(0)] * 2, []
    for (x,) in xs:
        y = [v / 2 + x for v in h]
        h = [max(y[0] - Fraction(1, 3), Fraction(0)), y[1] if y[1] > Fraction(1, 4) else -y[1]]
        want.append(h)
    assert rc.compile(pieces, 4).evaluate(xs, exact=True).tolist() == want


def test_an_init_a_float_cannot_hold_is_refused():
    with pytest.raises(OptionError, match="the rational 1/3"):
        rc.rnn(state=1, inputs=1, init=[Fraction(1, 3)])(lambda h, x: h + x)
    half = rc.rnn(state=1, inputs=1, init=[Fraction(1, 2)])(lambda h, x: Fraction(1, 3) * h)
    got = rc.compile(half, 2).evaluate(np.zeros((2, 1), dtype=int), exact=True).ravel()
    assert got.tolist() == [Fraction(1, 6), Fraction(1, 18)]


def test_the_command_line_runs_a_dividing_circuit_modulo_p(tmp_path, capsys):
    from rnncirc.cli import main

    model = tmp_path / "third.py"
    model.write_text("from fractions import Fraction\nimport rnncirc as rc\n\n"
                     "@rc.rnn(state=1, inputs=1)\ndef third(h, x):\n"
                     "    return Fraction(1, 3) * h + x\n")
    np.save(tmp_path / "xs.npy", np.array([[1], [0], [0], [3]]))
    out = tmp_path / "hs.npy"
    assert main(["run", str(model), "--length", "4", "--modulus", str(P), "-i",
                 str(tmp_path / "xs.npy"), "-o", str(out)]) == 0
    want = third_reference([1, 0, 0, 3])
    assert np.load(out).ravel().tolist() == [residue(v) for v in want]


def test_rational_inputs():
    xs = np.array([[Fraction(1, 2)], [Fraction(-2, 7)], [Fraction(5)]], dtype=object)
    h, want = Fraction(0), []
    for (x,) in xs:
        h = h / 3 + x
        want.append(h)
    assert rc.compile(third, 3).evaluate(xs, exact=True).ravel().tolist() == want
