"""The AND/XOR graph: folding, structural hashing, compaction, levels, XOR expansion."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncirc.ir.aig import AND, FALSE, TRUE, XOR, AigBuilder, BooleanCircuit


def all_bits(count: int) -> np.ndarray:
    return np.array(list(itertools.product((0, 1), repeat=count)), dtype=np.uint8)


def naive_eval(circuit: BooleanCircuit, bits: np.ndarray) -> np.ndarray:
    """Node-by-node numpy evaluation: the plain oracle for the bit-parallel kernel."""
    values = np.zeros((circuit.num_nodes, len(bits)), dtype=bool)
    values[1:circuit.num_inputs + 1] = bits.T.astype(bool)

    def lit(x):
        return values[x >> 1] ^ bool(x & 1)

    for node in range(circuit.num_inputs + 1, circuit.num_nodes):
        x, y = lit(circuit.a[node]), lit(circuit.b[node])
        values[node] = (x & y) if circuit.kinds[node] == AND else (x ^ y)
    out = np.stack([lit(o) for o in circuit.outputs.ravel()], axis=1) \
        if circuit.outputs.size else np.zeros((len(bits), 0), bool)
    return out.astype(np.uint8)


def test_folding_rules():
    aig = AigBuilder()
    x, y = aig.inputs(2)
    cases = {
        "x&0": (aig.and_(x, FALSE), FALSE), "x&1": (aig.and_(x, TRUE), x),
        "x&x": (aig.and_(x, x), x), "x&~x": (aig.and_(x, x ^ 1), FALSE),
        "x^0": (aig.xor(x, FALSE), x), "x^1": (aig.xor(x, TRUE), x ^ 1),
        "x^x": (aig.xor(x, x), FALSE), "x^~x": (aig.xor(x, x ^ 1), TRUE),
    }
    for name, (got, want) in cases.items():
        assert int(got) == want, name
    assert aig.count == 3  # constant and two inputs: no gate was made


def test_structural_hashing_and_canonical_forms():
    aig = AigBuilder()
    x, y = aig.inputs(2)
    g = aig.and_(x, y)
    assert aig.and_(y, x) == g  # commuted operands: the same node
    assert aig.and_(np.array([x, y, x]), np.array([y, x, y])).tolist() == [g] * 3
    h = aig.xor(x, y)
    assert aig.xor(x ^ 1, y) == h ^ 1 == aig.xor(x, y ^ 1)  # the complement moves outside
    assert aig.xor(x ^ 1, y ^ 1) == h
    assert aig.count == 5
    assert aig.kinds[h >> 1] == XOR and not (aig.lhs[h >> 1] & 1) and not (aig.rhs[h >> 1] & 1)


def test_growth_and_rehash_keep_hashing():
    aig = AigBuilder(capacity=8)
    xs = aig.inputs(64)
    pairs = np.array(list(itertools.combinations(range(64), 2)))
    first = aig.and_(xs[pairs[:, 0]], xs[pairs[:, 1]])
    again = aig.and_(xs[pairs[:, 1]], xs[pairs[:, 0]])
    assert np.array_equal(first, again)
    assert aig.count == 1 + 64 + len(pairs)


def test_inputs_must_come_first():
    aig = AigBuilder()
    x, y = aig.inputs(2)
    aig.and_(x, y)
    with pytest.raises(AssertionError):
        aig.inputs(1)


def random_circuit(seed: int, inputs: int = 4, gates: int = 30, outputs: int = 5):
    rng = np.random.default_rng(seed)
    aig = AigBuilder()
    lits = list(aig.inputs(inputs))
    for _ in range(gates):
        x, y = (int(lits[i]) ^ int(rng.integers(2)) for i in rng.integers(len(lits), size=2))
        lits.append(int(aig.xor(x, y) if rng.random() < 0.4 else aig.and_(x, y)))
    chosen = np.array(lits)[rng.integers(len(lits), size=outputs)] ^ rng.integers(2, size=outputs)
    return aig.finish(chosen)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6))
def test_compaction_and_xor_expansion_preserve_the_function(seed):
    circuit = random_circuit(seed)
    circuit.verify()
    bits = all_bits(circuit.num_inputs)
    want = naive_eval(circuit, bits)
    assert np.array_equal(circuit.evaluate_bits(bits), want)
    aig = circuit.aig()
    aig.verify()
    assert aig.xor_count == 0
    assert np.array_equal(naive_eval(aig, bits), want)
    # each XOR costs two AND levels in the AIG: the AIG depth is the (1, 2)-weighted depth
    assert aig.depth == circuit._depth(1, 2)


def test_levels_match_networkx_longest_path():
    circuit = random_circuit(3, inputs=6, gates=200, outputs=10)
    graph = nx.DiGraph()
    for node in np.flatnonzero(circuit.kinds >= AND).tolist():
        for operand in (circuit.a[node] >> 1, circuit.b[node] >> 1):
            graph.add_edge(int(operand), node)
    levels = circuit.levels()
    for node in graph.nodes:
        longest = max((levels[p] for p in graph.predecessors(node)), default=-1) + 1
        assert levels[node] == longest
    # depth counts gates on the longest path into an output
    outputs = circuit.outputs.ravel() >> 1
    deepest = int(outputs[np.argmax(levels[outputs])])
    cone = graph.subgraph(nx.ancestors(graph, deepest) | {deepest})
    assert nx.dag_longest_path_length(cone) == circuit.depth


def test_dead_gates_are_dropped_and_inputs_kept():
    aig = AigBuilder()
    x, y, z = aig.inputs(3)
    aig.and_(x, y)  # dead
    keep = aig.xor(y, z)
    circuit = aig.finish(np.array([keep ^ 1, TRUE]))
    assert circuit.num_inputs == 3 and circuit.size == 1 and circuit.xor_count == 1
    assert circuit.depth == 1 and circuit.and_depth == 0
    assert circuit.width_per_level.tolist() == [1]
    assert circuit.ands_per_and_level.tolist() == []
