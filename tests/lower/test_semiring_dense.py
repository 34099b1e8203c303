"""Semiring recurrences over a finite state (issue 16): m_t[i] = max_j (m_{t-1}[j] + W(x_t)[i, j])
(Viterbi) and min-plus (shortest paths), however the step spells the max over j, are classified
max-plus / min-plus with a (max, +) matrix A, lowered by every prefix network with + and max
gates, and equal `RNN.run`; `measure` and the formulas stay exact."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.errors import RnncircWarning
from rnncirc.lower import prefix
from rnncirc.lower.classify import DENSE_SEMIRING, FEW_STATES_SEMIRING
from rnncirc.lower.measure import measure_linear

from ..models import random_inputs

K = 2
_rng = np.random.default_rng(1967)


def _hmm(d: int, symbols: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (np.log(rng.dirichlet(np.ones(d), size=d)),
            np.log(rng.dirichlet(np.ones(symbols), size=d)))


LOG_T, LOG_E = _hmm(4)
V = _rng.normal(size=(4, K))


def viterbi_broadcast(h, x):  # the reference form: a max over a broadcast sum
    return (h[None, :] + LOG_T.T).max(axis=1) + rc.lookup(LOG_E.T, x)


def viterbi_loop(h, x):  # a loop of maxima over the predecessors
    best = functools.reduce(rc.maximum, [h[j] + LOG_T[j] for j in range(4)])
    return rc.lookup(LOG_E.T, x) + best


def viterbi_per_state(h, x):  # one max per state, stacked
    e = rc.lookup(LOG_E.T, x)
    return rc.stack([(h + LOG_T[:, i]).max() + e[i] for i in range(4)])


def viterbi_emission_inside(h, x):  # emission added before the max, and transposed
    return (rc.lookup(LOG_E.T, x)[None, :] + h[:, None] + LOG_T).max(axis=0)


def viterbi_real_inputs(h, x):  # W(x) from real inputs, with a floor b(x) for some states
    scores = (h[None, :] + LOG_T.T + rc.tanh(V @ x)[:, None]).max(axis=1)
    return rc.concat([rc.maximum(scores[:2], V[:2] @ x - 3.0), scores[2:]])


SPARSE = np.where(np.eye(4, k=1) + np.eye(4) > 0, 0.0, -np.inf)  # stay or move one right


def viterbi_sparse(h, x):  # forbidden transitions: -inf entries
    return (h[None, :] + SPARSE.T + 0.1 * x[0]).max(axis=1) + x[1] * np.arange(4.0)


COST = _rng.uniform(0.1, 2.0, size=(4, 4))


def shortest_paths(h, x):  # min-plus: cost to reach each node, edge costs scaled by x
    return rc.minimum((h[None, :] + COST * rc.exp(V @ x)[:, None]).min(axis=1), V @ x + 5.0)


def unreachable_state(h, x):  # state 3 has no predecessor and no floor: always -inf
    best = (h[None, :3] + LOG_T[:3, :3].T + x[0]).max(axis=1)
    return rc.concat([best, h[3:] - np.inf])


def permuted_max(h, x):  # a permutation in (max, +): formerly left to the unroll
    return rc.maximum(h[::-1], x[0])


# name -> (step, state, kind, extra rnn keywords)
CASES = {
    "viterbi_broadcast": (viterbi_broadcast, 4, "max-plus", {"alphabet": 3}),
    "viterbi_loop": (viterbi_loop, 4, "max-plus", {"alphabet": 3}),
    "viterbi_per_state": (viterbi_per_state, 4, "max-plus", {"alphabet": 3}),
    "viterbi_emission_inside": (viterbi_emission_inside, 4, "max-plus", {"alphabet": 3}),
    "viterbi_real_inputs": (viterbi_real_inputs, 4, "max-plus", {}),
    "viterbi_sparse": (viterbi_sparse, 4, "max-plus", {"init": np.array([0.0, -1, -2, -3])}),
    "shortest_paths": (shortest_paths, 4, "min-plus", {}),
    "permuted_max": (permuted_max, 3, "max-plus", {}),
    "unreachable_state": (unreachable_state, 4, "max-plus", {}),
}


def _model(name):
    step, state, _, extra = CASES[name]
    extra = dict(extra)
    if "alphabet" not in extra:
        extra["inputs"] = K
    return rc.rnn(state=state, name=name, init=extra.pop("init", np.log(np.full(state, 0.25))),
                  **extra)(step)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kind_class_and_reason(name):
    result = rc.classify(_model(name))
    assert result.kind == CASES[name][2] and result.linear.dense is not None
    assert result.complexity == FEW_STATES_SEMIRING  # 3 or 4 states
    assert "matrix product over a finite state" in result.reason
    assert "do not place it" in result.reason and "that bound does not apply" in result.reason


@pytest.mark.parametrize("d", [4, 5, 8])
def test_nc1_hard_from_five_states(d):
    result = rc.classify(_viterbi_of_size(d))
    assert result.complexity == (DENSE_SEMIRING if d >= 5 else FEW_STATES_SEMIRING)
    assert ("not in TC0 unless TC0 = NC1" in result.reason) == (d >= 5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_circuits_equal_run_on_every_topology(name):
    model = _model(name)
    for n in (1, 3, 16):  # every length to 40: test_lengths_up_to_40
        xs = random_inputs(model, n, seed=n)
        want = model.run(xs)
        for topology in prefix.TOPOLOGIES:
            for outputs in ("all", "last"):
                got = rc.compile(model, n, topology=topology, outputs=outputs).evaluate(xs)
                np.testing.assert_allclose(got, want if outputs == "all" else want[:, -1],
                                           rtol=1e-12, atol=1e-12,
                                           err_msg=f"{name} n={n} {topology}")


def _viterbi_of_size(d: int):
    log_t, log_e = _hmm(d, seed=d)

    def step(h, x):
        return (h[None, :] + log_t.T).max(axis=1) + rc.lookup(log_e.T, x)

    return rc.rnn(state=d, alphabet=3, init=np.zeros(d), name=f"viterbi_{d}")(step)


def _equal_run_at(model, lengths) -> None:
    xs = random_inputs(model, max(lengths), seed=model.state_shape[0])
    want = model.run(xs)
    for n in lengths:
        for topology in prefix.TOPOLOGIES:
            got = rc.compile(model, n, topology=topology).evaluate(xs[:, :n])
            np.testing.assert_allclose(got, want[:, :n], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{model.name} n={n} {topology}")


@pytest.mark.parametrize("d", [1, 2, 5])
def test_lengths_up_to_40(d):
    _equal_run_at(_viterbi_of_size(d), (1, 2, 3, 4, 5, 8, 13, 31, 32, 33, 40))


@pytest.mark.slow
@pytest.mark.parametrize("d", [1, 2, 5, 8])
def test_every_length_up_to_40(d):
    _equal_run_at(_viterbi_of_size(d), range(1, 41))


@pytest.mark.parametrize("d", [1, 3, 8])
def test_a_combine_is_d_additions_and_a_max_tree(d):
    from rnncirc.ir.builder import GateBuilder
    from rnncirc.ir.levels import compute_levels
    from rnncirc.ir.ops import ARITY, Op
    from rnncirc.lower.semiring_dense import DenseMaxPlusAlgebra

    builder = GateBuilder()
    algebra = DenseMaxPlusAlgebra(builder, d, 3, Op.MAX, np.zeros((d, d + 1), dtype=bool))
    algebra.put_leaves(np.array([0, 1]),
                       {"dense": builder.leaf(Op.INPUT, np.arange(2 * d * d)).reshape(2, d, d)})
    start = builder.n
    algebra.compose(np.array([1]), np.array([0]), np.array([2]))
    assert builder.n - start == d * d * (d + d - 1)  # per entry d adds and d - 1 maxima
    rows = builder.arrays()
    levels = compute_levels(rows["op"], rows["a"], rows["b"], rows["c"], ARITY)
    assert levels.max() == 1 + (d - 1).bit_length()  # an add, then a max-tree


def test_sparse_transitions_make_a_sparse_circuit():
    dense = rc.compile(_model("viterbi_broadcast"), 32, topology="sklansky")
    sparse = rc.compile(_model("viterbi_sparse"), 32, topology="sklansky")
    assert sparse.size < dense.size / 2
    xs = random_inputs(_model("viterbi_sparse"), 32, seed=1)
    np.testing.assert_allclose(sparse.evaluate(xs), _model("viterbi_sparse").run(xs),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["viterbi_broadcast", "shortest_paths"])
def test_measure_is_exact(name):
    model = _model(name)
    cls = rc.classify(model)
    for n in (3, 7, 16, 33):
        for topology in ("sklansky", "kogge-stone", "brent-kung"):
            circuit = rc.compile(model, n, topology=topology)
            exact = measure_linear(model, cls, n, topology)
            assert (exact.depth, exact.size) == (circuit.depth, circuit.size)


def test_spellings_build_the_same_circuit():
    sizes = {name: rc.compile(_model(name), 16, topology="brent-kung").size
             for name in ("viterbi_broadcast", "viterbi_loop", "viterbi_per_state")}
    assert len(set(sizes.values())) == 1, sizes


# a random (max, +) matrix step in random spellings: which predecessor terms each state has,
# how the max over them is written, an emission before or after it, a floor b(x) or none
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), d=st.integers(1, 4),
       spelling=st.sampled_from(["broadcast", "loop", "stack"]),
       emit_first=st.booleans(), floor=st.booleans())
def test_random_max_plus_matrices(seed, d, spelling, emit_first, floor):
    rng = np.random.default_rng(seed)
    present = rng.random((d, d)) < 0.7
    present[np.arange(d), rng.integers(0, d, size=d)] = True  # every state has a predecessor
    w = np.where(present, rng.normal(size=(d, d)), -np.inf)  # w[i, j]: from j to i
    u = rng.normal(size=(d, K))

    def step(h, x):
        e = rc.tanh(u @ x)
        g = h + e if emit_first else h
        if spelling == "broadcast":
            best = (g[None, :] + w).max(axis=1)
        elif spelling == "loop":
            best = functools.reduce(rc.maximum, [g[j] + w[:, j] for j in range(d)])
        else:
            best = rc.stack([(g + w[i]).max() for i in range(d)])
        best = best if emit_first else best + e
        return rc.maximum(best, u @ x - 1.0) if floor else best

    model = rc.rnn(state=d, inputs=K, init=rng.normal(size=d))(step)
    result = rc.classify(model)
    # one state and no floor: a max over one predecessor is no max, the step is linear
    assert result.kind == ("scalar" if d == 1 and not floor else "max-plus"), result.reason
    xs = random_inputs(model, 9, seed=seed)
    for topology in ("sklansky", "brent-kung"):
        np.testing.assert_allclose(rc.compile(model, 9, topology=topology).evaluate(xs),
                                   model.run(xs), rtol=1e-12, atol=1e-12)


def test_an_infinite_transition_warns_without_claiming_every_output_is_inf():
    with pytest.warns(RnncircWarning, match="unless a max or min drops it"):
        rc.rnn(state=4, inputs=K)(viterbi_sparse)
    with pytest.warns(RnncircWarning, match="will be NaN or inf"):
        rc.rnn(state=2, inputs=1)(lambda h, x: h * np.array([1.0, np.inf]) + x[0])


def test_formulas_are_exact_past_the_fitted_lengths():
    import sympy

    from ..conftest import example

    model = example("viterbi")
    profile = rc.depth_profile(model, [300, 301], topology="brent-kung")
    (n_sym,) = profile.depth_formula.free_symbols
    for n, row in zip(profile.lengths, profile.rows, strict=True):
        assert int(profile.depth_formula.subs(n_sym, n)) == row["depth"]
        assert int(sympy.N(profile.size_formula.subs(n_sym, n).doit())) == row["size"]


def test_a_program_with_a_viterbi_layer_is_as_hard_as_its_hardest_layer():
    from ..conftest import example

    viterbi, delta = example("viterbi"), example("deltanet")  # 8 states, 8 inputs

    @rc.rnn(state=4, inputs=8)
    def diagonal(h, u):
        return rc.sigmoid(u[:4]) * h + u[4:]

    @rc.program(alphabet=4)
    def scores(x):
        return rc.scan(diagonal, rc.scan(viterbi, x))

    @rc.program(alphabet=4)
    def with_dplr(x):
        return rc.scan(delta, rc.scan(viterbi, x))

    assert rc.classify(scores).complexity == DENSE_SEMIRING  # NC1-hard above TC0
    assert rc.classify(with_dplr).complexity == "PNC1"  # PNC1 above NC1-hard
