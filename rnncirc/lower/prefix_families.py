"""The prefix-network families as steps on columns: Sklansky, Kogge-Stone, Brent-Kung,
Ladner-Fischer, Han-Carlson, the ripple and the reduction tree.

Where this sits in the pipeline: under `lower.prefix`, whose `build` calls a family here and
gets back its `PrefixNetwork` (which segments are combined at which level); the formulas of
their depth and size, and the checks, stay in `lower.prefix`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from rnncirc.lower.prefix import Level, PrefixNetwork

# --------------------------------------------------------------------------------------------
# The column model. Every family below is written as a sequence of steps on "columns": column i
# always holds one current value whose segment ends at i, [lo[i]..i]. A step takes index arrays
# (dst, src) and, for every pair at once, combines column src's value (the older, left segment)
# into column dst's value, which requires lo[dst] == src + 1. All reads of a step happen before
# its writes. The builder records each combine with its as-soon-as-possible level (one more
# than the later operand), and ``finish`` regroups the combines by that level and renumbers the
# value ids, so a family only has to state a valid order of steps, not a schedule.
# --------------------------------------------------------------------------------------------


class ColumnBuilder:
    def __init__(self, n: int) -> None:
        self.n = n
        self.value = np.arange(n, dtype=np.int64)  # provisional id of each column's value
        self.lo = np.arange(n, dtype=np.int64)
        self.level = np.zeros(n, dtype=np.int64)
        self.steps: list[tuple[np.ndarray, ...]] = []
        self.count = 0

    def combine(self, dst: np.ndarray, src: np.ndarray) -> None:
        if len(dst) == 0:
            return
        assert np.array_equal(self.lo[dst], src + 1), "internal: non-adjacent columns"
        left_lo = self.lo[src]
        level = 1 + np.maximum(self.level[src], self.level[dst])
        self.steps.append((left_lo, src, src + 1, dst, self.value[src], self.value[dst], level))
        self.value[dst] = self.n + self.count + np.arange(len(dst))
        self.lo[dst] = left_lo
        self.level[dst] = level
        self.count += len(dst)

    def finish(self, topology: str, outputs: str) -> PrefixNetwork:
        n = self.n
        if not self.steps:
            return PrefixNetwork(n, topology, outputs, ())
        *arrays, level = (np.concatenate(parts) for parts in zip(*self.steps, strict=True))
        # Stable sort keeps the step order inside a level; rank maps provisional combine
        # numbers to final ones, so operand ids follow the new level-by-level numbering.
        order = np.argsort(level, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        for k in (4, 5):  # left_src, right_src
            ids = arrays[k]
            arrays[k] = np.where(ids < n, ids, n + rank[np.maximum(ids - n, 0)])
        cuts = np.cumsum(np.bincount(level)[1:])[:-1]
        split = [np.split(a[order], cuts) for a in arrays]
        levels = tuple(Level(*parts) for parts in zip(*split, strict=True))
        return PrefixNetwork(n, topology, outputs, levels)


# Summary of the algorithm (sequential / ripple). Combine k joins the running prefix [0..k]
# with leaf k+1 on level k+1: depth n - 1, size n - 1. No schedule to compute, so the arrays
# are written in one shot and cut into one-combine levels.
def sequential(n: int) -> PrefixNetwork:
    k = np.arange(n - 1, dtype=np.int64)
    zero = np.zeros(n - 1, dtype=np.int64)
    left_src = np.where(k == 0, 0, n + k - 1)  # leaf 0, then the previous combine
    arrays = (zero, k, k + 1, k + 1, left_src, k + 1)
    levels = tuple(Level(*(a[i : i + 1] for a in arrays)) for i in range(n - 1))
    return PrefixNetwork(n, "sequential", "all", levels)


# Summary of the algorithm (balanced reduction tree, outputs="last"). Keep the list of active
# columns, whose values tile [0..n-1] left to right. Each level pairs them (0,1), (2,3), ...
# and an odd one out waits for the next level, so the count halves (rounded up) per level:
# depth ceil(log2 n), and every combine removes one value: size n - 1.
def reduction_tree(n: int, topology: str) -> PrefixNetwork:
    builder = ColumnBuilder(n)
    active = np.arange(n, dtype=np.int64)
    while len(active) > 1:
        builder.combine(active[1::2], active[0::2][: len(active) // 2])
        active = active[1::2] if len(active) % 2 == 0 else np.append(active[1::2], active[-1])
    return builder.finish(topology, "last")


# Summary of the algorithm (Sklansky, divide and conquer, aligned to powers of two). On level
# l every block of 2^l columns is split in two halves; the last column of the lower half
# (already the block's prefix) is combined into every column of the upper half. Written on
# global indices, column i takes part on level l iff bit l-1 of i is set, and reads column
# (i with its low l bits cleared) + 2^(l-1) - 1. For n not a power of two this is the 2^K
# network truncated to the first n columns (valid because columns only read lower ones):
# depth K, size = number of one bits in 0..n-1.
def _sklansky(builder: ColumnBuilder, cols: np.ndarray) -> None:
    for l in range(1, (len(cols) - 1).bit_length() + 1):  # ceil(log2 m)
        dst = cols[((cols >> (l - 1)) & 1).astype(bool)]
        builder.combine(dst, ((dst >> l) << l) + (1 << (l - 1)) - 1)


# Summary of the algorithm (Kogge-Stone). Doubling: on level l every column i >= d = 2^(l-1)
# combines the value of column i - d into its own, so after level l each column holds
# [max(0, i - 2^l + 1)..i]. Depth K, size sum over levels of (n - d) = n K - 2^K + 1.
def _kogge_stone(builder: ColumnBuilder, cols: np.ndarray) -> None:
    d = 1
    while d < len(cols):
        builder.combine(cols[d:], cols[:-d])
        d *= 2


# Summary of the algorithm (odd-even step shared by Brent-Kung and Ladner-Fischer P_k, k>=1).
# (1) combine the pairs (0,1), (2,3), ... into the odd columns; (2) solve the prefix problem
# on the reduced sequence: the pair results plus, for odd m, the lone last element (joining
# the recursion keeps the full product at depth ceil(log2 m), as in Ladner and Fischer's
# paper); (3) fill each remaining even column 2i >= 2 from the prefix now in column 2i-1.
def _odd_even(
    builder: ColumnBuilder, cols: np.ndarray, solve_reduced: Callable[[np.ndarray], None]
) -> None:
    m = len(cols)
    builder.combine(cols[1::2], cols[0 : m - 1 : 2])
    solve_reduced(cols[1::2] if m % 2 == 0 else np.append(cols[1::2], cols[-1]))
    paired = m - m % 2
    builder.combine(cols[2:paired:2], cols[1 : paired - 1 : 2])


# Summary of the algorithm (Brent-Kung). The odd-even step applied recursively all the way
# down (the up-sweep is the pairing on the way in, the down-sweep the fills on the way out).
# As soon as possible, each fill runs once its prefix is ready, overlapping the rest of the
# sweep, giving depth 2k - 2 for n = 2^k (k >= 2) instead of the two-phase 2k - 1;
# size 2n - 2 - K.
def _brent_kung(builder: ColumnBuilder, cols: np.ndarray) -> None:
    if len(cols) > 1:
        _odd_even(builder, cols, functools.partial(_brent_kung, builder))


# Summary of the algorithm (Ladner-Fischer 1980, P_0). P_0(m): P_1 on the first ceil(m/2)
# elements, P_0 on the other floor(m/2), then the full product of the first half (ready at
# depth ceil(log2 ceil(m/2)), which is what P_1 guarantees for its last output) is combined
# into every output of the second half. P_k(m), k >= 1: the odd-even step around P_{k-1}.
# Depth exactly ceil(log2 m), size < 4m (4m - F(k+5) + 1 for m = 2^k). The loop over
# recursion blocks is in Python; each block's combines are whole-array steps.
def _ladner_fischer(builder: ColumnBuilder, cols: np.ndarray, k: int = 0) -> None:
    m = len(cols)
    if m < 2:
        return
    if k > 0:
        _odd_even(builder, cols, functools.partial(_ladner_fischer, builder, k=k - 1))
        return
    half = (m + 1) // 2
    _ladner_fischer(builder, cols[:half], 1)
    _ladner_fischer(builder, cols[half:], 0)
    builder.combine(cols[half:], np.full(m - half, cols[half - 1]))


# Summary of the algorithm (Han-Carlson). Brent-Kung's first and last levels around
# Kogge-Stone: pair (0,1), (2,3), ... into the odd columns, run Kogge-Stone on the odd
# columns only, then fill each even column 2i >= 2 from column 2i-1. Size n - 1 plus
# Kogge-Stone on floor(n/2) columns. As soon as possible, each fill runs right after its odd
# column is final, so the deepest output is the last fill: depth ceil(log2(n - 2)) + 1 for
# n >= 4, i.e. K + 1 except K at n = 2^j + 1 and 2^j + 2.
def _han_carlson(builder: ColumnBuilder, cols: np.ndarray) -> None:
    odd = cols[1::2]
    builder.combine(odd, odd - 1)
    _kogge_stone(builder, odd)
    even = cols[2::2]
    builder.combine(even, even - 1)


FAMILIES = {
    "sklansky": _sklansky,
    "kogge-stone": _kogge_stone,
    "brent-kung": _brent_kung,
    "ladner-fischer": _ladner_fischer,
    "han-carlson": _han_carlson,
}
