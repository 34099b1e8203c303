"""Structure by meaning (issue 16): the kind of A follows the matrix, not how the step is written.

Each case is written several ways (operand order, constant factors, transposes, rc.stack vs
rc.concat, a permutation before or after the gate, a matrix instead of an index); each must get
the same kind, rank, class and `time_invariant`, and its circuit must equal `RNN.run` on every
topology. Property tests compose random structured factors in random syntactic forms.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.lower import prefix, segment_matrix, segment_sum, structure

from ..models import assert_circuits_equal_run, random_inputs

K = 3
_rng = np.random.default_rng(16)
W1, W2, W3, W4 = (_rng.normal(size=(4, K)) * 0.5 for _ in range(4))
w1, w2, w3 = (_rng.normal(size=K) * 0.5 for _ in range(3))
DK, DV = 4, 3
WV = _rng.normal(size=(DV, K)) * 0.5
PERM = np.array([2, 0, 3, 1])
P = np.eye(4)[PERM]  # P @ h == h[PERM]


def _unit(k):
    return k / rc.sqrt((k * k).sum() + 1.0)


def _model(step, state=4, **kwargs):
    return rc.rnn(state=state, inputs=kwargs.pop("inputs", K), **kwargs)(step)


# -- the gated delta rule, DeltaProduct: DPLR with the true rank -------------------------------
def _gates(x):
    return _unit(W1 @ x), rc.sigmoid(w1 @ x), rc.exp(-rc.softplus(w2 @ x))


def gdn_reference_order(S, x):  # decay the state first, then the delta rule on the result
    k, beta, alpha = _gates(x)
    S = alpha * S
    return S - beta * rc.outer(S @ k, k) + beta * rc.outer(WV @ x, k)


def gdn_paper_order(S, x):
    k, beta, alpha = _gates(x)
    return alpha * (S - beta * rc.outer(S @ k, k)) + beta * rc.outer(WV @ x, k)


def gdn_operands_swapped(S, x):
    k, beta, alpha = _gates(x)
    S = S * alpha
    return S - rc.outer(S @ (k * beta), k) * 1.0 + rc.outer(WV @ x, beta * k)


def gdn_broadcast(S, x):
    k, beta, alpha = _gates(x)
    read = (S * k[None, :]).sum(axis=1)
    return alpha * S - (alpha * beta) * read[:, None] * k[None, :] + rc.outer(WV @ x, k)


def gdn_transposed(S, x):  # S_t = A S_{t-1} + B on a (dk, dv) state: the left side
    k, beta, alpha = _gates(x)
    S = alpha * S
    return S - beta * rc.outer(k, k @ S) + beta * rc.outer(k, WV @ x)


def deltaproduct(S, x):
    k1, k2 = _unit(W1 @ x), _unit(W2 @ x)
    b1, b2 = 2 * rc.sigmoid(w1 @ x), 2 * rc.sigmoid(w2 @ x)
    S = S - b1 * rc.outer(S @ k1, k1)
    S = S - b2 * rc.outer(S @ k2, k2)
    return S + rc.outer(WV @ x, k2)


def deltaproduct_gated(S, x):
    k1, k2, k3 = _unit(W1 @ x), _unit(W2 @ x), _unit(W3 @ x)
    S = rc.exp(-rc.softplus(w3 @ x)) * S
    for k, w in ((k1, w1), (k2, w2), (k3, w3)):
        S = S - rc.sigmoid(w @ x) * rc.outer(S @ k, k)
    return S + rc.outer(WV @ x, k3)


def householder_matrix(h, x):  # (I - beta k k^T) h, the transition written as a matrix
    k, beta, _ = _gates(x)
    return (np.eye(4) - beta * rc.outer(k, k)) @ h + W2 @ x


def householder_matrix_right(S, x):  # S (I - beta k k^T) + beta v k^T
    k, beta, alpha = _gates(x)
    return alpha * (S @ (np.eye(DK) - beta * rc.outer(k, k))) + beta * rc.outer(WV @ x, k)


def rwkv7_matrix(h, x):  # diag(w) - k (a * k)^T, written as one matrix
    k, w, a = _unit(W1 @ x), rc.sigmoid(W2 @ x), rc.sigmoid(W3 @ x)
    return (w[:, None] * np.eye(4) - rc.outer(k, a * k)) @ h + W4 @ x


# -- permutations: as an index or a matrix, before or after the gate, chosen by rc.where -------
def perm_index_after_gate(h, x):
    return (rc.sigmoid(W1 @ x) * h)[PERM] + W2 @ x


def perm_index_before_gate(h, x):
    return rc.sigmoid(W1 @ x)[PERM] * h[PERM] + W2 @ x


def perm_matrix(h, x):
    return P @ (rc.sigmoid(W1 @ x) * h) + W2 @ x


def perm_matrix_transposed(h, x):
    return (h * rc.sigmoid(W1 @ x)) @ P.T + W2 @ x


def perm_by_where(h, x):
    return rc.sigmoid(W1 @ x) * rc.where(x[0] > 0, h[::-1], h) + W2 @ x


def perm_matrices_by_where(h, x):
    return rc.where(w1 @ x > 0.2, P @ h, P.T @ (0.5 * h)) + W2 @ x


def perm_by_symbol_where(h, x):  # the branch is fixed by the symbol: per-symbol tables
    return rc.where(rc.lookup(np.array([1.0, 0.0, 1.0]), x) > 0, h[::-1], 0.5 * h) + \
        rc.lookup(np.eye(3, 4), x)


def perm_interleaved(h, x):
    return rc.sigmoid(W1 @ x) * rc.concat([h[1::2], h[::2]]) + W2 @ x


# -- split and re-joined states: still a scalar times the identity -------------------------------
def split_concat(h, x):
    f = rc.sigmoid(w1 @ x)
    return rc.concat([f * h[:2], f * h[2:]]) + W2 @ x


def split_stack(h, x):
    f = rc.sigmoid(w1 @ x)
    return rc.stack([f * h[0], h[1] * f, f * h[2], f * h[3]]) + W2 @ x


def split_interleaved(h, x):
    f = rc.sigmoid(w1 @ x)
    return f * rc.stack([h[::2], h[1::2]], axis=1).reshape(-1) + W2 @ x


def where_same_structure(h, x):
    return rc.where(x[0] > 0, 0.5 * h, rc.sigmoid(w1 @ x) * h) + W2 @ x


# -- DFAs: one-hot columns, not bijective (resets), chosen by the symbol -------------------------
Q, SIGMA = 8, 3
_delta = np.random.default_rng(8).integers(0, Q, size=(Q, SIGMA))
_delta[:, 0] = 0  # symbol 0 resets
DFA_TABLE = np.zeros((SIGMA, Q, Q))
for _q in range(Q):
    for _a in range(SIGMA):
        DFA_TABLE[_a, _delta[_q, _a], _q] = 1.0
START = np.eye(Q)[0]


def dfa(h, x):
    return rc.lookup(DFA_TABLE, x) @ h


def dfa_summed(h, x):
    return (rc.lookup(DFA_TABLE, x) * h[None, :]).sum(axis=1)


FLIP_FLOP = np.array([np.eye(2), [[1.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 1.0]]])


def flip_flop(h, x):  # keep, set to state 0, set to state 1
    return rc.lookup(FLIP_FLOP, x) @ h


RESET = np.zeros((4, 4))
RESET[0] = 1.0  # every state moves to state 0


def static_reset(h, x):
    return rc.sigmoid(W1 @ x) * (RESET @ h) + W2 @ x


# -- ungated (time-invariant) and complex diagonals ----------------------------------------------
A_LTI = _rng.normal(size=(4, 4)) * 0.4


def lti(h, x):
    return A_LTI @ h + W2 @ x


def lti_permutation(h, x):
    return 0.9 * h[PERM] + W2 @ x


ROT = np.array([[0.6, -0.7, 0, 0], [0.7, 0.6, 0, 0], [0, 0, 0.9, 0.2], [0, 0, -0.2, 0.9]])


def rotation_gated(h, x):
    return rc.sigmoid(w1 @ x) * (ROT @ h) + W2 @ x


def complex_pairs(h, x):
    a, b = rc.sigmoid(W1[:2] @ x), rc.tanh(W2[:2] @ x)
    z = h.reshape(2, 2)
    re, im = z[:, 0], z[:, 1]
    return rc.stack([a * re - b * im, b * re + a * im], axis=1).reshape(-1) + W3 @ x


def complex_split_halves(h, x):  # real parts first, imaginary parts after
    a, b = rc.sigmoid(W1[:2] @ x), rc.tanh(W2[:2] @ x)
    re, im = h[:2], h[2:]
    return rc.concat([re * a - im * b, a * im + b * re]) + W3 @ x


def complex_and_real(h, x):  # one rotation-scaling pair and one real eigenvalue
    a, b, d = rc.sigmoid(w1 @ x), rc.tanh(w2 @ x), rc.sigmoid(w3 @ x)
    return rc.stack([a * h[0] - b * h[2], d * h[1], b * h[0] + a * h[2]]) + W3[:3] @ x


# name -> (step, state, kind, rank, complexity, time_invariant, extra rnn keywords)
CASES = {
    "gdn_reference_order": (gdn_reference_order, (DV, DK), "dplr", 1, "PNC1", False, {}),
    "gdn_paper_order": (gdn_paper_order, (DV, DK), "dplr", 1, "PNC1", False, {}),
    "gdn_operands_swapped": (gdn_operands_swapped, (DV, DK), "dplr", 1, "PNC1", False, {}),
    "gdn_broadcast": (gdn_broadcast, (DV, DK), "dplr", 1, "PNC1", False, {}),
    "gdn_transposed": (gdn_transposed, (DK, DV), "dplr", 1, "PNC1", False, {}),
    "deltaproduct": (deltaproduct, (DV, DK), "dplr", 2, "PNC1", False, {}),
    "deltaproduct_gated": (deltaproduct_gated, (DV, DK), "dplr", 3, "PNC1", False, {}),
    "householder_matrix": (householder_matrix, 4, "dplr", 1, "PNC1", False, {}),
    "householder_matrix_right": (householder_matrix_right, (DV, DK), "dplr", 1, "PNC1", False,
                                 {}),
    "rwkv7_matrix": (rwkv7_matrix, 4, "dplr", 1, "PNC1", False, {}),
    "perm_index_after_gate": (perm_index_after_gate, 4, "permutation-diagonal", None, "NC1",
                              False, {}),
    "perm_index_before_gate": (perm_index_before_gate, 4, "permutation-diagonal", None, "NC1",
                               False, {}),
    "perm_matrix": (perm_matrix, 4, "permutation-diagonal", None, "NC1", False, {}),
    "perm_matrix_transposed": (perm_matrix_transposed, 4, "permutation-diagonal", None, "NC1",
                               False, {}),
    "perm_by_where": (perm_by_where, 4, "permutation-diagonal", None, "NC1", False, {}),
    "perm_matrices_by_where": (perm_matrices_by_where, 4, "permutation-diagonal", None, "NC1",
                               False, {}),
    "perm_by_symbol_where": (perm_by_symbol_where, 4, "permutation-diagonal", None, "NC1",
                             False, {"alphabet": 3}),
    "perm_interleaved": (perm_interleaved, 4, "permutation-diagonal", None, "NC1", False, {}),
    "split_concat": (split_concat, 4, "scalar", None, "TC0", False, {}),
    "split_stack": (split_stack, 4, "scalar", None, "TC0", False, {}),
    "split_interleaved": (split_interleaved, 4, "scalar", None, "TC0", False, {}),
    "where_same_structure": (where_same_structure, 4, "scalar", None, "TC0", False, {}),
    "dfa": (dfa, Q, "permutation-diagonal", None, "NC1", False,
            {"alphabet": SIGMA, "init": START}),
    "dfa_summed": (dfa_summed, Q, "permutation-diagonal", None, "NC1", False,
                   {"alphabet": SIGMA, "init": START}),
    "flip_flop": (flip_flop, 2, "permutation-diagonal", None, "NC1", False,
                  {"alphabet": 3, "init": np.array([1.0, 0.0])}),
    "static_reset": (static_reset, 4, "permutation-diagonal", None, "NC1", False, {}),
    "lti": (lti, 4, "dense", None, "TC0", True, {}),
    "lti_permutation": (lti_permutation, 4, "permutation-diagonal", None, "TC0", True, {}),
    "rotation_gated": (rotation_gated, 4, "complex-diagonal", None, "TC0", False, {}),
    "complex_pairs": (complex_pairs, 4, "complex-diagonal", None, "TC0", False, {}),
    "complex_split_halves": (complex_split_halves, 4, "complex-diagonal", None, "TC0", False,
                             {}),
    "complex_and_real": (complex_and_real, 3, "complex-diagonal", None, "TC0", False, {}),
}
TOPOLOGIES = ("sequential",) + tuple(t for t in prefix.TOPOLOGIES if t != "sequential")


def _case(name):
    step, state, kind, rank, complexity, invariant, extra = CASES[name]
    extra = dict(extra)
    if "alphabet" in extra:
        model = rc.rnn(state=state, name=name, **extra)(step)
    else:
        model = rc.rnn(state=state, inputs=K, name=name, **extra)(step)
    return model, kind, rank, complexity, invariant


@pytest.mark.parametrize("name", sorted(CASES))
def test_kind_rank_class_and_flag(name):
    model, kind, rank, complexity, invariant = _case(name)
    result = rc.classify(model)
    assert (result.kind, result.rank, result.complexity, result.time_invariant) == \
        (kind, rank, complexity, invariant), result.reason
    word = "complete" if kind in ("permutation-diagonal", "dplr", "dense") and not invariant \
        else " in TC0"
    assert word in result.reason


@pytest.mark.parametrize("name", sorted(CASES))
def test_circuits_equal_run_on_every_topology(name):
    model, *_ = _case(name)
    assert_circuits_equal_run(model, name, TOPOLOGIES, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][2] == "dplr"))
def test_the_rank_built_is_the_rank_of_a_minus_its_diagonal(name):
    from rnncirc.frontend.tracer import Sym

    model, *_ = _case(name)
    cls = rc.classify(model)
    form = cls.linear
    m = form.offset.shape[0]
    builder = form.offset.builder
    rest = form.matrix - Sym(builder.const(np.eye(m)), builder) * form.diag.reshape(1, m)
    assert structure.sample(form.affine, rest, None).rank() == cls.rank == form.u.shape[1]


def test_dfa_combines_are_cheaper_than_dense():
    from rnncirc.lower.classify import as_dense
    from rnncirc.lower.linear import lower_form

    model, *_ = _case("dfa")
    cls = rc.classify(model)
    structured = lower_form(model, cls, 64, "sklansky")
    dense = lower_form(model, as_dense(cls), 64, "sklansky")
    assert structured.size < dense.size


def test_complex_diagonal_combine_is_elementwise():
    model, *_ = _case("complex_pairs")
    n, m = 64, 4
    leaf = rc.compile(model, 2, topology="sequential").size  # two whole steps, A included
    # per combine at most: A X + B, 2 mul and 2 add per entry; A A, 4 mul and 2 add per block
    per_combine = 4 * m + 6 * (m // 2)
    assert rc.compile(model, n, topology="sklansky").size <= \
        prefix.build(n, "sklansky").size * per_combine + n * leaf


def test_nonlinear_reason_claims_no_lower_bound():
    @rc.rnn(state=2, inputs=2)
    def running_max(h, x):
        return rc.maximum(h, x)

    reason = rc.classify(running_max).reason
    assert "max" in reason and "exists" not in reason and "can only" not in reason


# -- the sampler itself ------------------------------------------------------------------------
def test_samples_are_exact_residues():
    @rc.rnn(state=2, inputs=1)
    def halves(h, x):
        return 0.5 * h + (x[0] - x[0]) * h[::-1]

    result = rc.classify(halves)  # x - x is identically zero: the swap is not there
    assert (result.kind, result.time_invariant) == ("scalar", True)
    for p in structure.PRIMES:
        assert pow(2, p - 1, p) == 1  # Fermat: each modulus is prime (to this witness)


def test_a_relation_between_functions_only_makes_the_kind_more_general():
    # sigmoid(z) + sigmoid(-z) = 1, but the sampler treats them as independent: the swap term
    # looks present, the kind is the safe permutation-free "dense", and the circuit is right
    @rc.rnn(state=2, inputs=1)
    def hidden_zero(h, x):
        z = x[0]
        return 0.5 * h + (rc.sigmoid(z) + rc.sigmoid(-z) - 1.0) * h[::-1] + x

    result = rc.classify(hidden_zero)
    assert result.kind in ("dense", "dplr", "complex-diagonal", "permutation-diagonal")
    xs = random_inputs(hidden_zero, 5)
    np.testing.assert_allclose(rc.compile(hidden_zero, 5).evaluate(xs), hidden_zero.run(xs),
                               rtol=1e-9, atol=1e-12)


# -- property tests: random products of structured factors in random syntactic forms -------------
D = 4
FAMILIES = {"low-rank": ("diag", "scale", "const", "rank1"),
            "permutation": ("diag", "scale", "const", "perm")}


def _factor(kind: str, form: int, rng: np.random.Generator):
    """One factor h -> F(x) h, written in one of several equivalent forms."""
    w = rng.normal(size=(D, K)) * 0.5
    perm = rng.permutation(D)
    matrix = np.eye(D)[perm]
    c = float(rng.uniform(0.5, 1.5))
    if kind == "diag":
        forms = [lambda h, x: rc.sigmoid(w @ x) * h,
                 lambda h, x: h * rc.sigmoid(w @ x),
                 lambda h, x: rc.concat([rc.sigmoid(w[:2] @ x) * h[:2],
                                         h[2:] * rc.sigmoid(w[2:] @ x)]),
                 lambda h, x: (rc.sigmoid(w @ x)[:, None] * np.eye(D)) @ h]
    elif kind == "scale":
        forms = [lambda h, x: rc.sigmoid(w[0] @ x) * h,
                 lambda h, x: h / (1.0 + rc.exp(w[0] @ x)),
                 lambda h, x: rc.stack([rc.sigmoid(w[0] @ x) * h[i] for i in range(D)]),
                 lambda h, x: h @ (np.eye(D) * rc.sigmoid(w[0] @ x))]
    elif kind == "const":
        forms = [lambda h, x: c * h, lambda h, x: h / c, lambda h, x: -(c * h),
                 lambda h, x: (c * np.eye(D)) @ h]
    elif kind == "perm":
        forms = [lambda h, x: h[perm], lambda h, x: matrix @ h,
                 lambda h, x: (h[None, :] * matrix).sum(axis=1),
                 lambda h, x: h @ matrix.T]
    else:
        forms = [lambda h, x: h - rc.sigmoid(w[0] @ x) * _unit(w @ x) * (_unit(w @ x) @ h),
                 lambda h, x: h - _unit(w @ x) * ((rc.sigmoid(w[0] @ x) * _unit(w @ x)) @ h),
                 lambda h, x: h - (rc.sigmoid(w[0] @ x) * (h @ _unit(w @ x))) * _unit(w @ x),
                 # the factor as an explicit matrix I - s k k^T (a product of such is DPLR)
                 lambda h, x: (np.eye(D) - rc.sigmoid(w[0] @ x) * rc.outer(_unit(w @ x),
                                                                         _unit(w @ x))) @ h]
    return kind, perm, forms[form % len(forms)]


def _composition(family: str, kinds: list, forms: list, seed: int):
    rng = np.random.default_rng(seed)
    factors = [_factor(k, f, rng) for k, f in zip(kinds, forms, strict=True)]
    b = rng.normal(size=(D, K))

    def step(h, x):
        for _, _, apply in factors:
            h = apply(h, x)
        return h + b @ x

    return rc.rnn(state=D, inputs=K, name=f"{family}_{seed}")(step), factors


def _expected(factors) -> tuple[str, int | None, bool]:
    kinds = [k for k, _, _ in factors]
    invariant = all(k in ("const", "perm") for k in kinds)
    ranks = kinds.count("rank1")
    if ranks:
        return "dplr", ranks, invariant
    total = np.arange(D)
    for kind, perm, _ in factors:
        if kind == "perm":
            total = total[perm]
    if not np.array_equal(total, np.arange(D)):
        return "permutation-diagonal", None, invariant
    # P^-1 c P = c I is a scalar again, D1 P D2 P^-1 a diagonal
    return ("diagonal" if "diag" in kinds else "scalar"), None, invariant


compositions = st.sampled_from(sorted(FAMILIES)).flatmap(lambda family: st.tuples(
    st.just(family),
    st.lists(st.sampled_from(FAMILIES[family]), min_size=1, max_size=4),
    st.integers(0, 10**6)))


@settings(max_examples=30, deadline=None)
@given(composition=compositions, forms=st.lists(st.integers(0, 3), min_size=4, max_size=4))
def test_products_of_structured_factors(composition, forms):
    family, kinds, seed = composition
    if family == "low-rank" and kinds.count("rank1") > 2:
        kinds = [k for k in kinds if k != "rank1"] + ["rank1"] * 2
    model, factors = _composition(family, kinds, forms[:len(kinds)], seed)
    kind, rank, invariant = _expected(factors)
    result = rc.classify(model)
    assert (result.kind, result.rank, result.time_invariant) == (kind, rank, invariant), \
        (kinds, forms, result.reason)
    xs = random_inputs(model, 5, seed=seed)
    np.testing.assert_allclose(rc.compile(model, 5).evaluate(xs), model.run(xs), rtol=1e-8,
                               atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(composition=compositions, first=st.lists(st.integers(0, 3), min_size=4, max_size=4),
       second=st.lists(st.integers(0, 3), min_size=4, max_size=4))
def test_rewriting_a_step_never_changes_its_kind(composition, first, second):
    family, kinds, seed = composition
    one, _ = _composition(family, kinds, first[:len(kinds)], seed)
    two, _ = _composition(family, kinds, second[:len(kinds)], seed)
    a, b = rc.classify(one), rc.classify(two)
    assert (a.kind, a.rank, a.complexity, a.time_invariant) == \
        (b.kind, b.rank, b.complexity, b.time_invariant)


# -- auto: least circuit depth, then size, for every kind -----------------------------------------
GALLERY_LINEAR = ("mamba", "mamba2", "s5", "retnet", "linear_attention", "gla", "mingru", "lru",
                  "deltanet", "gated_deltanet", "rwkv7", "pd_ssm", "parity")
PARALLEL = tuple(t for t in prefix.TOPOLOGIES if t != "sequential")


def _candidates(model, n: int) -> tuple[str, ...]:
    """Every parallel topology that can build `model` at length n (a kind built with
    matrices has one segment-sum construction, under either name)."""
    kind = rc.classify(model).kind
    if kind in segment_sum.KINDS and n >= 3:
        return PARALLEL + segment_sum.TOPOLOGIES
    if kind in segment_matrix.KINDS and n >= 3:
        return PARALLEL + ("segment-sum",)
    return PARALLEL


def _auto_is_least(model, n: int, truth) -> None:
    from rnncirc.compiler import compile_model

    done = compile_model(model, n)
    if n == 1:
        assert done.topology == "sequential"
        return
    best = min(truth(model, n, t) for t in _candidates(model, n))
    assert (done.circuit.depth, done.circuit.size) == best, (model.name, n, done.topology)


def _built(model, n: int, topology: str) -> tuple[int, int]:
    circuit = rc.compile(model, n, topology=topology)
    return circuit.depth, circuit.size


def _measured(model, n: int, topology: str) -> tuple[int, int]:
    from rnncirc.lower.measure import measure_linear

    exact = measure_linear(model, rc.classify(model), n, topology)
    return exact.depth, exact.size


@pytest.mark.parametrize("name", GALLERY_LINEAR)
def test_auto_is_the_least_depth_circuit_of_the_gallery(name):
    from ..conftest import example

    for n in (1, 2, 3, 6, 13, 100):
        _auto_is_least(example(name), n, _built)


def test_kogge_stone_wins_where_it_is_shallower():
    from rnncirc.compiler import resolve_topology

    from ..conftest import example

    model = example("s5")  # permutation-diagonal: its dense segment-sum is deeper
    assert resolve_topology(model, rc.classify(model), 1000, "auto", "all") == "kogge-stone"
    for name in ("mamba", "s5"):
        assert _built(example(name), 1000, "kogge-stone")[0] \
            < _built(example(name), 1000, "sklansky")[0]


def test_auto_takes_segment_sum_where_it_is_shallower_and_size_where_asked():
    from rnncirc.compiler import compile_model

    from ..conftest import example

    model = example("mamba")
    deepest = compile_model(model, 1000, objective="depth")
    assert deepest.topology == "segment-sum-optimal"
    assert deepest.circuit.depth < _built(model, 1000, "kogge-stone")[0]
    smallest = compile_model(model, 1000, objective="size")
    assert smallest.circuit.size == min(_built(model, 1000, t)[1] for t in _candidates(model,
                                                                                      1000))
    balanced = compile_model(model, 1000, objective="balanced")
    assert balanced.circuit.depth * balanced.circuit.size == min(
        d * s for d, s in (_built(model, 1000, t) for t in _candidates(model, 1000)))


def test_a_dfa_is_combined_in_the_form_best_by_the_objective():
    from rnncirc.compiler import compile_model
    from rnncirc.lower.classify import as_dense
    from rnncirc.lower.linear import lower_form

    model, *_ = _case("dfa")
    cls = rc.classify(model)
    own = lower_form(model, cls, 256, "sklansky")
    dense = lower_form(model, as_dense(cls), 256, "sklansky")
    assert dense.depth < own.depth and own.size < dense.size  # the trade the choice makes
    shallow = compile_model(model, 256, topology="sklansky")
    small = compile_model(model, 256, topology="sklansky", objective="size")
    assert (shallow.circuit.depth, shallow.circuit.size) == (dense.depth, dense.size)
    assert (small.circuit.depth, small.circuit.size) == (own.depth, own.size)
    assert shallow.circuit.info.extra["combine_form"] == "dense"
    assert shallow.classification.kind == shallow.circuit.kind == "permutation-diagonal"
    xs = random_inputs(model, 256, batch=2, seed=3)
    np.testing.assert_allclose(shallow.circuit.evaluate(xs), model.run(xs), atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", GALLERY_LINEAR)
def test_auto_is_the_least_depth_circuit_up_to_300(name):
    from ..conftest import example

    model = example(name)
    for n in list(range(1, 40)) + list(range(40, 301, 13)):
        _auto_is_least(model, n, _measured)
