"""Structure by meaning (issue 16): a step written as products of explicitly built structured
matrices (S @ H1 @ H2, S @ (H1 @ H2), H1 @ (H2 @ h), H1 @ H2 @ h with H = I - b k k^T) gets
the kind and rank of its algebraic form, and a rank that only the values show is reported as
such, not claimed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.lower import prefix, structure

from ..models import assert_circuits_equal_run, random_inputs

K = 3
_rng = np.random.default_rng(61)
W1, W2, W3 = (_rng.normal(size=(4, K)) * 0.5 for _ in range(3))
w1, w2, w3 = (_rng.normal(size=K) * 0.5 for _ in range(3))
WV = _rng.normal(size=(3, K)) * 0.5
EYE = np.eye(4)


def _unit(k):
    return k / rc.sqrt((k * k).sum() + 1.0)


def _keys(x):
    return _unit(W1 @ x), _unit(W2 @ x), 2 * rc.sigmoid(w1 @ x), 2 * rc.sigmoid(w2 @ x)


def deltaproduct_updates(S, x):  # the reference form: two delta-rule updates in turn
    k1, k2, b1, b2 = _keys(x)
    S = S - b1 * rc.outer(S @ k1, k1)
    S = S - b2 * rc.outer(S @ k2, k2)
    return S + rc.outer(WV @ x, k2)


def deltaproduct_matrices(S, x):  # the same step as S @ H1 @ H2 with H = I - b k k^T
    k1, k2, b1, b2 = _keys(x)
    return S @ (EYE - b1 * rc.outer(k1, k1)) @ (EYE - b2 * rc.outer(k2, k2)) + \
        rc.outer(WV @ x, k2)


def deltaproduct_transposed(S, x):  # (H2^T H1^T S^T)^T: left multiplication of S^T
    k1, k2, b1, b2 = _keys(x)
    h1 = (EYE - b1 * rc.outer(k1, k1)).T
    h2 = (EYE - b2 * rc.outer(k2, k2)).T
    return (h2 @ (h1 @ S.T)).T + rc.outer(WV @ x, k2)


def deltaproduct_product_first(S, x):  # S @ (H1 @ H2): the state-free product built first
    k1, k2, b1, b2 = _keys(x)
    return S @ ((EYE - b1 * rc.outer(k1, k1)) @ (EYE - b2 * rc.outer(k2, k2))) + \
        rc.outer(WV @ x, k2)


def householder_product_first(h, x):  # H1 @ H2 @ h = (H1 @ H2) @ h
    k1, k2, b1, b2 = _keys(x)
    return (EYE - b1 * rc.outer(k1, k1)) @ (EYE - b2 * rc.outer(k2, k2)) @ h + W3 @ x


def householder_vector(h, x):  # H1 (H2 h), a vector state
    k1, k2, b1, b2 = _keys(x)
    return (EYE - b1 * rc.outer(k1, k1)) @ ((EYE - b2 * rc.outer(k2, k2)) @ h) + W3 @ x


def householder_vector_updates(h, x):
    k1, k2, b1, b2 = _keys(x)
    h = h - b2 * k2 * (k2 @ h)
    return h - b1 * k1 * (k1 @ h) + W3 @ x


def gated_diagonal_matrices(h, x):  # (diag(w) - k (a k)^T) (c I h): a constant scaling too
    k, w, a = _unit(W1 @ x), rc.sigmoid(W2 @ x), rc.sigmoid(W3 @ x)
    return (w[:, None] * EYE - rc.outer(k, a * k)) @ ((0.5 * EYE) @ h) + W3 @ x


# name -> (step, state, kind, rank)
CASES = {
    "deltaproduct_updates": (deltaproduct_updates, (3, 4), "dplr", 2),
    "deltaproduct_matrices": (deltaproduct_matrices, (3, 4), "dplr", 2),
    "deltaproduct_transposed": (deltaproduct_transposed, (3, 4), "dplr", 2),
    "deltaproduct_product_first": (deltaproduct_product_first, (3, 4), "dplr", 2),
    "householder_vector": (householder_vector, 4, "dplr", 2),
    "householder_product_first": (householder_product_first, 4, "dplr", 2),
    "householder_vector_updates": (householder_vector_updates, 4, "dplr", 2),
    "gated_diagonal_matrices": (gated_diagonal_matrices, 4, "dplr", 1),
}


def _model(name):
    step, state, *_ = CASES[name]
    return rc.rnn(state=state, inputs=K, name=name)(step)


@pytest.mark.parametrize("name", sorted(CASES))
def test_products_of_matrices_get_the_rank_of_their_form(name):
    _, _, kind, rank = CASES[name]
    result = rc.classify(_model(name))
    assert (result.kind, result.rank, result.complexity) == (kind, rank, "PNC1"), result.reason
    assert "its values say" not in result.reason
    form = result.linear
    m = form.offset.shape[0]
    rest = form.matrix - rc.frontend.tracer.Sym(form.offset.builder.const(np.eye(m)),
                                                form.offset.builder) * form.diag.reshape(1, m)
    assert structure.sample(form.affine, rest, None).rank() == rank == form.u.shape[1]


@pytest.mark.parametrize("pair", [("deltaproduct_updates", "deltaproduct_matrices"),
                                  ("deltaproduct_updates", "deltaproduct_transposed"),
                                  ("deltaproduct_updates", "deltaproduct_product_first"),
                                  ("householder_vector_updates", "householder_vector"),
                                  ("householder_vector_updates", "householder_product_first")])
def test_both_spellings_build_the_same_circuit_size(pair):
    one, two = (_model(name) for name in pair)
    xs = random_inputs(one, 16, seed=5)
    np.testing.assert_allclose(one.run(xs), two.run(xs), rtol=1e-12, atol=1e-12)
    a, b = (rc.compile(model, 16, topology="sklansky") for model in (one, two))
    np.testing.assert_allclose(a.evaluate(xs), b.evaluate(xs), rtol=1e-9, atol=1e-12)
    assert abs(a.size - b.size) <= 0.1 * a.size  # both DPLR rank 2, not one of them dense


@pytest.mark.parametrize("name", sorted(CASES))
def test_circuits_equal_run_on_every_topology(name):
    assert_circuits_equal_run(_model(name), name, prefix.TOPOLOGIES, rtol=1e-9,
                              lengths=(1, 3, 8))


# -- a rank only the values show -----------------------------------------------------------------
def three_updates_two_directions(h, x):  # k3 = k1 + k2: A - I has rank 2, three terms
    k1, k2 = _unit(W1 @ x), _unit(W2 @ x)
    k3 = k1 + k2
    return h - rc.sigmoid(w1 @ x) * k1 * (k1 @ h) - rc.sigmoid(w2 @ x) * k2 * (k2 @ h) \
        - rc.sigmoid(w3 @ x) * k3 * (k3 @ h) + W1 @ x


def outer_chosen_by_where(h, x):  # rank one in each branch, but a where is no rank-one term
    a = W1 @ x
    return rc.where(x[0] > 0, rc.outer(a, rc.tanh(W2 @ x)), rc.outer(a, rc.sigmoid(W3 @ x))) \
        @ h + W1 @ x


@pytest.mark.parametrize("step, kind, built, seen", [
    (three_updates_two_directions, "dplr", "rank 3", 2),
    (outer_chosen_by_where, "dense", "dense", 1),
])
def test_a_rank_seen_only_in_values_is_reported_not_claimed(step, kind, built, seen):
    model = rc.rnn(state=4, inputs=K)(step)
    result = rc.classify(model)
    assert result.kind == kind and result.linear.seen_rank == seen
    assert result.rank == (3 if kind == "dplr" else None)  # the rank that is built
    assert f"its values say diagonal plus rank {seen}, built as {built} from its terms" in \
        result.reason
    assert_circuits_equal_run(model, step.__name__, ("sequential", "sklansky", "brent-kung"),
                              rtol=1e-9, lengths=(1, 4, 7))


def test_a_rank_the_terms_show_says_nothing_more():
    result = rc.classify(_model("deltaproduct_updates"))
    assert result.linear.seen_rank is None


# -- property: a random product of structured matrices, multiplied before or after h -----------
D = 4


def _matrix(kind: str, rng: np.random.Generator):
    """x -> F(x) as an explicit D x D matrix."""
    w = rng.normal(size=(D, K)) * 0.5
    c = float(rng.uniform(0.5, 1.5))
    if kind == "diag":
        return lambda x: rc.sigmoid(w @ x)[:, None] * np.eye(D)
    if kind == "scale":
        return lambda x: np.eye(D) * rc.sigmoid(w[0] @ x)
    if kind == "const":
        return lambda x: c * np.eye(D)
    return lambda x: np.eye(D) - rc.sigmoid(w[0] @ x) * rc.outer(_unit(w @ x), _unit(w @ x))


@settings(max_examples=12, deadline=None)
@given(kinds=st.lists(st.sampled_from(["diag", "scale", "const", "rank1"]), min_size=1,
                      max_size=3), seed=st.integers(0, 10**6), first=st.booleans())
def test_products_of_explicit_matrices(kinds, seed, first):
    rng = np.random.default_rng(seed)
    factors = [_matrix(k, rng) for k in kinds]
    b = rng.normal(size=(D, K))

    def step(h, x):
        if first:  # (F1 @ F2 @ ...) @ h: the state-free product is built first
            total = factors[0](x)
            for f in factors[1:]:
                total = total @ f(x)
            return total @ h + b @ x
        for f in reversed(factors):  # F1 @ (F2 @ (... @ h))
            h = f(x) @ h
        return h + b @ x

    model = rc.rnn(state=D, inputs=K, name=f"product_{seed}")(step)
    ranks = kinds.count("rank1")
    kind = "dplr" if ranks else "diagonal" if "diag" in kinds else "scalar"
    result = rc.classify(model)
    assert (result.kind, result.rank) == (kind, ranks or None), (kinds, first, result.reason)
    assert result.time_invariant == all(k == "const" for k in kinds)
    xs = random_inputs(model, 5, seed=seed)
    np.testing.assert_allclose(rc.compile(model, 5).evaluate(xs), model.run(xs), rtol=1e-8,
                               atol=1e-10)
