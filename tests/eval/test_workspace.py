"""One buffer for inputs, outputs and registers: input rows in feature blocks, workspaces
reused across evaluations, and memory refused up front."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.errors import CircuitTooLargeError
from rnncirc.eval.fast import Evaluator, evaluate_fast, get_schedule
from rnncirc.eval.schedule import ScheduleOptions, input_block, input_rows
from rnncirc.ir.reference import evaluate_reference

from ..models import LINEAR, K
from .test_parts import inputs as values_for

D = 20  # 2D = 40 input features: a block of 32 and one of 8


@rc.rnn(state=D, inputs=2 * D)
def scan(h, x):
    return x[:D] * h + x[D:]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(n=st.integers(1, 40), k=st.integers(1, 80), block=st.sampled_from([1, 3, 8, 32]))
def test_input_rows_are_time_major_blocks_of_features(n, k, block):
    rows = input_rows((n, k), block).reshape(n, k)
    assert sorted(rows.ravel().tolist()) == list(range(n * k))  # a permutation
    for b0 in range(0, k, block):
        width = min(block, k - b0)
        region = rows[:, b0:b0 + width]
        # a block is one run of rows: step after step, its features side by side
        np.testing.assert_array_equal(region.ravel(), region[0, 0] + np.arange(n * width))
        assert region[0, 0] == b0 * n


@pytest.mark.parametrize("K,block", [(128, 32), (272, 16), (64, 32), (48, 16), (8, 32),
                                     (40, 32), (1, 32)])
def test_input_blocks_divide_the_feature_groups(K, block):
    """Blocks of 32 features, or 16 where K is a multiple of 16 but not of 32 (a 16x16
    matrix and a 16-vector a step), so no block holds parts of two groups of 16."""
    assert input_block(K) == block
    np.testing.assert_array_equal(input_rows((5, K)), input_rows((5, K), block))


def test_input_rows_of_flat_inputs_are_the_slots():
    np.testing.assert_array_equal(input_rows((5,)), np.arange(5))


@pytest.mark.parametrize("topology", ["sequential", "brent-kung", "ladner-fischer"])
def test_runs_across_feature_blocks_match_reference(topology):
    """Affine runs of 20 channels cut by the 32-feature block edge still evaluate right."""
    circuit = rc.compile(scan, 33, topology=topology)
    values = values_for(circuit, 5)
    expected = evaluate_reference(circuit, values)
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-5)):
        got = Evaluator(circuit, dtype=dtype).run(np.ascontiguousarray(values.T.astype(dtype)))
        np.testing.assert_allclose(got.T, expected.reshape(5, -1), rtol=rtol)


@rc.rnn(state=4, inputs=20)
def matrix_scan(h, x):  # 4x4 matrix and a 4-vector a step, as dense models have them
    return x[:16].reshape(4, 4) @ h + x[16:]


def test_half_size_input_blocks_evaluate_right():
    """Blocks of half `ScheduleOptions.input_block`, one matrix row each (as 16 of the 272
    features of a 16x16 dense model), shrunk to this model: with blocks of 8, its 20 features
    (a multiple of 4, not of 8) go in blocks of 4; the gates must read them where they are."""
    options = ScheduleOptions(input_block=8)
    assert input_block(20, options) == 4 and input_block(24, options) == 8
    circuit = rc.compile(matrix_scan, 21, topology="brent-kung")
    assert get_schedule(circuit, options).slot_row[:20].tolist() != list(range(20))
    xs = np.random.default_rng(3).normal(size=(6, 21, 20)) * 0.5
    expected = matrix_scan.run(xs)
    values, _ = circuit.check_inputs(xs)
    for dtype, rtol in (("float64", 1e-12), ("float32", 1e-4)):
        np.testing.assert_allclose(evaluate_fast(circuit, values, dtype=dtype, options=options),
                                   expected, rtol=rtol, atol=rtol)


def test_workspace_is_reused_and_outputs_are_a_view():
    circuit = rc.compile(scan, 17, topology="brent-kung")
    evaluator = Evaluator(circuit)
    ws = evaluator.workspace(3)
    results = []
    for seed in (1, 2):
        values = values_for(circuit, 3, seed)
        evaluator.fill(ws, values)
        out = evaluator.evaluate(ws)
        assert out is ws.outputs and np.shares_memory(out, ws.V)
        np.testing.assert_allclose(out.T, evaluate_reference(circuit, values).reshape(3, -1),
                                   rtol=1e-12)
        results.append(out.copy())
    assert not np.array_equal(results[0], results[1])


def test_lanes_workspace_reads_and_writes_the_callers_arrays():
    if numba.get_num_threads() < 2:
        pytest.skip("needs two threads")
    circuit = rc.compile(scan, 9)
    evaluator = Evaluator(circuit)
    values = values_for(circuit, 16)
    X = np.ascontiguousarray(values.T)
    out = np.empty((circuit.outputs.size, 16))
    ws = evaluator.workspace(16, X, out)
    assert ws.mode == "lanes" and ws.inputs is X and ws.outputs is out
    evaluator.evaluate(ws)
    np.testing.assert_allclose(out.T, evaluate_reference(circuit, values).reshape(16, -1),
                               rtol=1e-12)


def test_part_registers_do_not_overlap():
    from rnncirc.eval.fast import get_part_schedules

    circuit = rc.compile(scan, 64, topology="brent-kung")
    parts = get_part_schedules(circuit, 2)
    assert parts is not None
    whole = get_schedule(circuit)
    assert parts[0].work_base >= whole.out_base + whole.n_outputs
    assert parts[1].work_base >= parts[0].n_rows(1)
    assert parts[1].work_base % 8 == 0


def test_a_batch_too_big_for_memory_is_refused_with_the_estimate(monkeypatch):
    import rnncirc.ir.memory as memory

    circuit = rc.compile(scan, 8)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    with pytest.raises(CircuitTooLargeError, match=r"evaluating a batch of .* would need "
                                                   r"about .* MiB of memory"):
        circuit.evaluate(np.ones((4096, 8, 2 * D)))


def test_public_evaluator_and_named_inputs():
    circuit = rc.compile(LINEAR["diagonal"][0], 5)
    xs = np.random.default_rng(0).normal(size=(3, 5, K))
    checked = circuit.check_inputs(xs)
    assert checked.batched and checked.values.shape == (3, 5 * K)
    values, batched = checked  # still unpacks as a pair
    evaluator = rc.Evaluator(circuit)
    ws = evaluator.workspace(3)
    evaluator.fill(ws, checked.values)
    got = evaluator.evaluate(ws).T.reshape((3,) + circuit.outputs.shape)
    np.testing.assert_allclose(got, circuit.evaluate(xs), rtol=0, atol=0)
