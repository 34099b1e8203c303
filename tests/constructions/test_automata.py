"""rc.from_dfa and rc.from_wfa against direct simulation of the automaton (Thm 8)."""

from __future__ import annotations

import math
from fractions import Fraction

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.errors import OptionError


def simulate(table: np.ndarray, start: int, accepting, words: np.ndarray) -> np.ndarray:
    """Accepted after each prefix, by running the table (-1: no move, rejected for good)."""
    state = np.full(len(words), start)
    accepted = np.zeros(words.shape, dtype=bool)
    for t in range(words.shape[1]):
        alive = state >= 0
        state = np.where(alive, table[np.maximum(state, 0), words[:, t]], -1)
        accepted[:, t] = np.isin(state, list(accepting))
    return accepted


def random_dfa(rng, states: int, symbols: int, partial: bool = False):
    table = rng.integers(0, states, size=(states, symbols))
    if partial:
        table[rng.random(table.shape) < 0.1] = -1
    accepting = set(np.flatnonzero(rng.random(states) < 0.5).tolist())
    return table, int(rng.integers(states)), accepting


#: a DFA's layer is permutation-diagonal, or a special case of it (every move the identity:
#: scalar; moves that only zero states: diagonal)
PD_KINDS = ("permutation-diagonal", "diagonal", "scalar")


def check(table, start, accepting, n: int, batch: int, seed: int) -> None:
    program = rc.from_dfa(table, start, accepting)
    assert rc.classify(program).kind in PD_KINDS
    words = np.random.default_rng(seed).integers(0, table.shape[1], size=(batch, n))
    out = rc.compile(program, n).evaluate(words)[..., 0]
    expected = simulate(table, start, accepting, words)
    np.testing.assert_array_equal(out > 0, expected)
    assert np.all(np.isin(out, (-1.0, 0.0, 1.0)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states=st.integers(2, 12), symbols=st.integers(2, 5), partial=st.booleans(),
       n=st.sampled_from([1, 2, 3, 17, 64, 100]), seed=st.integers(0, 2**32 - 1))
def test_random_dfas_accept_what_simulation_accepts(states, symbols, partial, n, seed):
    table, start, accepting = random_dfa(np.random.default_rng(seed), states, symbols, partial)
    check(table, start, accepting, n, batch=500, seed=seed)


@pytest.mark.parametrize("seed", range(3))
def test_random_dfas_at_512_on_thousands_of_words(seed):
    rng = np.random.default_rng(seed)
    table, start, accepting = random_dfa(rng, 12, 5, partial=seed == 2)
    assert not all(len(set(col)) == 12 for col in table.T)  # merging moves are covered
    assert rc.classify(rc.from_dfa(table, start, accepting)).kind == "permutation-diagonal"
    check(table, start, accepting, 512, batch=2000, seed=seed)


def test_a_permutation_dfa_on_every_topology():
    table = np.array([[1, 0], [2, 1], [0, 2]])  # symbol 0 rotates Z_3, symbol 1 keeps
    words = np.random.default_rng(5).integers(0, 2, size=(300, 33))
    expected = simulate(table, 0, {0}, words)
    program = rc.from_dfa(table, 0, [0])
    for topology in ("sequential", "sklansky", "kogge-stone", "brent-kung"):
        out = rc.compile(program, 33, topology=topology).evaluate(words)[..., 0]
        np.testing.assert_array_equal(out > 0, expected, err_msg=topology)


def test_table_dict_and_graph_give_the_same_language():
    table = [[1, 0, None], [1, 1, 0]]  # state 0 has no move on symbol 2
    moves = {("off", 0): "on", ("off", 1): "off", ("on", 0): "on", ("on", 1): "on",
             ("on", 2): "off"}
    graph = nx.MultiDiGraph()
    graph.add_edge("off", "on", symbol=0)
    graph.add_edge("off", "off", symbol=1)
    graph.add_edge("on", "on", symbol=[0, 1])
    graph.add_edge("on", "off", symbol=2)
    words = np.random.default_rng(2).integers(0, 3, size=(200, 12))
    expected = simulate(np.array([[1, 0, -1], [1, 1, 0]]), 0, {1}, words)
    for delta, start, accepting in ((table, 0, [1]), (moves, "off", ["on"]),
                                    (graph, "off", {"on"})):
        out = rc.from_dfa(delta, start, accepting).run(words)[..., 0]
        np.testing.assert_array_equal(out > 0, expected)


def test_an_identity_dfa_is_the_scalar_special_case():
    assert rc.classify(rc.from_dfa([[0, 0], [1, 1]], 0, [1])).kind == "scalar"


def test_readout_signs():
    program = rc.from_dfa([[1, -1], [0, 1]], 0, [0])
    # 0 -> 1 (reject), 1 -> 1 (reject), 0 -> 0 (accept), 1 on state 0: no move (0 for good)
    assert program.run(np.array([0, 1, 0, 1, 0])).ravel().tolist() == [-1, -1, 1, 0, 0]


@pytest.mark.parametrize("delta, start, accepting, message", [
    ([[0, 5]], 0, [0], "holds the state 5"),
    ([[0, 1], [1, 0]], 3, [0], "start state 3"),
    ([[0, 1], [1, 0]], 0, [7], "accepting state 7"),
    ({(0, "a"): 1}, 0, [0], "symbols must be integers"),
    ("abc", 0, [0], "delta must be a table"),
])
def test_bad_automata_are_refused_by_name(delta, start, accepting, message):
    with pytest.raises(OptionError, match=message):
        rc.from_dfa(delta, start, accepting)


def test_two_moves_on_one_symbol_are_refused():
    graph = nx.MultiDiGraph()
    graph.add_edge(0, 1, symbol=0)
    graph.add_edge(0, 0, symbol=0)
    with pytest.raises(OptionError, match="two moves"):
        rc.from_dfa(graph, 0, [0])


def test_depth_grows_as_log_n():
    """Thm 7: a PD layer has circuits of depth O(log n); here depth <= c log2 n with the
    constant of n = 16, up to n = 1024 (a linear depth would be 64 times the n = 16 one)."""
    rng = np.random.default_rng(9)
    program = rc.from_dfa(*random_dfa(rng, 6, 3))
    depths = {n: rc.compile(program, n).depth for n in (16, 64, 256, 1024)}
    c = depths[16] / math.log2(16)
    assert all(depths[n] <= c * math.log2(n) for n in depths), depths
    assert depths[1024] > depths[16]  # it does grow


def test_weighted_automaton_equals_the_matrix_product():
    rng = np.random.default_rng(4)
    alpha, omega = rng.normal(size=3), rng.normal(size=3)
    moves = rng.normal(size=(2, 3, 3)) / 2
    program = rc.from_wfa(alpha, moves, omega)
    words = rng.integers(0, 2, size=(50, 20))
    out = rc.compile(program, 20).evaluate(words)[..., 0]
    for word, got in zip(words, out, strict=True):
        product = alpha.copy()
        for t, a in enumerate(word):
            product = product @ moves[a]
            assert got[t] == pytest.approx(product @ omega, rel=1e-9, abs=1e-12)


def test_a_deterministic_weighted_automaton_is_permutation_diagonal():
    moves = np.zeros((2, 3, 3))
    moves[0, [0, 1, 2], [1, 2, 0]] = [0.5, 2.0, 3.0]  # one weighted move per state
    moves[1, [0, 1, 2], [0, 0, 2]] = [1.0, -1.0, 0.25]
    program = rc.from_wfa([1.0, 0.0, 0.0], moves, [1.0, 1.0, 1.0])
    assert rc.classify(program).kind == "permutation-diagonal"


def test_bad_weighted_automata_are_refused():
    with pytest.raises(OptionError, match="transitions an array"):
        rc.from_wfa([1.0, 0.0], np.ones((2, 3, 3)), [1.0, 0.0])
    with pytest.raises(OptionError, match="must be numbers"):
        rc.from_wfa(["a"], np.ones((2, 1, 1)), [1.0])
    with pytest.raises(OptionError, match="common denominator is too large"):
        rc.from_wfa([Fraction(1, 3), 0.1], np.ones((2, 2, 2)), [1.0, 0.0])



def test_the_s5_example_at_64():
    """examples/dfa_s5.py: 120 states, accepted iff the generators multiply to e (on the
    sequential circuit: the gallery checks the prefix circuits up to n = 7)."""
    from tests.programs.test_gallery import _module, s5_reference

    module = _module("dfa_s5")
    words = np.random.default_rng(3).integers(0, 3, size=(300, 64))
    out = rc.compile(module.s5_word_problem, 64, topology="sequential").evaluate(words)
    expected = np.array([s5_reference(module, w) for w in words])
    np.testing.assert_array_equal(out, expected)
    assert (expected > 0).sum() > 20  # a random walk on S5 is back at e 1 time in 120
