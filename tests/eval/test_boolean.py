"""The bit-parallel evaluator: packing, blocks and threads, against a node-by-node oracle."""

from __future__ import annotations

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.eval.boolean import (
    encode,
    pack_bits,
    simulate_packed,
    simulate_words,
    unpack_bits,
)
from rnncirc.lower.boolean import evaluate_int, to_boolean

from ..ir.test_aig import naive_eval, random_circuit
from ..models import LINEAR


@pytest.mark.parametrize("batch", [1, 63, 64, 65, 1000])
def test_pack_unpack_round_trip(batch):
    bits = np.random.default_rng(batch).integers(0, 2, size=(batch, 7), dtype=np.uint8)
    words = pack_bits(bits)
    assert words.shape == (7, -(-batch // 64)) and words.dtype == np.uint64
    assert np.array_equal(unpack_bits(words, batch), bits)
    assert int(words[0, 0]) & 1 == bits[0, 0]  # vector 0 in the lowest bit


@pytest.mark.parametrize("batch", [1, 100, 3000])
def test_simulation_matches_the_node_by_node_oracle(batch):
    circuit = random_circuit(5, inputs=9, gates=400, outputs=20)
    bits = np.random.default_rng(0).integers(0, 2, size=(batch, 9), dtype=np.uint8)
    assert np.array_equal(circuit.evaluate_bits(bits), naive_eval(circuit, bits))


def test_blocks_of_any_size_agree():
    circuit = random_circuit(6, inputs=8, gates=300, outputs=12)
    words = pack_bits(np.random.default_rng(1).integers(0, 2, size=(64 * 37, 8)))
    want = simulate_packed(circuit, words)
    for block in (1, 3, 64):
        got = simulate_words(circuit.kinds, circuit.a, circuit.b, circuit.num_inputs, words,
                             circuit.outputs.ravel(), block)
        assert np.array_equal(got, want)


def test_evaluate_agrees_with_the_integer_reference_on_many_inputs():
    model = LINEAR["diagonal"][0]
    circuit = rc.compile(model, 6)
    bc = to_boolean(circuit, 10, frac_bits=4)
    xs = np.random.default_rng(2).integers(-512, 512, size=(5000, 6, model.input_size))
    assert np.array_equal(bc.evaluate(xs), evaluate_int(circuit, xs, 10, True, 4))


def test_encode_layout_is_step_input_bit():
    model = LINEAR["diagonal"][0]
    bc = to_boolean(rc.compile(model, 2), 4)
    xs = np.array([[1, 2, -1], [0, 0, 5]])
    bits, batched = encode(bc, xs)
    assert not batched and bits.shape == (1, 2 * 3 * 4)
    assert bits[0, :12].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1]
