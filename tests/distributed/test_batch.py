"""Batch sharding (`Circuit.evaluate(client=...)`): bit-equal to local evaluation."""

from __future__ import annotations

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.eval.distributed import SchedulerError, evaluation_bytes, shard_bounds

from ..models import LINEAR, nonlinear, random_inputs
from .conftest import WORKER_MEMORY
from .ring_models import RING, ring_program

MODELS = {name: LINEAR[name][0] for name in ("diagonal", "permutation", "symbol_permutation",
                                             "dplr", "deltanet", "dense")}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_batch_sharding_is_bit_equal(client, name):
    model = MODELS[name]
    circuit = rc.compile(model, 13)
    xs = random_inputs(model, 13, batch=5, seed=1)
    np.testing.assert_array_equal(circuit.evaluate(xs, client=client), circuit.evaluate(xs))


def test_unbatched_last_float32_and_nonlinear(client):
    for model, outputs in ((nonlinear, "all"), (MODELS["dense"], "last")):
        circuit = rc.compile(model, 9, outputs=outputs)
        xs = random_inputs(model, 9, batch=1, seed=2)[0]
        for dtype in ("float64", "float32"):
            got = circuit.evaluate(xs, client=client, dtype=dtype)
            assert got.shape == circuit.evaluate(xs).shape
            np.testing.assert_array_equal(got, circuit.evaluate(xs, dtype=dtype))


@pytest.mark.parametrize("model", [*RING.values(), ring_program], ids=lambda m: m.name)
def test_batch_sharding_mod_p(client, model):
    circuit = rc.compile(model, 11)
    xs = random_inputs(model, 11, batch=3, seed=4)
    got = circuit.evaluate(xs, client=client, modulus=1_000_003)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, circuit.evaluate(xs, modulus=1_000_003))


def test_shards_follow_the_worker_memory(client):
    # a batch whose evaluation needs more than half a worker's limit is cut into more shards
    # than there are workers, and still comes back whole and in order
    model = MODELS["diagonal"]
    circuit = rc.compile(model, 400, topology="kogge-stone")
    per_lane, fixed = evaluation_bytes(circuit)
    batch = int(2 * WORKER_MEMORY / per_lane)
    bounds = shard_bounds(batch, per_lane, fixed, WORKER_MEMORY, 2)
    assert len(bounds) - 1 > 2
    assert np.diff(bounds).max() * per_lane + fixed <= WORKER_MEMORY / 2
    xs = random_inputs(model, 400, batch=batch, seed=5)
    np.testing.assert_array_equal(circuit.evaluate(xs, client=client), circuit.evaluate(xs))


def test_shard_bounds():
    assert shard_bounds(10, 100, 0, None, 3).tolist() == [0, 3, 7, 10]
    assert shard_bounds(2, 100, 0, None, 4).tolist() == [0, 1, 2]
    assert len(shard_bounds(100, 1000, 0, 20_000, 2)) - 1 == 10
    with pytest.raises(SchedulerError, match="more than half of a worker's memory limit"):
        shard_bounds(4, 1000, 9500, 20_000, 2)


def test_bad_inputs_are_reported_before_shipping(client):
    circuit = rc.compile(MODELS["diagonal"], 5)
    with pytest.raises(rc.RnncircError, match="compiled for length 5"):
        circuit.evaluate(np.zeros((2, 4, 3)), client=client)
    for wrong in ({"method": "reference"}, {"exact": True}):
        with pytest.raises(rc.RnncircError, match="runs the fast evaluator"):
            circuit.evaluate(np.zeros((5, 3)), client=client, **wrong)
