"""Sorting networks (lower.sorting) and the per-symbol permutation combine built on them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.analyze.report import family_formulas
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op
from rnncirc.ir.reference import evaluate_rows
from rnncirc.lower.combine_permutation import SymbolPermutationAlgebra
from rnncirc.lower.sorting import (
    SortingNetwork,
    batcher_comparators,
    comparator_count,
    odd_even_merge_layers,
)

from ..models import random_inputs


def _run_layers(m: int, keys: np.ndarray) -> np.ndarray:
    out = np.array(keys)
    for lo, hi in odd_even_merge_layers(m):
        a, b = out[..., lo].copy(), out[..., hi].copy()
        out[..., lo], out[..., hi] = np.minimum(a, b), np.maximum(a, b)
    return out


@pytest.mark.parametrize("m", range(1, 13))
def test_zero_one_principle(m):
    # a comparator network sorts every input iff it sorts every 0/1 input
    bits = (np.arange(1 << m)[:, None] >> np.arange(m)[None, :]) & 1
    assert np.all(np.diff(_run_layers(m, bits), axis=1) >= 0)
    for lo, hi in odd_even_merge_layers(m):  # a layer's comparators touch disjoint wires
        wires = np.concatenate([lo, hi])
        assert len(np.unique(wires)) == len(wires) and np.all(lo < hi) and hi.max() < m


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40).flatmap(lambda m: st.permutations(range(m))))
def test_circuit_sorts_every_permutation_and_carries_payloads(perm):
    perm = np.array(perm)
    m = len(perm)
    builder = GateBuilder()
    keys = builder.leaf(Op.INPUT, np.arange(m))[None]
    payload = builder.leaf(Op.INPUT, m + np.arange(m))[None, :, None]
    net = SortingNetwork(m)
    out = net.apply(builder, net.decisions(builder, keys), payload)
    values = np.concatenate([perm, 100.0 + np.arange(m)])[None]
    got = evaluate_rows(builder.arrays(), np.asarray(builder.const_values), values,
                        out.ravel())[0]
    # payload i travels with key perm[i]: position j ends with the payload of key j
    np.testing.assert_array_equal(got, 100.0 + np.argsort(perm))
    assert np.array_equal(_run_layers(m, perm), np.arange(m))


def test_comparators_are_batchers_count():
    exact = {2: 1, 4: 5, 8: 19, 16: 63, 32: 191, 64: 543}
    for m, count in exact.items():
        assert batcher_comparators(m) == comparator_count(m) == count
    # padded to the next power of two, never more than that network
    assert all(comparator_count(m) <= batcher_comparators(1 << (m - 1).bit_length())
               for m in range(1, 70))


def _one_combine(m: int, c: int) -> tuple[dict, int]:
    """Op counts of one combine (apply to c columns and compose) on opaque inputs."""
    builder = GateBuilder()
    slot = iter(range(1 << 20))

    def fresh(*shape):
        return builder.leaf(Op.INPUT, np.array([next(slot) for _ in range(math.prod(shape))])
                            ).reshape(shape)

    algebra = SymbolPermutationAlgebra(builder, m, 3)
    algebra.put_leaves(np.arange(2), {"perm": fresh(2, m), "coef": fresh(2, m),
                                      "ident": fresh(m)})
    start = builder.n
    right, left = np.array([1]), np.array([0])
    algebra.apply_terms(right, fresh(1, m, c))
    algebra.compose(right, left, np.array([2]))
    ops = builder.arrays()["op"][start:]
    return {op.name.lower(): int(np.count_nonzero(ops == op)) for op in Op}, len(ops)


@pytest.mark.parametrize("m", [8, 16, 32, 64])
def test_gates_per_combine_are_m_log2_m(m):
    c = 1
    comps = batcher_comparators(m)
    counts, total = _one_combine(m, c)
    # two decision networks (the right operand's inverse, then the sort by it), and SELECTs for
    # the inverse, the c columns of B, coef1 and perm1
    assert counts["gt"] == 2 * comps
    assert counts["select"] == (6 + 2 * c) * comps
    assert counts["min"] + counts["max"] <= 4 * comps
    assert counts["mul"] == m * c + m
    assert total <= (12 + 2 * c) * comps + m * (c + 1)
    assert total <= 16 * m * math.log2(m) ** 2
    # the one-hot gather it replaces: m^2 EQ selectors twice, m^2 MUL and m(m-1) ADD per
    # gathered column (c of B, coef1, perm1), and the coefficient products
    old = 2 * m * m + (c + 2) * (m * m + m * (m - 1)) + m * c + m
    assert total < old


def _pd_model(d: int, symbols: int, zero_rows: bool = False):
    rng = np.random.default_rng(d)
    perms = np.array([np.eye(d)[rng.permutation(d)] for _ in range(symbols)])
    diag = rng.uniform(0.5, 1.0, size=(symbols, d))
    if zero_rows:  # rows that read nothing: classify records them as reading themselves
        diag[:, 0] = 0.0
    offset = rng.normal(size=(symbols, d))

    @rc.rnn(state=d, alphabet=symbols, init=rng.normal(size=d))
    def pd(h, x):
        return rc.lookup(perms, x) @ (rc.lookup(diag, x) * h) + rc.lookup(offset, x)

    return pd


@pytest.mark.parametrize("d,symbols,zero_rows", [(2, 2, False), (3, 3, True), (5, 4, False),
                                                  (16, 5, False), (7, 3, True)])
def test_evaluation_equals_run(d, symbols, zero_rows):
    model = _pd_model(d, symbols, zero_rows)
    assert rc.classify(model).kind == "permutation-diagonal"
    for topology in ("sklansky", "kogge-stone", "brent-kung", "ladner-fischer", "han-carlson"):
        for n, outputs in ((1, "all"), (6, "all"), (37, "all"), (37, "last"), (64, "all")):
            circuit = rc.compile(model, n, topology=topology, outputs=outputs)
            xs = random_inputs(model, n, seed=n)
            expected = model.run(xs)
            if outputs == "last":
                expected = expected[:, -1]
            np.testing.assert_allclose(circuit.evaluate(xs), expected, rtol=1e-9, atol=1e-9)


def test_d16_model_has_exact_formulas_and_is_smaller_than_the_quadratic_gather():
    model = _pd_model(16, 4)
    depth_f, size_f = family_formulas(model, rc.classify(model), "ladner-fischer", "all",
                                      objective="size")
    assert depth_f is not None and size_f is not None
    circuit = rc.compile(model, 256, objective="size")
    # the one-hot gather cost about 2 m^2 EQ + 3 (2 m^2) per combine: 6.1 M gates at n = 1024
    m, combines = 16, circuit.info.extra["prefix_size"]
    assert circuit.size < combines * 8 * m * m
