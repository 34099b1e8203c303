"""Multiplicative depth, non-constant multiplications and depth per op: hand cases, and the
Numba scans against a plain Python walk and networkx longest paths on real circuits."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import rnncirc as rc
from rnncirc.analyze.counts import (
    counts_summary,
    depth_per_op,
    multiplicative_depth,
    multiplicative_scan,
    nonconstant_multiplications,
)
from rnncirc.ir.ops import ARITY, OP_NAMES, Op

from ..conftest import example
from ..models import LINEAR, nonlinear


def _oracle(circuit) -> tuple[int, int, dict[str, int]]:
    """The three counts by an obviously correct Python walk (small circuits only)."""
    op, a, b, c = circuit.op, circuit.a, circuit.b, circuit.c
    variable, mlevel, costly = {}, {}, 0
    for i in range(len(op)):
        k = ARITY[op[i]]
        if k == 0:
            variable[i], mlevel[i] = op[i] == Op.INPUT, 0
            continue
        args = [int(x) for x in (a[i], b[i], c[i])[:k]]
        v = [variable[x] for x in args]
        costs = (op[i] == Op.MUL and v[0] and v[1]) or (op[i] == Op.DIV and v[1]) or \
            (op[i] == Op.SELECT and v[0] and (v[1] or v[2]))
        costly += bool(costs)
        variable[i] = any(v)
        mlevel[i] = max(mlevel[x] for x in args) + bool(costs)
    outs = [int(o) for o in circuit.outputs.ravel()]
    graph = nx.DiGraph()
    for i in range(len(op)):
        graph.add_node(i)
        for x in (a[i], b[i], c[i])[:ARITY[op[i]]]:
            graph.add_edge(int(x), i)
    per_op = {}
    for code in sorted(set(int(o) for o in op if ARITY[o] > 0)):
        best = dict.fromkeys(graph.nodes, 0)
        for i in nx.topological_sort(graph):
            preds = [best[p] for p in graph.predecessors(i)]
            best[i] = (max(preds) if preds else 0) + (op[i] == code)
        per_op[OP_NAMES[code]] = max(best[o] for o in outs)
    return max(mlevel[o] for o in outs), costly, per_op


@rc.rnn(state=1, inputs=1)
def product(h, x):
    return 0.5 * h * x + x


def test_hand_counts_of_a_product_chain():
    # h_1 = x_1 (h_0 = 0 folds); each later step multiplies the state by the input once
    for n in (1, 2, 5, 9):
        circuit = rc.compile(product, n, topology="sequential")
        assert multiplicative_depth(circuit) == n - 1
        assert nonconstant_multiplications(circuit) == n - 1


def test_constant_products_are_free():
    @rc.rnn(state=3, inputs=2)
    def affine(h, x):
        return np.full((3, 3), 0.3) @ h + np.ones((3, 2)) @ x * 2.0

    circuit = rc.compile(affine, 6, topology="sequential")
    assert circuit.op_counts.get("mul", 0) > 0
    assert multiplicative_depth(circuit) == 0
    assert nonconstant_multiplications(circuit) == 0


def test_division_and_select_rules():
    @rc.rnn(state=1, inputs=2)
    def ratio(h, x):
        return h / (1.0 + x[0] * x[0]) + x[1] / 4.0

    circuit = rc.compile(ratio, 3, topology="sequential")
    # per step: x0*x0 (1) and the division by it (1); the division by 4 is a constant product
    assert nonconstant_multiplications(circuit) == 6
    assert multiplicative_depth(circuit) == 2 + 2  # h_1 = x1/4: free; then 2 per step

    @rc.rnn(state=1, inputs=2)
    def choose(h, x):
        return rc.where(x[0] > 0, h, x[1]) + rc.where(x[1] > 0, 1.0, 2.0)

    circuit = rc.compile(choose, 3, topology="sequential")
    assert nonconstant_multiplications(circuit) == _oracle(circuit)[1]
    assert circuit.op_counts["select"] >= 3
    # where(c, 1.0, 2.0) has constant branches: no product; where(c, h, x) costs one
    assert nonconstant_multiplications(circuit) == 3


CASES = [("scalar", 7, "auto"), ("diagonal", 9, "auto"), ("symbol_permutation", 6, "auto"),
         ("dplr", 6, "kogge-stone"), ("deltanet", 5, "auto"), ("dense", 5, "brent-kung"),
         ("permutation", 8, "sequential")]


@pytest.mark.parametrize("name,n,topology", CASES)
def test_scans_match_the_python_oracle(name, n, topology):
    circuit = rc.compile(LINEAR[name][0], n, topology=topology)
    mdepth, mults, per_op = _oracle(circuit)
    assert multiplicative_depth(circuit) == mdepth
    assert nonconstant_multiplications(circuit) == mults
    assert depth_per_op(circuit) == per_op
    assert max(per_op.values()) <= circuit.depth


@pytest.mark.parametrize("name,n", [("gru", 2), ("lstm", 2), ("mamba", 5), ("parity", 9)])
def test_scans_on_examples(name, n):
    circuit = rc.compile(example(name), n)
    mdepth, mults, per_op = _oracle(circuit)
    summary = counts_summary(circuit)
    assert summary == {"multiplicative_depth": mdepth, "nonconstant_multiplications": mults,
                       "depth_per_op": per_op}


def test_depth_per_op_of_an_unrolled_tanh_chain():
    circuit = rc.compile(nonlinear, 12)
    per_op = depth_per_op(circuit)
    assert per_op["tanh"] == 11  # h_1 = W2 x_1 (no tanh); one tanh per later step
    assert set(per_op) == set(circuit.op_counts)


def test_multiplicative_scan_is_per_row():
    circuit = rc.compile(example("mamba"), 16)
    level, flag = multiplicative_scan(circuit)
    assert level.shape == flag.shape == circuit.op.shape
    assert not flag[ARITY[circuit.op] == 0].any()
    assert np.all(level <= circuit.levels)
    assert int(np.count_nonzero(flag)) == nonconstant_multiplications(circuit)
