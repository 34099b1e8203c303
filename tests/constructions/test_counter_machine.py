"""rc.from_counter_machine (Lemma 3) and the connectivity machine (Lemma 2) against
networkx and a direct simulation of the machine."""

from __future__ import annotations

import itertools
import os
import sys

import networkx as nx
import numpy as np
import pytest

import rnncirc as rc
from rnncirc.errors import OptionError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import counter_connectivity as cc  # noqa: E402


def run_machine(move, start, accepts, counters: int, word) -> list[bool]:
    """Accepted after each prefix, by running the machine on Python integers."""
    q, c, out = start, [0] * counters, []
    for a in word:
        found = None if q is None else move(q, a, tuple(v == 0 for v in c))
        if found is None:
            q = None
        else:
            q, updates = found
            c = [0 if u == "reset" else v + u for v, u in zip(c, updates, strict=True)]
        out.append(q is not None and accepts(q, tuple(v == 0 for v in c)))
    return out


def random_instance(rng, nodes: int):
    """A sorted deterministic graph on 1..nodes: each node an edge forward with prob. 0.7."""
    edges = [(i, int(rng.integers(i + 1, nodes + 1))) for i in range(1, nodes)
             if rng.random() < 0.7]
    source, target = (int(v) for v in rng.integers(1, nodes + 1, size=2))
    return source, edges, target


def reachable(nodes: int, source: int, edges, target: int) -> bool:
    graph = nx.DiGraph()
    graph.add_nodes_from(range(1, nodes + 1))
    graph.add_edges_from(edges)
    return nx.has_path(graph, source, target)


def test_connectivity_agrees_with_networkx_on_random_graphs():
    rng = np.random.default_rng(0)
    cases = [random_instance(rng, int(rng.integers(2, 9))) for _ in range(400)]
    words = [cc.encode(*case) for case in cases]
    by_length: dict[int, list[int]] = {}
    for k, word in enumerate(words):
        by_length.setdefault(len(word), []).append(k)
    lengths = sorted(by_length)[::4]  # a circuit per length; every fourth length is plenty
    for n in lengths:
        circuit = rc.compile(cc.connectivity, n)
        ks = by_length[n]
        got = circuit.evaluate(np.array([words[k] for k in ks]))[:, -1, 0] > 0
        want = [reachable(9, *cases[k]) for k in ks]
        assert got.tolist() == want, [cases[k] for k in ks]
    assert sum(len(by_length[n]) for n in lengths) >= 80


def test_connectivity_run_on_every_instance():
    rng = np.random.default_rng(1)
    answers = set()
    for _ in range(300):
        case = random_instance(rng, int(rng.integers(2, 12)))
        want = reachable(12, *case)
        assert (cc.connectivity.run(cc.encode(*case))[-1, 0] > 0) == want, case
        answers.add(want)
    assert answers == {True, False}


def test_the_target_sink_promise_is_what_encode_keeps():
    """Lemma 2 accepts iff t is where the walk ends: with t's out-edge kept, a reachable t
    that is passed is rejected (the digest's caveat); `encode` drops that edge."""
    edges = [(1, 2), (2, 3)]
    kept = [cc.MARK] + [cc.SEMI, cc.MARK, cc.COLON] + [cc.MARK] * 2 + \
        [cc.SEMI] + [cc.MARK] * 2 + [cc.COLON] + [cc.MARK] * 3 + [cc.SEMI] + [cc.MARK] * 2
    assert cc.connectivity.run(np.array(kept))[-1, 0] < 0
    assert cc.connectivity.run(cc.encode(1, edges, 2))[-1, 0] > 0


def test_the_rnn_equals_the_machine_on_random_words():
    """Every word, valid encodings or not, against the machine run on Python integers
    (undefined moves reject from then on: the sink)."""
    rng = np.random.default_rng(2)
    circuit = rc.compile(cc.connectivity, 40)
    words = rng.choice(3, size=(300, 40), p=[0.8, 0.1, 0.1])
    got = circuit.evaluate(words)[..., 0] > 0
    for word, row in zip(words, got, strict=True):
        want = run_machine(cc.move, "source", cc.accepts, 2, word.tolist())
        assert row.tolist() == want


def test_reset_and_the_sink():
    """Counter 0 counts a's, b resets it, c is no move (rejected from then on)."""
    def move(q, a, zeros):
        return None if a == 2 else (q, (1,) if a == 0 else ("reset",))
    machine = rc.from_counter_machine(move, 0, lambda q, z: z[0], counters=1, alphabet=3)
    word = [0, 0, 1, 0, 1, 2, 1]
    out = machine.run(np.array(word)).ravel() > 0
    assert out.tolist() == run_machine(move, 0, lambda q, z: z[0], 1, word)
    assert out.tolist() == [False, False, True, False, True, False, False]


def test_depth_grows_linearly():
    """The layer is nonlinear in its state: unrolled, one step's depth per position."""
    depths = {n: rc.compile(cc.connectivity, n).depth for n in (16, 32, 64, 128)}
    step = depths[32] - depths[16]
    assert step > 0
    assert all(depths[2 * n] - depths[n] == step * n // 16 for n in (16, 32, 64)), depths
    assert rc.classify(cc.connectivity).kind == "nonlinear"


@pytest.mark.parametrize("kwargs, message", [
    (dict(counters=0, alphabet=2), "counters must be an int >= 1"),
    (dict(counters=1, alphabet=2, delta=lambda q, a, z: (q, (2,))), "one of -1, 0, \\+1"),
    (dict(counters=1, alphabet=2, delta=lambda q, a, z: q), "must be \\(next state"),
    (dict(counters=1, alphabet=2, delta=[1, 2]), "delta must be a callable"),
])
def test_bad_machines_are_refused_by_name(kwargs, message):
    delta = kwargs.pop("delta", lambda q, a, z: (q, (0,)))
    with pytest.raises(OptionError, match=message):
        rc.from_counter_machine(delta, 0, [0], **kwargs)


def test_a_dict_machine_equals_the_callable():
    patterns = list(itertools.product((False, True), repeat=1))
    table = {(0, a, z): (0, (1,) if a == 0 else (-1,)) for a in range(2) for z in patterns}
    machine = rc.from_counter_machine(table, 0, lambda q, z: z[0], counters=1, alphabet=2)
    assert machine.run(np.array([0, 1, 1, 0])).ravel().tolist() == [-1.0, 1.0, -1.0, 1.0]
