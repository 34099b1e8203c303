"""Berkeley ABC checks our numbers and our equivalence claims from the outside.

1. ``strash; print_stats``: ABC's ``and`` and ``lev`` equal rnncirc's AND count and depth of
   the same circuit in AIG form (each XOR as the three ANDs the export writes).
2. ``cec``: the sequential and the prefix lowering of small LRNNs (w = 8, n = 8) are proved
   equivalent; a deliberately broken circuit gets a counterexample, which our evaluator
   confirms.

Alphabet models are compared with binary-coded symbols: every input pattern is then a valid
sequence of symbols (with one-hot bits, patterns that are not one-hot are no input at all, and
the two lowerings may legitimately differ on them).
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.compiler import compile_boolean
from rnncirc.export.boolean import write_circuit
from rnncirc.export.ports import input_bit_names, output_bit_names
from rnncirc.ir.aig import AND
from rnncirc.lower.boolean import to_boolean
from rnncirc.lower.boolean.words import ADDERS

from ..conftest import example
from ..models import LINEAR, nonlinear
from .abc_helper import balance_stats, cec, needs_abc, run_abc, strash_stats

pytestmark = needs_abc

A2 = np.array([[1.0, -1.0], [2.0, 1.0]])
B2 = np.array([[1.0, 0.0], [0.0, 5.0]])


@rc.rnn(state=2, alphabet=2)
def diagonal_symbols(h, x):
    """An input-dependent diagonal LRNN: real 8-bit multiplications on the state path."""
    return rc.lookup(A2, x) * h + rc.lookup(B2, x)


@pytest.mark.parametrize("adder", ADDERS)
def test_abc_counts_equal_ours_for_every_adder(tmp_path, adder):
    circuit = compile_boolean(LINEAR["diagonal"][0], 4, 8, frac_bits=3, adder=adder)
    write_circuit(circuit, str(tmp_path / "c.aig"))
    found = strash_stats("c.aig", str(tmp_path))
    aig = circuit.aig()
    assert (found["and"], found["lev"]) == (aig.and_count, aig.depth)
    assert aig.depth == circuit._depth(1, 2)  # an XOR is two AIG levels


@pytest.mark.parametrize("case", ["parity-onehot", "nonlinear-lut", "wallace", "unsigned"])
def test_abc_counts_equal_ours_for_more_circuits(tmp_path, case):
    circuit = {
        "parity-onehot": lambda: compile_boolean(example("parity"), 8, 8, symbols="onehot"),
        "nonlinear-lut": lambda: compile_boolean(nonlinear, 3, 8, frac_bits=4),
        "wallace": lambda: compile_boolean(LINEAR["dense"][0], 3, 6, frac_bits=2,
                                           multiplier="wallace"),
        "unsigned": lambda: compile_boolean(LINEAR["scalar"][0], 3, 7, signed=False,
                                            frac_bits=3),
    }[case]()
    write_circuit(circuit, str(tmp_path / "c.blif"))
    found = strash_stats("c.blif", str(tmp_path))
    assert (found["and"], found["lev"]) == (circuit.aig().and_count, circuit.aig().depth)


def test_abc_balance_can_only_lower_the_depth(tmp_path):
    circuit = compile_boolean(LINEAR["diagonal"][0], 8, 8, frac_bits=3)
    write_circuit(circuit, str(tmp_path / "c.aig"))
    before, after = balance_stats("c.aig", str(tmp_path))
    assert before["lev"] == circuit.aig().depth
    assert after["lev"] <= before["lev"]


@pytest.mark.parametrize("model", ["parity", "diagonal_symbols"])
@pytest.mark.parametrize("topology", ["sklansky", "brent-kung", "kogge-stone"])
def test_cec_proves_sequential_and_prefix_lowerings_equal(tmp_path, model, topology):
    rnn = example("parity") if model == "parity" else diagonal_symbols
    sequential = compile_boolean(rnn, 8, 8, "sequential", symbols="binary")
    parallel = compile_boolean(rnn, 8, 8, topology, symbols="binary")
    assert parallel.and_depth < sequential.and_depth
    write_circuit(sequential, str(tmp_path / "s.blif"))
    write_circuit(parallel, str(tmp_path / "p.aig"))
    assert cec("s.blif", "p.aig", str(tmp_path))


def break_one_gate(circuit):
    """Complement one AND operand, choosing a gate whose change some input pattern shows."""
    bits = np.array(list(itertools.product((0, 1), repeat=circuit.num_inputs)))
    want = circuit.evaluate_bits(bits)
    ands = np.flatnonzero(circuit.kinds == AND)
    for gate in ands[len(ands) // 2:]:
        a = circuit.a.copy()
        a[gate] ^= 1
        broken = dataclasses.replace(circuit, a=a)
        if not np.array_equal(broken.evaluate_bits(bits), want):
            return broken
    raise AssertionError("no observable gate")


def test_cec_finds_a_real_counterexample_for_a_broken_circuit(tmp_path):
    # (parity's prefix circuit is all XOR: sorting networks over two keys fold to it)
    rnn = diagonal_symbols
    sequential = compile_boolean(rnn, 8, 8, "sequential", symbols="binary")
    broken = break_one_gate(compile_boolean(rnn, 8, 8, "sklansky", symbols="binary"))
    write_circuit(sequential, str(tmp_path / "s.blif"))
    write_circuit(broken, str(tmp_path / "b.blif"))
    output = run_abc("read s.blif; cec b.blif", str(tmp_path))
    assert "NOT EQUIVALENT" in output
    # replay ABC's counterexample (unlisted inputs are free: set them to 0) on our evaluator
    pattern = dict(re.findall(r"(\S+)=([01])", output.split("Input pattern:")[1]))
    names = input_bit_names(sequential)
    bits = np.array([[int(pattern.get(name, 0)) for name in names]])
    failing = re.search(r"Output (\S+): Value in Network1", output).group(1)
    index = output_bit_names(sequential).index(failing)
    assert sequential.evaluate_bits(bits)[0, index] != broken.evaluate_bits(bits)[0, index]


def test_one_hot_lowerings_differ_only_on_patterns_that_are_no_symbols(tmp_path):
    from rnncirc.lower.linear import lower_form

    rnn = example("parity")  # composed as permutations: the prefix circuit compares symbols
    circuits = {"sequential": compile_boolean(rnn, 4, 8, "sequential", symbols="onehot"),
                "sklansky": to_boolean(lower_form(rnn, rc.classify(rnn), 4, "sklansky"), 8,
                                       symbols="onehot")}
    for topology, circuit in circuits.items():
        write_circuit(circuit, str(tmp_path / f"{topology}.blif"))
    output = run_abc("read sequential.blif; cec sklansky.blif", str(tmp_path))
    pattern = dict(re.findall(r"(\S+)=([01])", output.split("Input pattern:")[1]))
    bits = np.array([int(pattern.get(name, 0)) for name in input_bit_names(circuits["sklansky"])])
    assert np.any(bits.reshape(4, 2).sum(axis=1) != 1)  # some step is not a valid one-hot


def test_cec_equivalence_of_adders_inside_one_model(tmp_path):
    model = LINEAR["symbol_permutation"][0]
    circuit = rc.compile(model, 8)
    for adder in ("ripple", "kogge-stone"):
        write_circuit(to_boolean(circuit, 8, adder=adder, symbols="binary"),
                      str(tmp_path / f"{adder}.aig"))
    assert cec("ripple.aig", "kogge-stone.aig", str(tmp_path))
