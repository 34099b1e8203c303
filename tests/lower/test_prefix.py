"""Tests for rnncirc.lower.prefix: the reference (depth, size) table, validity of every network,
evaluation with a non-commutative operator against a plain loop, and the exact formulas."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from rnncirc.analyze.formula_eval import evaluate_formula
from rnncirc.lower.prefix import (
    TOPOLOGIES,
    Level,
    PrefixNetwork,
    build,
    depth_formula,
    exact_size,
    size_formula,
    validate,
)

N = sympy.Symbol("n", integer=True, positive=True)
OUTPUTS = ("all", "last")
CASES = [(topology, outputs) for topology in TOPOLOGIES for outputs in OUTPUTS]
SMALL = list(range(1, 71))
POWERS_12 = [2**k for k in range(13)]

# Networks are immutable, so tests share them.
net_of = functools.cache(build)

# (depth, size) measured on the reference constructions (circuits-and-formats.md §1.2).
REFERENCE = {
    16: {
        "sequential": (15, 15),
        "sklansky": (4, 32),
        "kogge-stone": (4, 49),
        "brent-kung": (6, 26),
        "han-carlson": (5, 32),
        "ladner-fischer": (4, 31),
    },
    64: {
        "sequential": (63, 63),
        "sklansky": (6, 192),
        "kogge-stone": (6, 321),
        "brent-kung": (10, 120),
        "han-carlson": (7, 192),
        "ladner-fischer": (6, 168),
    },
    1024: {
        "sequential": (1023, 1023),
        "sklansky": (10, 5120),
        "kogge-stone": (10, 9217),
        "brent-kung": (18, 2036),
        "han-carlson": (11, 5120),
        "ladner-fischer": (10, 3487),
    },
    100: {
        "sklansky": (7, 316),
        "kogge-stone": (7, 573),
        "brent-kung": (11, 191),
        "han-carlson": (8, 336),
        "ladner-fischer": (7, 273),
    },
}
REFERENCE_ROWS = [(n, t, ds) for n, row in REFERENCE.items() for t, ds in row.items()]


def clog2(n: int) -> int:
    return (n - 1).bit_length()


# ------------------------------------------------------------------------------------------
# helpers: evaluation, liveness, exact formula evaluation
# ------------------------------------------------------------------------------------------


def simulate(net: PrefixNetwork, leaves: np.ndarray, combine) -> np.ndarray:
    """Evaluate ``net`` one level at a time; ``combine(newer, older)`` works on whole arrays."""
    values = np.empty((net.n + net.size, *leaves.shape[1:]), dtype=leaves.dtype)
    values[: net.n] = leaves
    made = net.n
    for level in net.levels:
        values[made : made + len(level)] = combine(values[level.right_src], values[level.left_src])
        made += len(level)
    return values[net.result]


PRIME = 1_000_003  # entries < 2^20, so 2x2 int64 products cannot overflow


def matmul_mod(newer: np.ndarray, older: np.ndarray) -> np.ndarray:
    # The affine-pair order: the newer factor multiplies from the left.
    return (newer @ older) % PRIME


def matrix_prefixes(mats: np.ndarray) -> np.ndarray:
    """The plain loop: P_0 = M_0, P_i = M_i P_{i-1}."""
    out = np.empty_like(mats)
    out[0] = mats[0]
    for i in range(1, len(mats)):
        out[i] = matmul_mod(mats[i], out[i - 1])
    return out


def live_combines(net: PrefixNetwork) -> np.ndarray:
    """Mask of combines some output depends on (backward sweep, one step per level)."""
    live = np.zeros(net.n + net.size, dtype=bool)
    live[net.result] = True
    end = net.n + net.size
    for level in reversed(net.levels):
        start = end - len(level)
        used = live[start:end]
        live[level.left_src[used]] = True
        live[level.right_src[used]] = True
        end = start
    return live[net.n :]


exact_eval = evaluate_formula


# ------------------------------------------------------------------------------------------
# reference numbers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "topology", "depth_size"), REFERENCE_ROWS)
def test_reference_depth_and_size(n: int, topology: str, depth_size: tuple[int, int]) -> None:
    net = net_of(n, topology)
    validate(net)
    assert (net.depth, net.size) == depth_size


@pytest.mark.parametrize(("n", "optimum"), [(16, 31), (32, 74)])
def test_ladner_fischer_hits_sergeev_optimum(n: int, optimum: int) -> None:
    # Sergeev: minimum size at depth ceil(log2 n), 31 at n = 16 and 74 at n = 32.
    net = net_of(n, "ladner-fischer")
    assert (net.depth, net.size) == (clog2(n), optimum)


def test_ladner_fischer_power_of_two_fibonacci_form_and_4n_bound() -> None:
    for k in range(15):
        n = 2**k
        assert exact_size("ladner-fischer", "all", n) == 4 * n - sympy.fibonacci(k + 5) + 1
    assert all(exact_size("ladner-fischer", "all", n) < 4 * n for n in range(1, 5000))


def test_kogge_stone_general_n_and_brent_kung_power_of_two_depth() -> None:
    for n in range(1, 301):
        k = clog2(n)
        assert net_of(n, "kogge-stone").size == n * k - 2**k + 1
    for k in range(2, 13):
        assert net_of(2**k, "brent-kung").depth == 2 * k - 2


def test_outputs_last_is_the_balanced_reduction_tree() -> None:
    for topology in TOPOLOGIES:
        for n in [*SMALL, 1000]:
            net = net_of(n, topology, "last")
            assert (net.topology, net.outputs) == (topology, "last")
            assert (net.depth, net.size) == (clog2(n), n - 1)
            assert net.result.shape == (1,)


# ------------------------------------------------------------------------------------------
# golden small networks: pin the segment and value-id encoding
# ------------------------------------------------------------------------------------------


FIELDS = ("left_lo", "left_hi", "right_lo", "right_hi", "left_src", "right_src")


def as_rows(net: PrefixNetwork) -> list[list[tuple[int, ...]]]:
    """Each level as (left_lo, left_hi, right_lo, right_hi, left_src, right_src) rows."""
    return [list(zip(*(getattr(lv, f).tolist() for f in FIELDS), strict=True)) for lv in net.levels]


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("outputs", OUTPUTS)
def test_one_and_two_leaves(topology: str, outputs: str) -> None:
    one = build(1, topology, outputs)
    assert (one.depth, one.size, one.levels) == (0, 0, ())
    assert one.result.tolist() == [0]
    two = build(2, topology, outputs)
    assert as_rows(two) == [[(0, 0, 1, 1, 0, 1)]]
    assert two.result.tolist() == ([0, 2] if outputs == "all" else [2])


def test_golden_networks() -> None:
    # Sklansky n = 4: (0|1) -> 4, (2|3) -> 5, then [0..1] into both upper columns.
    sk = build(4, "sklansky")
    assert as_rows(sk) == [
        [(0, 0, 1, 1, 0, 1), (2, 2, 3, 3, 2, 3)],
        [(0, 1, 2, 2, 4, 2), (0, 1, 2, 3, 4, 5)],
    ]
    assert sk.result.tolist() == [0, 4, 6, 7]
    seq = build(3, "sequential")
    assert as_rows(seq) == [[(0, 0, 1, 1, 0, 1)], [(0, 1, 2, 2, 3, 2)]]
    assert seq.result.tolist() == [0, 3, 4]
    tree = build(5, "kogge-stone", "last")
    assert as_rows(tree) == [
        [(0, 0, 1, 1, 0, 1), (2, 2, 3, 3, 2, 3)],
        [(0, 1, 2, 3, 5, 6)],
        [(0, 3, 4, 4, 7, 4)],
    ]
    assert tree.result.tolist() == [8]
    # Brent-Kung n = 8 as soon as possible: fills run as soon as their prefix is ready, e.g.
    # column 2 on level 2 and column 5 on level 3, beside the up-sweep's last combine [0..7].
    bk = build(8, "brent-kung")
    assert [len(lv) for lv in bk.levels] == [4, 3, 3, 1]
    assert (0, 1, 2, 2) in [row[:4] for row in as_rows(bk)[1]]
    assert {(0, 3, 4, 5), (0, 3, 4, 7)} <= {row[:4] for row in as_rows(bk)[2]}


def test_arrays_are_int64_and_read_only() -> None:
    net = build(37, "ladner-fischer")
    for level in net.levels:
        for a in (getattr(level, f) for f in FIELDS):
            assert a.dtype == np.int64 and not a.flags.writeable
    assert net.result.dtype == np.int64 and not net.result.flags.writeable
    assert repr(net) == "PrefixNetwork(n=37, topology='ladner-fischer', outputs='all')"


# ------------------------------------------------------------------------------------------
# validity, liveness, evaluation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("topology", "outputs"), CASES)
def test_every_network_validates_and_has_no_dead_combines(topology: str, outputs: str) -> None:
    for n in sorted({*SMALL, *POWERS_12}):
        net = net_of(n, topology, outputs)
        validate(net)
        assert live_combines(net).all(), (topology, outputs, n)
        assert net.result.shape == ((n,) if outputs == "all" else (1,))


@pytest.mark.parametrize(("topology", "outputs"), CASES)
def test_matrix_products_match_the_plain_loop(topology: str, outputs: str) -> None:
    for n in SMALL:
        mats = np.random.default_rng(n).integers(0, PRIME, size=(n, 2, 2), dtype=np.int64)
        want = matrix_prefixes(mats)
        got = simulate(net_of(n, topology, outputs), mats, matmul_mod)
        np.testing.assert_array_equal(got, want if outputs == "all" else want[-1:])


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_string_concatenation_shows_every_segment_once(topology: str) -> None:
    # Concatenation is the free monoid: an overlap or a swap would show in the string.
    for n in range(1, 25):
        tokens = np.array([f"<{t}>" for t in range(n)], dtype=object)
        got = simulate(build(n, topology), tokens, lambda newer, older: older + newer)
        assert list(got) == ["".join(tokens[: i + 1]) for i in range(n)]


def test_build_rejects_bad_arguments() -> None:
    for n in (0, -3):
        with pytest.raises(ValueError, match="n >= 1"):
            build(n, "sklansky")
    with pytest.raises(ValueError, match="valid: sequential, sklansky, kogge-stone"):
        build(8, "knowles")
    with pytest.raises(ValueError, match="valid: all, last"):
        build(8, "sklansky", "first")
    with pytest.raises(ValueError, match="unknown topology"):
        size_formula("knowles")
    with pytest.raises(ValueError, match="n >= 1"):
        exact_size("sklansky", "all", 0)


def level(*rows: tuple[int, int, int, int, int, int]) -> Level:
    return Level(*(np.array(column) for column in zip(*rows, strict=True)))


def test_validate_rejects_overlapping_segments() -> None:
    # Level 1 makes [0..1] (id 3) and [1..2] (id 4); joining them counts x_1 twice.
    net = PrefixNetwork(
        3,
        "hand-made",
        "last",
        (
            level((0, 0, 1, 1, 0, 1), (1, 1, 2, 2, 1, 2)),
            level((0, 1, 1, 2, 3, 4)),
        ),
    )
    with pytest.raises(ValueError, match=r"level 2, combine 0: left \[0..1\].*overlap"):
        validate(net)


def test_validate_rejects_non_adjacent_and_swapped_segments() -> None:
    gap = PrefixNetwork(3, "hand-made", "last", (level((0, 0, 2, 2, 0, 2)),))
    with pytest.raises(ValueError, match=r"level 1, combine 0: .*gap"):
        validate(gap)
    swapped = PrefixNetwork(2, "hand-made", "last", (level((1, 1, 0, 0, 1, 0)),))
    with pytest.raises(ValueError, match="out of order"):
        validate(swapped)


def test_validate_rejects_bad_operand_values_and_missing_outputs() -> None:
    # Combine 1 of level 1 reads id 4, which that same level produces.
    early = PrefixNetwork(3, "hand-made", "all", (level((0, 0, 1, 1, 0, 1), (0, 1, 2, 2, 4, 2)),))
    with pytest.raises(ValueError, match="combine 1: .*not a leaf or an earlier level"):
        validate(early)
    # Leaf 0 holds [0..0], not the claimed [0..1].
    lie = PrefixNetwork(3, "hand-made", "last", (level((0, 1, 2, 2, 0, 2)),))
    with pytest.raises(ValueError, match="left operand value does not hold"):
        validate(lie)
    short = PrefixNetwork(3, "hand-made", "all", (level((0, 0, 1, 1, 0, 1)),))
    with pytest.raises(ValueError, match=r"no output holds the prefix \[0..2\]"):
        validate(short)
    with pytest.raises(ValueError, match="equal length"):
        Level(*(np.arange(k) for k in (1, 1, 1, 1, 1, 2)))


# ------------------------------------------------------------------------------------------
# formulas
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("topology", "outputs"), CASES)
def test_formulas_equal_built_depth_and_size(topology: str, outputs: str) -> None:
    depth, size = depth_formula(topology, outputs), size_formula(topology, outputs)
    for n in [*range(1, 301), *(2**k for k in range(9, 15))]:
        net = net_of(n, topology, outputs)
        assert exact_eval(depth, n) == net.depth, (topology, outputs, n)
        assert exact_eval(size, n) == net.size == exact_size(topology, outputs, n), (
            topology,
            outputs,
            n,
        )


@pytest.mark.parametrize(("topology", "outputs"), CASES)
def test_sympy_itself_evaluates_the_formulas(topology: str, outputs: str) -> None:
    # The fast evaluator above must agree with plain sympy substitution.
    depth, size = depth_formula(topology, outputs), size_formula(topology, outputs)
    assert depth.free_symbols == {N} and size.free_symbols == {N}
    for n in (1, 2, 3, 4, 5, 6, 7, 9, 17, 100, 1024):
        assert depth.subs(N, n).doit() == exact_eval(depth, n)
        assert size.subs(N, n).doit() == exact_eval(size, n)


@pytest.mark.slow
def test_formulas_for_longer_lengths() -> None:
    # The derived forms (Brent-Kung depth, Han-Carlson, Sklansky, Ladner-Fischer) were checked
    # against built networks for every n up to 2000; here a stride keeps the run short.
    for n in range(301, 2001, 37):
        for topology in TOPOLOGIES[1:]:
            net = net_of(n, topology)
            assert exact_eval(depth_formula(topology), n) == net.depth, (topology, n)
            assert exact_eval(size_formula(topology), n) == net.size, (topology, n)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=700),
    topology=st.sampled_from(TOPOLOGIES),
    outputs=st.sampled_from(OUTPUTS),
)
def test_property_random_networks(n: int, topology: str, outputs: str) -> None:
    net = build(n, topology, outputs)
    validate(net)
    assert net.depth == exact_eval(depth_formula(topology, outputs), n)
    assert net.size == exact_size(topology, outputs, n)
    assert net.depth >= clog2(n)  # y_n reads all n leaves through fan-in 2
    if outputs == "all":
        assert net.size + net.depth >= 2 * n - 2  # Snir's bound
        assert live_combines(net).all()
    mats = np.random.default_rng(n).integers(0, PRIME, size=(n, 2, 2), dtype=np.int64)
    want = matrix_prefixes(mats)
    got = simulate(net, mats, matmul_mod)
    np.testing.assert_array_equal(got, want if outputs == "all" else want[-1:])
