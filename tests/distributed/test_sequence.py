"""Sequence sharding (`rc.evaluate_sharded`): the three-phase scan against one circuit."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import rnncirc as rc

from ..models import LINEAR, nonlinear, random_inputs
from .ring_models import RING, ring_backward, ring_program, ring_symbols

MODELS = {name: LINEAR[name][0] for name in ("diagonal", "permutation", "symbol_permutation",
                                             "dplr", "dense", "gated_matrix")}
P = 1_000_003
N = 23


@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_sequence_sharding_matches_one_circuit(client, name, chunks):
    model = MODELS[name]
    xs = random_inputs(model, N, batch=2, seed=chunks)
    done = rc.evaluate_sharded(model, xs, chunks=chunks, client=client)
    np.testing.assert_allclose(done.values, rc.compile(model, N).evaluate(xs), rtol=1e-12,
                               atol=1e-12)
    assert done.chunks == np.diff(np.linspace(0, N, chunks + 1).round()).astype(int).tolist()
    assert done.summary == {"diagonal": "diagonal", "permutation-diagonal":
                            "permutation-diagonal"}.get(rc.classify(model).kind, "dense")
    phases = {key: value for key, value in done.depth.items() if key != "total"}
    assert done.depth["total"] == sum(phases.values())
    if chunks > 1:  # each phase ran: its depth is counted
        assert min(phases.values()) >= 1


@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("name", sorted(RING))
def test_sequence_sharding_is_exact_mod_p(client, name, chunks):
    model = RING[name]
    xs = random_inputs(model, N, batch=2, seed=10 + chunks)
    for outputs in ("all", "last"):
        done = rc.evaluate_sharded(model, xs, chunks=chunks, client=client, modulus=P,
                                   outputs=outputs)
        want = rc.compile(model, N, outputs=outputs).evaluate(xs, modulus=P)
        assert done.values.dtype == np.int64
        np.testing.assert_array_equal(done.values, want)
    compact = {"merge": "permutation-diagonal", "permutation": "permutation-diagonal",
               "symbols": "permutation-diagonal", "diagonal": "diagonal",
               "symbol_diagonal": "diagonal"}
    assert done.summary == compact.get(name, "dense")


@pytest.mark.parametrize("chunks", [1, 2, 3, 7])
def test_two_layer_program(client, chunks):
    xs = random_inputs(ring_program, N, batch=2, seed=chunks)
    done = rc.evaluate_sharded(ring_program, xs, chunks=chunks, client=client)
    np.testing.assert_allclose(done.values, ring_program.run(xs), rtol=1e-10, atol=1e-10)
    exact = rc.evaluate_sharded(ring_program, xs, chunks=chunks, client=client, modulus=P)
    np.testing.assert_array_equal(exact.values,
                                  rc.compile(ring_program, N).evaluate(xs, modulus=P))
    # the second layer's A is 0.1 (sum of u) times the all-ones matrix: rank 1 by its values
    assert [layer["kind"] for layer in done.layers] == ["diagonal", "dplr"]
    # the program's depth covers both layers, phase after phase
    assert done.depth["total"] >= sum(layer["depth"]["total"] for layer in done.layers)


@pytest.mark.parametrize("program, chunks", [(ring_backward, 2), (ring_backward, 7),
                                             (ring_symbols, 1), (ring_symbols, 3)],
                         ids=["backward-2", "backward-7", "symbols-1", "symbols-3"])
def test_reverse_shift_and_alphabet_programs(client, program, chunks):
    # a reverse layer, a shift by more than a chunk, symbols; position-wise blocks as tasks
    xs = random_inputs(program, N, batch=2, seed=chunks)
    done = rc.evaluate_sharded(program, xs, chunks=chunks, client=client)
    np.testing.assert_allclose(done.values, program.run(xs), rtol=1e-10, atol=1e-10)
    exact = rc.evaluate_sharded(program, xs, chunks=chunks, client=client, modulus=P,
                                outputs="last")
    np.testing.assert_array_equal(exact.values, rc.compile(program, N, outputs="last")
                                  .evaluate(xs, modulus=P))


def test_gathering_every_state_must_fit_here(client, monkeypatch):
    from rnncirc.eval import sequence

    model, xs = MODELS["diagonal"], random_inputs(MODELS["diagonal"], 8, batch=3)
    monkeypatch.setattr(sequence, "available_memory", lambda: 1000)  # bytes
    for program in (model, ring_program):
        with pytest.raises(rc.RnncircError, match=r'outputs="all" gathers the 3 x 8 x [34] '
                           r"output values on this machine: .* ask for the last state"):
            rc.evaluate_sharded(program, random_inputs(program, 8, batch=3), chunks=2,
                                client=client)
    done = rc.evaluate_sharded(model, xs, chunks=2, client=client, outputs="last")
    assert done.values.shape == (3, 4)


def test_refusals(client):
    xs = random_inputs(nonlinear, 8, batch=1, seed=0)
    with pytest.raises(rc.RnncircError, match="sequence sharding needs linear recurrences, "
                       "but nonlinear"):
        rc.evaluate_sharded(nonlinear, xs, chunks=2, client=client)
    model = MODELS["diagonal"]  # exp and softplus gates: no residues mod p
    with pytest.raises(rc.RnncircError, match="modulo p .* diagonal has .*exp"):
        rc.evaluate_sharded(model, random_inputs(model, 8), chunks=2, client=client, modulus=P)
    with pytest.raises(rc.RnncircError, match="use more chunks than 1 or workers with more"):
        rc.evaluate_sharded(model, random_inputs(model, 30_000, batch=1), chunks=1,
                            client=client, topology="brent-kung")
    for chunks in (0, 9, 2.5):
        with pytest.raises(rc.RnncircError, match="chunks must be an integer from 1 to"):
            rc.evaluate_sharded(model, random_inputs(model, 8), chunks=chunks, client=client)


@rc.rnn(state=2, inputs=1)
def third(h, x):
    return Fraction(1, 3) * h + x * np.array([1.0, 2.0])


def test_a_circuit_that_divides_mod_p(client):
    # Fraction weights: the circuit divides, and is evaluated mod p by the exact evaluator
    xs = np.random.default_rng(0).integers(-5, 5, size=(3, 11, 1)).astype(float)
    want = rc.compile(third, 11).evaluate(xs, modulus=P)
    np.testing.assert_array_equal(rc.compile(third, 11).evaluate(xs, modulus=P, client=client),
                                  want)
    for chunks in (1, 3, 7):
        done = rc.evaluate_sharded(third, xs, chunks=chunks, client=client, modulus=P)
        np.testing.assert_array_equal(done.values, want)
