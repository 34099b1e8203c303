"""Independent parts of a circuit run by separate threads (`output_parts`, mode "parts")."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import rnncirc as rc
from rnncirc.eval import fast, modular
from rnncirc.eval.fast import Evaluator, get_schedule
from rnncirc.eval.schedule import output_parts
from rnncirc.ir.reference import evaluate_reference

from ..models import LINEAR

D = 6


@rc.rnn(state=D, inputs=2 * D)
def scan(h, x):
    """D independent scalar scans (add and mul only: exact modulo p too)."""
    return x[:D] * h + x[D:]


def inputs(circuit, batch, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.uniform(0.5, 1.0, size=(batch, circuit.info.length, circuit.info.input_size))
    return circuit.check_inputs(xs)[0]


@pytest.mark.parametrize("topology", ["sequential", "brent-kung", "ladner-fischer"])
@pytest.mark.parametrize("n_parts", [2, 3])
def test_a_diagonal_scan_splits_into_disjoint_even_parts(topology, n_parts):
    circuit = rc.compile(scan, 40, topology=topology)
    parts = output_parts(circuit, n_parts)
    assert parts is not None and len(parts) == n_parts
    every = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(every, np.arange(circuit.outputs.size))
    schedules = fast.get_part_schedules(circuit, n_parts)
    gates = [s.n_gates for s in schedules]
    # no gate is computed twice, and no part does more than its share of whole channels
    assert sum(gates) == get_schedule(circuit).n_gates
    assert max(gates) <= -(-D // n_parts) * get_schedule(circuit).n_gates / D


def test_one_component_does_not_split():
    for name in ("dense", "dplr"):  # every channel reads every other one
        circuit = rc.compile(LINEAR[name][0], 16, topology="brent-kung")
        assert output_parts(circuit, 2) is None
    # a fixed permutation only moves values along: h_t[i] reads h_{t-1}[pi(i)], so the
    # circuit is as many separate chains as the cycle has positions, and it does split
    circuit = rc.compile(LINEAR["permutation"][0], 16, topology="brent-kung")
    assert len(output_parts(circuit, 2)) == 2
    assert output_parts(rc.compile(scan, 16), 1) is None


@pytest.fixture
def two_threads(monkeypatch):
    """Plan for two threads and split circuits of any size (the split itself uses Python
    threads, so this runs the real path on a one-core machine too)."""
    monkeypatch.setattr(fast, "PARTS_MIN_GATES", 0)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("batch", [1, 3, 8])
def test_parts_mode_is_bit_exact_with_one_thread(two_threads, dtype, batch):
    circuit = rc.compile(scan, 33, topology="ladner-fischer")
    values = inputs(circuit, batch, seed=batch)
    if dtype == "int64":
        values = modular.residues(values, modular.DEFAULT_MODULUS, "an input")
    X = np.ascontiguousarray(values.T.astype(dtype))
    split = Evaluator(circuit, dtype=dtype)
    assert split.plan(batch)[0] == "parts"
    whole = Evaluator(circuit, dtype=dtype, schedule=get_schedule(circuit))  # never split
    assert whole.plan(batch)[0] != "parts"
    np.testing.assert_array_equal(split.run(X), whole.run(X))
    if dtype == "float64":
        np.testing.assert_allclose(split.run(X).T, evaluate_reference(circuit, values).reshape(
            batch, -1), rtol=1e-12)


def test_parts_mode_end_to_end(two_threads):
    model = LINEAR["diagonal"][0]  # exp/softplus gates, a shared input projection
    circuit = rc.compile(model, 24, topology="brent-kung")
    xs = np.random.default_rng(1).normal(size=(5, 24, model.input_size))
    assert Evaluator(circuit).plan(5)[0] == "parts"
    np.testing.assert_allclose(circuit.evaluate(xs), model.run(xs), rtol=1e-9, atol=1e-9)
    stats = Evaluator(circuit).stats(5, mode="parts", threads=2)
    assert stats.n_regs == sum(s.n_regs for s in fast.get_part_schedules(circuit, 2))


def test_parts_mode_progress_reaches_the_end(two_threads):
    circuit = rc.compile(scan, 64, topology="brent-kung")
    values = inputs(circuit, 2)
    calls = []
    got = fast.evaluate_fast(circuit, values, segment_gates=50,
                             progress=lambda done, total: calls.append((done, total)))
    total = sum(s.n_gates for s in fast.get_part_schedules(circuit, 2))
    assert len(calls) > 2 and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    np.testing.assert_allclose(got, evaluate_reference(circuit, values),
                               rtol=1e-12)


def test_parts_mode_stops_when_interrupted(two_threads):
    """An exception in one part (here from the progress callback, as Ctrl-C would arrive)
    reaches the caller, and the other part stops at its next segment."""
    circuit = rc.compile(scan, 64, topology="brent-kung")
    values = inputs(circuit, 2)
    calls = []

    def progress(done, total):
        calls.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fast.evaluate_fast(circuit, values, segment_gates=20, progress=progress)
    segments = sum(len(fast._split_segments([("serial", 0, s.n_levels)], s, 20))
                   for s in fast.get_part_schedules(circuit, 2))
    assert 1 <= len(calls) <= 2 < segments
