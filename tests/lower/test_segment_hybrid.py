"""segment-sum-optimal (construction H, `lower.segment_hybrid` and `lower.segment_cover`):
every output equal to the sequential recurrence (exactly mod p and in float64), at depth
beta*(n), the optimum of the segment-sum family, and within 3.5 n log2 n gates per channel at
n = 2^8 .. 2^14 and at the lengths where beta* is about to step up, to 55,917."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.lower import segment_lower
from rnncirc.lower.segment_hybrid import hybrid_plan
from rnncirc.lower.segment_optimal import optimal_depth, optimal_table

from ..models import affine, channels

P = 2**31 - 1


def _evaluate(plan, a: np.ndarray, b: np.ndarray, modulus: int | None = None) -> np.ndarray:
    """The plan's outputs for leaves a, b of shape (n, batch): one numpy step per batch of
    the plan, as `segment_lower` builds it, in integers mod `modulus` or in float64."""
    shape = (plan.live["a"].size,) + a.shape[1:]
    values = {"a": np.zeros(shape, a.dtype), "b": np.zeros((plan.live["b"].size,)
                                                            + b.shape[1:], b.dtype)}
    values["a"][:plan.n], values["b"][:plan.n] = a, b
    for batch in plan.batches:
        x = values["b" if batch.kind == "bb" else "a"][batch.x]
        y = values["a" if batch.kind == "aa" else "b"][batch.y]
        made = x + y if batch.kind == "bb" else x * y
        values["a" if batch.kind == "aa" else "b"][batch.first:batch.first + len(made)] = \
            made % modulus if modulus else made
    return values["b"][plan.result]


def _sequential(a: np.ndarray, b: np.ndarray, modulus: int | None = None) -> np.ndarray:
    h, out = np.zeros_like(b[0]), np.empty_like(b)
    for t in range(len(a)):
        h = a[t] * h + b[t]
        out[t] = h = h % modulus if modulus else h
    return out


def _check_plan(n: int, outputs: str = "all") -> None:
    """Values mod p and in float64, and depth beta*(n), of the plan over n steps."""
    plan = hybrid_plan(n, outputs)
    assert plan.depth == optimal_depth(n), n
    rng = np.random.default_rng(n)
    a, b = rng.integers(0, P, (2, n, 3), dtype=np.int64)
    want = _sequential(a, b, P)
    np.testing.assert_array_equal(_evaluate(plan, a, b, P),
                                  want if outputs == "all" else want[-1:], err_msg=str(n))
    a, b = rng.uniform(0.5, 1.0, (n, 3)), rng.uniform(-1.0, 1.0, (n, 3))
    want = _sequential(a, b)
    np.testing.assert_allclose(_evaluate(plan, a, b), want if outputs == "all" else want[-1:],
                               rtol=0, atol=1e-12 * max(1.0, float(np.abs(want).max())))


# -- the dynamic program ---------------------------------------------------------------------


def test_the_table_is_its_quadratic_definition():
    """K(1) = 1, K(x) = min_s K(x - s) + 2^(1 + max(ceil(log2(x - s)), beta(s))), beta(x) =
    ceil(log2 K(x)), first(x) the largest minimizing s: computed here over every s."""
    limit = 1024
    beta, first = optimal_table(limit)
    kraft = [0, 1]
    for x in range(2, limit + 1):
        totals = {s: kraft[x - s] + (2 << max((x - s - 1).bit_length(), int(beta[s])))
                  for s in range(1, x)}
        least = min(totals.values())
        kraft.append(least)
        assert beta[x] == (least - 1).bit_length(), x
        assert first[x] == max(s for s, total in totals.items() if total == least), x


def test_beta_star_reference_values():
    """shared/reference/depth-below-2log.md, section 5.1: 12, 15, 17, 18, 19, 21, 22."""
    assert [optimal_depth(2**k) for k in (8, 10, 12, 13, 14, 15, 16)] == \
        [12, 15, 17, 18, 19, 21, 22]


# -- values and depth at every tested n ------------------------------------------------------


def test_every_length_to_300():
    for n in range(1, 301):
        _check_plan(n)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 37, 63, 100, 105, 184, 256, 300])
def test_the_last_output_alone(n):
    _check_plan(n, "last")


@pytest.mark.parametrize("n", sorted({2**k + d for k in range(9, 13) for d in (-1, 0, 1)}))
def test_powers_of_two_and_neighbours(n):
    _check_plan(n)


@pytest.mark.slow
@pytest.mark.parametrize("n", sorted({2**k + d for k in range(13, 15) for d in (-1, 0, 1)}))
def test_long_powers_of_two_and_neighbours(n):
    _check_plan(n)


@pytest.mark.parametrize("n", [321, 573, 993, 1729, 3060])
def test_lengths_where_beta_steps_up(n):
    """n = S(m), the longest length of depth m: every output just fits (the root parts)."""
    assert optimal_depth(n + 1) == optimal_depth(n) + 1
    _check_plan(n)


@pytest.mark.parametrize("n", [768, 993, pytest.param(12_288, marks=pytest.mark.slow)])
def test_the_coarse_chain_where_it_saves_gates(n):
    """Past 2^(L-1) the outputs may take a few long parts (`_coarse_chain`) where they took
    tens of root parts; where that plan has fewer gates it is the one made, exact and at
    beta*(n)."""
    from rnncirc.lower.segment_hybrid import _build, _choose, _coarse_chain

    coarse = _coarse_chain(n)
    ends = np.arange(n, dtype=np.int64)
    without = _build(n, "all", ends, *_choose(n, ends))
    assert hybrid_plan(n).size < without.size
    assert hybrid_plan(n).size == _build(n, "all", ends, *_choose(n, ends, coarse)).size
    _check_plan(n)


def test_the_coarse_chain_fits_a_quarter_short_of_the_budget():
    """Its parts, of one depth and at most the longest of it, cover [0, 2^(L-1)) with a
    Kraft sum in h_n of at most 3/4 of 2^beta*(n); none where no output lies past it."""
    from rnncirc.lower.segment_cover import _kraft
    from rnncirc.lower.segment_hybrid import _coarse_chain

    beta, _ = optimal_table(1 << 15)
    for n in (768, 993, 12_288, 31_287):
        sizes = _coarse_chain(n)
        half = 1 << ((n - 1).bit_length() - 1)
        assert sizes.sum() == half and sizes.max() - sizes.min() <= 1
        depth = beta[sizes].max()
        assert sizes.max() <= np.flatnonzero(beta <= depth).max()
        kraft = _kraft(beta[sizes], n - np.cumsum(sizes)).sum()
        assert 4 * kraft <= 3 * 2 ** int(beta[n])
    assert _coarse_chain(300) is _coarse_chain(1024) is _coarse_chain(2) is None


def test_the_fallback_chain_keeps_the_depth(monkeypatch):
    """Where neither aligned blocks nor root parts fit (none seen), a target sums its own
    optimal chain: forced here for every target that aligned blocks cannot serve."""
    from rnncirc.lower import segment_cover, segment_hybrid

    monkeypatch.setattr(segment_cover, "ROOT_CHOICES", 0)
    segment_hybrid.hybrid_plan.cache_clear()
    try:
        for n in (13, 100, 321, 1000):
            _check_plan(n)
    finally:
        segment_hybrid.hybrid_plan.cache_clear()


# -- the reference numbers and the size bound ------------------------------------------------


def test_reference_depths():
    """Section 5.2 measured its H at 11, 15, 17 for n = 100, 1000, 3000 (beta* 10, 15, 16) and
    17 at 4096: this plan reaches beta* at every n."""
    assert [hybrid_plan(n).depth for n in (100, 1000, 3000, 4096)] == [10, 15, 16, 17]


@pytest.mark.parametrize("k", [8, 9, 10, 11, 12, 13,
                               pytest.param(14, marks=pytest.mark.slow)])
def test_size_within_3_5_n_log2_n(k):
    n = 2**k
    plan = hybrid_plan(n)
    assert plan.size <= 3.5 * n * k
    if k == 12:  # the reference's H: 124,227 gates at depth 17
        assert plan.size <= 124_227


@pytest.mark.parametrize("n", [321, 573, 993, 1729, 3060, 5490, 9768, 17455,
                               pytest.param(31_287, marks=pytest.mark.slow),
                               pytest.param(55_917, marks=pytest.mark.slow)])
def test_size_within_3_5_n_log2_n_where_beta_steps_up(n):
    """The most gates per step: at n = S(m), the longest length of depth m, the outputs near
    the end have no room to spare and take the root parts, one term each."""
    assert optimal_depth(n + 1) == optimal_depth(n) + 1
    for length in (n - 1, n):
        assert hybrid_plan(length).size <= 3.5 * length * math.log2(length), length


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1000, 3060, 4096])
def test_the_estimate_from_n_bounds_the_plan(n):
    cls = rc.classify(affine)
    for outputs in ("all", "last"):
        size = hybrid_plan(n, outputs).size
        estimate = segment_lower.estimate_gates_from_n(cls, n, "segment-sum-optimal", outputs)
        assert size <= estimate - n * segment_lower._leaf_gates(cls)


# -- the circuit -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 17, 100, 256])
def test_the_circuit_is_the_plan_and_equals_the_model(n):
    plan = hybrid_plan(n)
    circuit = rc.compile(affine, n, topology="segment-sum-optimal")
    assert (circuit.depth, circuit.size) == (plan.depth, plan.size)
    rng = np.random.default_rng(n)
    xs = rng.integers(0, P, size=(2, n, 2), dtype=np.int64)
    np.testing.assert_array_equal(circuit.evaluate(xs, modulus=P)[..., 0],
                                  _sequential(xs[..., 0].T, xs[..., 1].T, P).T)
    front = hybrid_plan(n + 1)  # h_0 != 0 enters as one more step in front
    circuit = rc.compile(channels, n, topology="segment-sum-optimal")
    assert (circuit.depth, circuit.size) == (front.depth, 3 * front.size)
    xs = np.random.default_rng(n).uniform(-1.0, 1.0, size=(2, n, 6))
    np.testing.assert_allclose(circuit.evaluate(xs), channels.run(xs), rtol=0, atol=1e-12)


def test_below_the_scan_and_the_aligned_construction():
    n = 1024
    optimal = rc.compile(affine, n, topology="segment-sum-optimal")
    assert optimal.depth == 15 < rc.compile(affine, n, topology="segment-sum").depth == 16
    assert optimal.depth < rc.compile(affine, n, topology="sklansky").depth == 20
    assert optimal.depth >= math.ceil(math.log2(2 * n - 1))
