"""Matrix segment-sum lowering (dense, DPLR and permutation-diagonal through their dense form):
equal to the sequential circuit exactly mod p and to the recurrence in float64, depth equal to
the dynamic program's value and to the reference table, and auto picks it only where it is
the shallower circuit."""

from __future__ import annotations

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.analyze.report import compile_report
from rnncirc.compiler import compile_model
from rnncirc.errors import CircuitTooLargeError, OptionError
from rnncirc.lower import segment_matrix, segment_optimal

from ..models import LINEAR, random_inputs

P = 2**31 - 1


def dense(d: int, init=None) -> rc.RNN:
    """h' = A h + b with A's entries and b read straight from the inputs: leaves of depth 0,
    so the circuit's depth is the plan's."""

    @rc.rnn(state=d, inputs=d * d + d, init=init)
    def step(h, x):
        return x[:d * d].reshape(d, d) @ h + x[d * d:]

    return step


def dplr(d: int) -> rc.RNN:
    """h' = (diag(a) + u v^T) h + b, every factor an input: a DPLR model that is exact mod p."""

    @rc.rnn(state=d, inputs=4 * d, init=np.arange(1.0, d + 1))
    def step(h, x):
        return x[:d] * h + x[d:2 * d] * (x[2 * d:3 * d] @ h) + x[3 * d:]

    return step


MODELS = {"dense2": dense(2), "dense3": dense(3), "dense4": dense(4),
          "dense2_h0": dense(2, init=np.array([3.0, -2.0])), "dplr3": dplr(3)}
#: the models whose leaves are inputs (depth 0): their circuit is exactly the plan
BARE = ("dense2", "dense3", "dense4", "dense2_h0")


def _ceil_log2(x: int) -> int:
    return (x - 1).bit_length()


def _check_mod_p(model, n: int, outputs: str = "all") -> rc.Circuit:
    rng = np.random.default_rng(n)
    xs = rng.integers(0, P, size=(2, n, model.input_size), dtype=np.int64)
    circuit = rc.compile(model, n, topology="segment-sum", outputs=outputs)
    want = rc.compile(model, n, topology="sequential", outputs=outputs).evaluate(xs, modulus=P)
    np.testing.assert_array_equal(circuit.evaluate(xs, modulus=P), want)
    return circuit


def _check_float(model, n: int, outputs: str = "all") -> None:
    rng = np.random.default_rng(n + 1)
    xs = rng.uniform(-1.0, 1.0, size=(2, n, model.input_size))
    d = model.state_shape[0]
    xs[..., :-d] *= 0.9 / d  # A's inputs (all but b): a contraction, the states stay O(1)
    want = model.run(xs)
    got = rc.compile(model, n, topology="segment-sum", outputs=outputs).evaluate(xs)
    np.testing.assert_allclose(got, want if outputs == "all" else want[:, -1], rtol=0,
                               atol=1e-12 * max(1.0, float(np.abs(want).max())))


# -- the dynamic program and the reference table ---------------------------------------------


def test_d_1_is_the_scalar_table():
    for a, b in zip(segment_matrix.matrix_table(512, 1), segment_optimal.optimal_table(512),
                    strict=True):
        np.testing.assert_array_equal(a, b)


#: (d, n) -> depth, from the reference (shared/reference/depth-below-2log.md, section 7):
#: built there at d = 2, n = 1024 and d = 4, n = 256; DP values at 4096
REFERENCE = {(2, 1024): 23, (4, 256): 28, (2, 4096): 27, (4, 4096): 40}


@pytest.mark.parametrize("d, n", sorted(REFERENCE))
def test_the_reference_table_is_reproduced(d, n):
    assert segment_matrix.matrix_depth(n, d) == REFERENCE[d, n]
    c, level = segment_matrix.product_depth(d), _ceil_log2(n)
    assert REFERENCE[d, n] == c * (level + 1) + 1
    assert REFERENCE[d, n] < (c + 1) * level  # the scan's b-path


@pytest.mark.parametrize("d", [2, 4, 8])
def test_c_times_l_plus_1_plus_1_where_the_reference_says_so(d):
    c = segment_matrix.product_depth(d)
    for level in range(8, 13 if d < 8 else 11):
        assert segment_matrix.matrix_depth(1 << level, d) == c * (level + 1) + 1


def test_three_column_products_weigh_less_than_a_matvec():
    # d = 3: a term's 3 products at r + 1 weigh 3 * 2^(r+1) in the Kraft sum, where the
    # reference's matvec weighs 2^(r+3): 3 L instead of c (L + 1) + 1 = 3 L + 4
    for level in range(8, 13):
        assert segment_matrix.matrix_depth(1 << level, 3) == 3 * level


@pytest.mark.parametrize("d", [2, 3, 4])
def test_plan_depth_is_the_dp_value(d):
    beta, _ = segment_matrix.matrix_table(512, d)
    for n in [*range(1, 41), 63, 64, 65, 100, 255, 256, 257, 500]:
        assert segment_matrix.matrix_plan(n, "all", d).depth == max(beta[1:n + 1])
        assert segment_matrix.matrix_plan(n, "last", d).depth == beta[n]


# -- values and depth of the built circuits --------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_length_to_64_mod_p_and_in_float64(name):
    model = MODELS[name]
    d = model.state_shape[0]
    front = int(np.any(np.asarray(model.init) != 0))
    for n in range(1, 65) if name == "dense2" else (1, 2, 3, 4, 5, 8, 13, 31, 64):
        circuit = _check_mod_p(model, n)
        _check_float(model, n)
        if name in BARE:
            plan = segment_matrix.matrix_plan(n + front, "all", d)
            assert circuit.depth == plan.depth
            assert circuit.size == segment_matrix.plan_gates(plan, d, 1)


@pytest.mark.parametrize("n", sorted({2**k + e for k in range(6, 11) for e in (-1, 0, 1)}))
def test_powers_of_two_and_around_for_d_2(n):
    model = MODELS["dense2"]
    circuit = _check_mod_p(model, n)
    _check_float(model, n, "last")
    assert circuit.depth == segment_matrix.matrix_depth(n, 2)
    if n == 1024:
        assert circuit.depth == 23


@pytest.mark.parametrize("name", ["dense3", "dense4", "dplr3"])
def test_outputs_last(name):
    model = MODELS[name]
    for n in (1, 2, 7, 64, 100):
        _check_mod_p(model, n, "last")
        _check_float(model, n, "last")


@pytest.mark.parametrize("name", ["dense", "dplr", "deltanet", "permutation",
                                  "symbol_permutation"])
def test_models_of_every_matrix_kind_equal_their_run(name):
    model, kind, _ = LINEAR[name]
    assert kind in segment_matrix.KINDS
    _assert_segment_sum_equals_run(model, (1, 2, 17, 64))


def _assert_segment_sum_equals_run(model: rc.RNN, lengths) -> None:
    """segment-sum's circuit, all outputs and h_n alone, against `model.run`."""
    for n in lengths:
        xs = random_inputs(model, n, seed=n)
        want = model.run(xs)
        for outputs in ("all", "last"):
            circuit = rc.compile(model, n, topology="segment-sum", outputs=outputs)
            np.testing.assert_allclose(circuit.evaluate(xs), want if outputs == "all"
                                       else want[:, -1], rtol=1e-12, atol=1e-12)


def test_segment_sum_optimal_is_the_same_construction():
    model = MODELS["dplr3"]
    one = rc.compile(model, 40, topology="segment-sum")
    other = rc.compile(model, 40, topology="segment-sum-optimal")
    assert (one.depth, one.size) == (other.depth, other.size)
    assert other.topology == "segment-sum-optimal"


# -- auto, the report, refusals --------------------------------------------------------------


def test_auto_picks_it_where_it_is_shallower_and_only_there():
    model = MODELS["dense2"]
    auto = compile_model(model, 256)
    assert (auto.topology, auto.circuit.depth) == ("segment-sum", 19)
    assert rc.compile(model, 256, topology="sklansky").depth == 24
    assert compile_model(model, 256, objective="size").topology != "segment-sum"
    # d = 3: a scan's 3 products and b add in 2 levels, 3 ceil(log2 n) as deep as segment-sum
    model = MODELS["dense3"]
    auto = compile_model(model, 256)
    assert auto.topology != "segment-sum"
    assert auto.circuit.depth == rc.compile(model, 256, topology="segment-sum").depth == 24
    # a DFA's one-hot transitions as dense products: deeper than its permutation scan
    model = LINEAR["symbol_permutation"][0]
    auto = compile_model(model, 64)
    assert auto.topology != "segment-sum"
    assert rc.compile(model, 64, topology="segment-sum").depth > auto.circuit.depth


def test_the_compile_report():
    done = compile_model(MODELS["dense4"], 64, topology="segment-sum")
    report = compile_report(done, False)
    assert (report["topology"], report["depth"]) == ("segment-sum", 22)
    assert report["best_scan_depth"] == 24  # (c + 1) ceil(log2 n), c = 3
    assert report["depth_lower_bound"] == _ceil_log2(2 * 64 - 1)
    report = compile_report(compile_model(LINEAR["dplr"][0], 16, topology="segment-sum"),
                            False)
    assert (report["kind"], report["combine_form"]) == ("dplr", "dense")


@pytest.mark.slow  # the formula fits build about 100 circuits per topology
def test_depth_profile_with_the_scans():
    profiles = rc.depth_profile(MODELS["dense2"], [4, 16, 64],
                                topology=["sklansky", "segment-sum"])
    depths = {p.topology: [row["depth"] for row in p.rows] for p in profiles}
    assert depths["segment-sum"] == [segment_matrix.matrix_depth(n, 2) for n in (4, 16, 64)]
    assert depths["segment-sum"][-1] < depths["sklansky"][-1]


def test_too_long_for_the_plan_is_refused_with_the_way_out():
    with pytest.raises(OptionError, match="covers at most 65,536 steps.*sklansky"):
        rc.compile(MODELS["dense2"], 70_000, topology="segment-sum", outputs="last")


def test_a_length_that_cannot_fit_is_refused_before_the_plan():
    with pytest.raises(CircuitTooLargeError, match="largest length that fits"):
        rc.compile(MODELS["dense4"], 60_000, topology="segment-sum")


# -- complex-diagonal: one 2 x 2 recurrence per rotation-scaling block ---------------------------

_C = np.random.default_rng(5).normal(size=(4, 4, 3))


def _complex_pairs(h, x):  # (re, im) interleaved, two complex entries
    a, b = rc.sigmoid(_C[0, :2] @ x), rc.tanh(_C[1, :2] @ x)
    z = h.reshape(2, 2)
    re, im = z[:, 0], z[:, 1]
    return rc.stack([a * re - b * im, b * re + a * im], axis=1).reshape(-1) + _C[2] @ x


def _complex_and_real(h, x):  # one complex entry (rows 0, 2) and a real one (row 1)
    a, b = rc.sigmoid(_C[0, 0] @ x), rc.tanh(_C[1, 0] @ x)
    g = rc.sigmoid(_C[3, 1] @ x)
    return rc.stack([a * h[0] - b * h[2], g * h[1], b * h[0] + a * h[2]]) + _C[2, :3] @ x


COMPLEX = {
    "pairs": rc.rnn(state=4, inputs=3)(_complex_pairs),
    "pairs_h0": rc.rnn(state=4, inputs=3, init=np.array([0.5, -1.0, 2.0, 0.25]))(_complex_pairs),
    "with_a_real_row": rc.rnn(state=3, inputs=3)(_complex_and_real),
}


@pytest.mark.parametrize("name", sorted(COMPLEX))
def test_complex_diagonal_equals_its_run(name):
    """A complex diagonal is built as its 2 x 2 blocks, a d = 2 plan per block (a 1 x 1 block
    padded with a row that stays 0), all outputs and h_n alone, with and without h_0."""
    model = COMPLEX[name]
    assert rc.classify(model).kind == "complex-diagonal"
    _assert_segment_sum_equals_run(model, (1, 2, 3, 17, 64, 100))


def test_complex_diagonal_is_shallower_than_its_scan_and_auto_picks_it():
    """The plan for d = 2: c (L + 1) + 1 with c = 2 against the scan's 3 L (a complex
    product, then the add): 2 L + 3 below 3 L from L = 4 on, plus the leaves' levels, one
    more here: the block's -b entry is a NEG where the scan subtracts."""
    model = COMPLEX["pairs"]
    n, level = 256, 8
    circuit = rc.compile(model, n, topology="segment-sum")
    scan = rc.compile(model, n, topology="sklansky")
    plan_depth = segment_matrix.matrix_plan(n, "all", 2).depth
    assert plan_depth == 2 * (level + 1) + 1
    assert circuit.depth < scan.depth
    assert circuit.depth - plan_depth == scan.depth - 3 * level + 1
    done = compile_model(model, n)
    assert (done.topology, done.circuit.depth) == ("segment-sum", circuit.depth)
    # its gates: q blocks of the d = 2 plan, counted before any is built
    assert circuit.info.extra["segment_size"] == segment_matrix.plan_gates(
        segment_matrix.matrix_plan(n, "all", 2), 2, 1, 2)
