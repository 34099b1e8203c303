"""Segment-sum lowering: equal to the sequential recurrence (exactly mod p and in float64),
depth equal to the dynamic program's value and to the reference table, size within bounds."""

from __future__ import annotations

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.analyze.report import compile_report
from rnncirc.compiler import compile_model
from rnncirc.errors import OptionError
from rnncirc.lower import prefix, segment_lower, segment_sum

from ..models import LINEAR, affine, channels, random_inputs

P = 2**31 - 1


def _ceil_log2(x: int) -> int:
    return (x - 1).bit_length()


def _dp_depth(n: int) -> int:
    """The construction's depth from its definition, output by output: h_t sums one term per
    set bit 2^i of t + 1, ready at beta(i) (the block ending at t) or one after the later of
    beta(i) and its multiplier ceil(log2 low), low the bits of t + 1 below i; a greedy sum of
    terms ready at r_i is ready at ceil(log2 sum 2^r_i)."""
    deepest = 0
    for t in range(n):
        total, v = 0, t + 1
        for i in range(v.bit_length()):
            if v >> i & 1:
                beta, low = segment_sum.aligned_pattern(i)[0], v & ((1 << i) - 1)
                total += 1 << (beta if low == 0 else 1 + max(beta, _ceil_log2(low)))
        deepest = max(deepest, _ceil_log2(total))
    return deepest


def _sklansky_size(n: int) -> int:
    """Gates of the Sklansky circuit of h = a h + b: a mul and an add per combine, and a mul
    of the A parts unless the combine's segment starts at step 0 (n - 1 of them)."""
    combines = prefix.exact_size("sklansky", "all", n)
    return 3 * combines - (n - 1)


def _sequential_mod(xs: np.ndarray, init: np.ndarray) -> np.ndarray:
    """h_t = a_t h_{t-1} + b_t mod P per channel, a = xs[..., :d], b = xs[..., d:]."""
    d = len(init)
    h = np.broadcast_to(np.asarray(init, dtype=np.int64) % P, xs.shape[:1] + (d,)).copy()
    out = np.empty(xs.shape[:2] + (d,), dtype=np.int64)
    for t in range(xs.shape[1]):
        h = (xs[:, t, :d] * h + xs[:, t, d:]) % P
        out[:, t] = h
    return out


def _check_exact(model, n: int, outputs: str) -> None:
    rng = np.random.default_rng(n)
    xs = rng.integers(0, P, size=(2, n, model.input_size), dtype=np.int64)
    circuit = rc.compile(model, n, topology="segment-sum", outputs=outputs)
    want = _sequential_mod(xs, np.asarray(model.init, dtype=np.int64).ravel())
    want = want.reshape((2, n) + model.state_shape)
    got = circuit.evaluate(xs, modulus=P)
    np.testing.assert_array_equal(got, want if outputs == "all" else want[:, -1])


def _check_float(model, n: int, outputs: str = "all") -> None:
    rng = np.random.default_rng(n)
    xs = rng.uniform(-1.0, 1.0, size=(2, n, model.input_size))
    half = model.input_size // 2
    xs[..., :half] = rng.uniform(0.5, 1.0, size=(2, n, half))  # decays: a in (0.5, 1)
    circuit = rc.compile(model, n, topology="segment-sum", outputs=outputs)
    want = model.run(xs)
    got = circuit.evaluate(xs)
    np.testing.assert_allclose(got, want if outputs == "all" else want[:, -1], rtol=0,
                               atol=1e-12 * max(1.0, float(np.abs(want).max())))


# -- the reference table ---------------------------------------------------------------------

#: depth of construction F (aligned Fenwick) and Sklansky's size, from the reference
#: (shared/reference/depth-below-2log.md, section 5.2)
REFERENCE = {16: (8, 81), 64: (11, 513), 256: (13, 2817), 1024: (16, 14337),
             4096: (18, 69633), 8192: (20, 151553), 16384: (21, 327681)}


@pytest.mark.parametrize("n", sorted(REFERENCE))
def test_the_reference_table_is_reproduced(n):
    depth, sklansky = REFERENCE[n]
    plan = segment_sum.plan(n)
    assert plan.depth == depth
    assert _sklansky_size(n) == sklansky
    assert plan.size <= 1.1 * sklansky
    assert depth <= segment_sum.depth_bound(n)
    levels = n.bit_length() - 1  # n = 2^L: max(beta(L), beta(L - 1) + 2)
    assert depth == max(segment_sum.aligned_pattern(levels)[0],
                        segment_sum.aligned_pattern(levels - 1)[0] + 2)


@pytest.mark.slow
def test_depth_4096_against_the_scan_and_the_lower_bound():
    n = 4096
    assert segment_sum.plan(n).depth == 18
    assert rc.compile(affine, n, topology="sklansky").depth == 24
    assert _ceil_log2(2 * n - 1) == 13


def test_block_depths_stay_within_l_plus_sqrt_2l():
    for j in range(1, 15):
        beta, pattern = segment_sum.aligned_pattern(j)
        assert beta <= int(np.ceil(j + np.sqrt(2 * j))) + 1
        sizes = [1 << i for i, _ in pattern]
        assert sum(sizes) == 1 << j and len(pattern) >= 2
        for i, x in pattern:  # aligned, and x counts the steps after the sub-block
            assert x % (1 << i) == 0


# -- depth and size at every tested n --------------------------------------------------------

SAMPLE = sorted({*range(1, 41), *np.random.default_rng(18).integers(41, 301, 12).tolist()})
POWERS = sorted({2**k + d for k in range(1, 11) for d in (-1, 0, 1)} - {0})


#: lengths whose circuits are built in the quick run (the slow tests build every n <= 300)
BUILT = [1, 2, 3, 4, 5, 7, 16, 33, 100, 255, 257, 300, 511, 1024, 1025]


@pytest.mark.parametrize("n", SAMPLE + POWERS)
def test_depth_is_the_dp_value(n):
    plan = segment_sum.plan(n)
    assert plan.depth == _dp_depth(n)
    assert plan.depth <= segment_sum.depth_bound(n)
    assert segment_sum.plan(n, "last").depth <= plan.depth
    if n >= 64:
        assert plan.size <= 1.1 * _sklansky_size(n)


@pytest.mark.parametrize("n", BUILT)
def test_the_circuit_is_the_plan(n):
    plan = segment_sum.plan(n)
    circuit = rc.compile(affine, n, topology="segment-sum")
    assert (circuit.depth, circuit.size) == (plan.depth, plan.size)


def test_size_counts_channels():
    n = 100
    plan = segment_sum.plan(n + 1)  # h_0 != 0 enters as one more step in front
    circuit = rc.compile(channels, n, topology="segment-sum")
    assert (circuit.depth, circuit.size) == (plan.depth, 3 * plan.size)


# -- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("outputs", ["all", "last"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 31, 100, 255, 300])
def test_equals_the_sequential_recurrence_mod_p(n, outputs):
    _check_exact(affine, n, outputs)
    _check_exact(channels, n, outputs)


@pytest.mark.parametrize("n", BUILT)
def test_equals_the_recurrence_in_float64(n):
    _check_float(affine, n)
    _check_float(channels, n, "last")


@pytest.mark.slow
@pytest.mark.parametrize("n", sorted({2**k + d for k in range(9, 15) for d in (-1, 0, 1)}))
def test_long_sequences(n):
    _check_exact(affine, n, "all")
    _check_float(channels, n)
    assert segment_sum.plan(n).depth == _dp_depth(n)


@pytest.mark.slow
@pytest.mark.parametrize("n", range(1, 301))
def test_every_length_to_300(n):
    assert rc.compile(affine, n, topology="segment-sum").depth == segment_sum.plan(n).depth
    _check_exact(channels, n, "all")
    _check_float(affine, n)
    assert segment_sum.plan(n).depth == _dp_depth(n)


@pytest.mark.parametrize("topology", ["segment-sum", "segment-sum-optimal"])
@pytest.mark.parametrize("name", ["scalar", "diagonal", "gated_matrix"])
@pytest.mark.parametrize("outputs", ["all", "last"])
def test_models_of_both_kinds_equal_their_run(name, outputs, topology):
    model, kind, _ = LINEAR[name]
    assert kind in segment_sum.KINDS
    for n in (1, 2, 17, 64):
        xs = random_inputs(model, n, seed=n)
        want = model.run(xs)
        circuit = rc.compile(model, n, topology=topology, outputs=outputs)
        np.testing.assert_allclose(circuit.evaluate(xs), want if outputs == "all"
                                   else want[:, -1], rtol=1e-12, atol=1e-12)


@rc.rnn(state=2, inputs=2)
def running_max(h, x):  # max-plus: over a semiring, which no segment-sum lowering builds
    return rc.maximum(h + x, x)


def test_other_kinds_are_refused_with_the_way_out():
    assert rc.classify(running_max).kind == "max-plus"
    with pytest.raises(OptionError, match="scalar, diagonal, dense, .* complex-diagonal "
                                          "recurrences.*sklansky"):
        rc.compile(running_max, 8, topology="segment-sum")


def test_the_compile_report_without_formulas():
    report = compile_report(compile_model(channels, 64, topology="segment-sum"), False)
    assert (report["topology"], report["depth"]) == ("segment-sum", segment_sum.plan(65).depth)


@pytest.mark.slow  # the fit builds about 100 circuits
@pytest.mark.parametrize("topology", segment_sum.TOPOLOGIES)
def test_the_report_formulas_name_the_plan_and_hold_past_the_fit(topology):
    from rnncirc.analyze.formula_eval import evaluate_formula
    from rnncirc.analyze.formulas import formula_definitions
    from rnncirc.analyze.report import family_formulas

    report = compile_report(compile_model(channels, 64, topology=topology))
    assert report["topology"] == topology
    assert report["depth"] == segment_lower.plan_of(topology, 65, "all").depth
    assert "_depth(n + 1)" in report["depth_formula_text"]  # h_0 != 0: one step in front
    assert formula_definitions(report["depth_formula_text"], report["size_formula_text"])
    depth, size = family_formulas(channels, rc.classify(channels), topology, "all")
    for n in (300, 1000):  # the fit ends at 260
        circuit = rc.compile(channels, n, topology=topology)
        assert (evaluate_formula(depth, n), evaluate_formula(size, n)) == \
            (circuit.depth, circuit.size)


def test_the_gate_view_draws_it_and_the_block_view_says_why_not():
    from rnncirc.export.dot_block import block_graph
    from rnncirc.export.dot_gate import gate_graph
    from rnncirc.export.dot_graph import DiagramTooLargeError

    circuit = rc.compile(affine, 8, topology="segment-sum")
    assert "planned level" in gate_graph(circuit).to_string()
    with pytest.raises(DiagramTooLargeError, match="no block view"):
        block_graph(circuit)


def test_a_length_that_cannot_fit_is_refused_before_the_plan():
    from rnncirc.errors import CircuitTooLargeError

    with pytest.raises(CircuitTooLargeError, match="largest length that fits"):
        rc.compile(channels, 10**9, topology="segment-sum")
