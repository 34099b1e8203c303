"""Exact evaluation modulo a prime: bit-exact checks of circuits and of the lowering passes."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.errors import OptionError, RnncircError
from rnncirc.eval.fast import evaluate_fast
from rnncirc.eval.modular import ModulusError, constant_residues, residues

from ..conftest import example
from .circuits import MODP_OPS, circuits, exact_oracle

P = 2**31 - 1


@settings(max_examples=100, deadline=None, derandomize=True)
@given(circuit=circuits(ops=tuple(MODP_OPS), max_gates=40,
                        const_values=st.integers(-5, 5).map(float)),
       batch=st.sampled_from([1, 3, 8, 11]), p=st.sampled_from([P, 7, 65537]),
       seed=st.integers(0, 99))
def test_random_circuits_exact(circuit, batch, p, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(-2**40, 2**40, size=(batch, circuit.inputs.size))
    got = evaluate_fast(circuit, values, modulus=p)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.reshape(batch, -1), exact_oracle(circuit, values, p))


def test_residues_of_dyadic_constants():
    got = residues(np.array([0.5, -0.25, 3.0, 1e-3]), P, "x")
    for value, residue in zip([0.5, -0.25, 3.0, 1e-3], got, strict=True):
        q = Fraction(value)
        assert int(residue) * q.denominator % P == q.numerator % P


# polynomial linear models (coefficients computed with + - * only) with dyadic weights, so the
# circuit of every topology is exact over the rationals and mod p
K = 3
_rng = np.random.default_rng(11)
W1, W2 = (np.round(_rng.normal(size=(4, K)) * 8) / 8 for _ in range(2))
M = np.round(_rng.normal(size=(4, 4, K)) * 4) / 4


@rc.rnn(state=4, inputs=K, init=np.array([1.0, 2.0, -1.0, 0.5]))
def poly_diagonal(h, x):
    return (W1 @ x) * h + W2 @ x


@rc.rnn(state=4, inputs=K)
def poly_dense(h, x):
    return (M @ x) @ h + W2 @ x


@rc.rnn(state=4, inputs=K, init=np.array([1.0, 0.0, 0.0, 1.0]))
def poly_dplr(h, x):
    k = W1 @ x
    return h - 0.5 * k * (k @ h) + W2 @ x


@rc.rnn(state=4, inputs=K)
def poly_permutation(h, x):
    return (W1 @ x) * h[[2, 0, 3, 1]] + W2 @ x


TOPOLOGIES = ["sequential", "sklansky", "kogge-stone", "brent-kung", "ladner-fischer",
              "han-carlson"]


@pytest.mark.parametrize("model", [poly_diagonal, poly_dense, poly_dplr, poly_permutation],
                         ids=lambda m: m.name)
def test_every_topology_is_bit_exact_mod_p(model):
    """The prefix lowerings compute exactly the same polynomial as the sequential unroll."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 16, 33):
        xs = rng.integers(-1000, 1000, size=(5, n, K))
        results = {}
        for topology in TOPOLOGIES:
            for outputs in ("all", "last"):
                circuit = rc.compile(model, n, topology=topology, outputs=outputs)
                results[topology, outputs] = circuit.evaluate(xs, modulus=P)
        seq = results["sequential", "all"]
        for (topology, outputs), got in results.items():
            want = seq if outputs == "all" else seq[:, -1]
            np.testing.assert_array_equal(got, want, err_msg=f"{topology} {outputs} n={n}")
        # and the sequential circuit against the gate-by-gate Python-integer oracle
        circuit = rc.compile(model, n, topology="sequential")
        values, _ = circuit.check_inputs(xs)
        if all(float(c).is_integer() for c in circuit.consts):
            np.testing.assert_array_equal(
                seq.reshape(5, -1), exact_oracle(circuit, values.astype(np.int64), P))


def test_float_run_agrees_with_residues_on_small_integers():
    """Small integer data: float64 is exact too, so its values reduce to the residues."""
    model = poly_diagonal
    xs = np.random.default_rng(1).integers(-3, 4, size=(2, 5, K))
    circuit = rc.compile(model, 5)
    exact = circuit.evaluate(xs, modulus=P)
    floats = model.run(xs)
    np.testing.assert_array_equal(residues(floats, P, "h"), exact)


def test_nonpolynomial_ops_are_refused():
    circuit = rc.compile(example("gru"), 3)
    xs = np.zeros((3, 8), dtype=np.int64)
    with pytest.raises(ModulusError, match="add, sub, mul and neg only.*sigmoid"):
        circuit.evaluate(xs, modulus=P)


@pytest.mark.parametrize("p", [4, 2**31 + 11, 1, 2**61 - 1, 2])
def test_bad_moduli(p):
    circuit = rc.compile(poly_diagonal, 2)
    with pytest.raises(OptionError, match="prime"):
        circuit.evaluate(np.zeros((2, K), dtype=np.int64), modulus=p)


def test_alphabet_model_mod_p():
    model = example("parity")  # one-hot permutations: 0/1 matrices
    circuit = rc.compile(model, 9, topology="sequential")
    xs = np.random.default_rng(2).integers(0, 2, size=(4, 9))
    np.testing.assert_array_equal(circuit.evaluate(xs, dtype="int64"),
                                  model.run(xs).astype(np.int64))
    # a prefix lowering multiplies the 2 x 2 one-hot matrices densely (fewer levels and gates
    # than composing them as permutations): exact mod p
    np.testing.assert_array_equal(
        rc.compile(model, 9, topology="brent-kung").evaluate(xs, dtype="int64"),
        model.run(xs).astype(np.int64))
    # composed as permutations it compares symbols (comparison and select gates): refused,
    # with the ops named
    from rnncirc.lower.linear import lower_form

    permutations = lower_form(model, rc.classify(model), 9, "brent-kung")
    with pytest.raises(ModulusError, match=r"this circuit has [a-z]+"):
        permutations.evaluate(xs, dtype="int64")


def test_a_constant_folded_past_2_to_the_53_is_refused_not_rounded():
    # a constant integer A: the prefix network folds its powers in float64, and A^64 is far
    # past 2^53, so the folded constants are rounded; mod p would reduce the rounded values
    w = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 2.0], [2.0, 0.0, 1.0]])

    @rc.rnn(state=3, inputs=1)
    def growing(h, x):
        return w @ h + x

    xs = np.ones((1, 128, 1))
    circuit = rc.compile(growing, 128, topology="sklansky")
    assert np.abs(circuit.consts).max() >= 2.0**53
    with pytest.raises(RnncircError, match="float64 rounds.*--topology sequential"):
        circuit.evaluate(xs, modulus=1_000_003)
    with pytest.raises(ModulusError, match="past 2\\^53.*--topology sequential"):
        constant_residues(circuit.consts, 1_000_003)  # the evaluator's own guard
    unrolled = rc.compile(growing, 128, topology="sequential")  # folds no powers of w
    exact = unrolled.evaluate(xs, modulus=1_000_003)
    h, want = np.zeros(3, dtype=object), []
    for _ in range(128):
        h = np.array([sum(int(w[i, j]) * h[j] for j in range(3)) + 1 for i in range(3)],
                     dtype=object)
        want.append([int(v) % 1_000_003 for v in h])
    np.testing.assert_array_equal(exact[0], np.array(want, dtype=np.int64))


def test_powers_of_a_constant_rounded_in_float64_are_refused_not_reduced():
    # 0.9 * 0.9 is rounded in float64: a prefix circuit that folded it would be exact for
    # other constants than the model's, so exact and modular evaluation refuse it
    @rc.rnn(state=1, inputs=1)
    def decaying(h, x):
        return 0.9 * h + x

    xs = np.arange(1.0, 9.0).reshape(1, 8, 1)
    folded = rc.compile(decaying, 8, topology="sklansky")
    for how in ({"modulus": 1_000_003}, {"exact": True}):
        with pytest.raises(RnncircError, match="float64 rounds.*--topology sequential"):
            folded.evaluate(xs, **how)
    want, h = [], Fraction(0)
    for x in range(1, 9):
        h = Fraction(0.9) * h + x
        want.append(h)
    unrolled = rc.compile(decaying, 8, topology="sequential")
    assert unrolled.evaluate(xs, exact=True).ravel().tolist() == want
    np.testing.assert_allclose(folded.evaluate(xs).ravel(), [float(v) for v in want],
                               rtol=1e-15)
    halving = rc.compile(rc.rnn(state=1, inputs=1)(lambda h, x: 0.5 * h + x), 8,
                         topology="sklansky")  # powers of 1/2 are exact: nothing refused
    assert halving.evaluate(xs, exact=True).ravel()[-1] == sum(
        Fraction(1, 2) ** (8 - x) * x for x in range(1, 9))
