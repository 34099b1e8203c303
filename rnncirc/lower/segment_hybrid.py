"""The optimum of the segment-sum family for all outputs: construction H ("hybrid").

Where this sits in the pipeline. The plan behind ``topology="segment-sum-optimal"``, built by
`lower.segment_lower` like the aligned plan of `lower.segment_sum`: every output at depth
beta*(n), the least depth of h_n over the segment-sum family, one or two levels below
`segment-sum`, for more gates (measured in ``bench/README.md``, `prefix_bench.py
--segment-sum`; most per step at the lengths where beta* is about to step up). The
derivation and the reference numbers are in ``shared/reference/depth-below-2log.md``
(sections 5 and 8).

Summary of the algorithm. B[x..y] is the state at y when the state before x is zero,
A[x..y] = a_x ... a_y, and h_t = sum over a partition of [0..t] into segments S of
A[end(S) + 1 .. t] * B[S] (the segment ending at t has no multiplier). A term is ready at
1 + max(ceil(log2 |multiplier|), depth of B[S]), and terms ready at r_i add up, greedily, in
depth ceil(log2 sum 2^r_i) (Kraft). The plan is at depth D = beta*(n): every output's terms
have a Kraft sum <= 2^D.

1. Two families of segments. (a) Aligned dyadic blocks [k 2^j, (k + 1) 2^j), each at depth
   beta*(2^j), shared by every later output. (b) Unaligned segments at depth beta*(length)
   (`lower.segment_optimal`): the parts of the optimal chain of [0..n-1] ("root parts", whose
   lengths a power of two would overshoot), used by the outputs that (a) cannot serve at
   depth D, those just below a length where beta* steps up.
2. Targets. A target is a sum to build: every output h_t (partition of [0..t], budget
   2^D), and every block size 2^j (partition of one block, budget 2^beta*(2^j); all blocks of
   a size share it, shifted). A target is covered either (a) by its maximal aligned blocks,
   each kept whole or split into halves (a block must split), or (b) by the first c + 1
   parts of its optimal chain whole and the maximal aligned blocks of the rest, split
   likewise; (b) is tried where (a) cannot fit at all.
3. Fewest terms within budget. Aligned blocks nest, so the best cover of a block of 2^i steps
   ending x steps before the target's end depends on (i, x) alone: one table per level,
   vectorized over x (`_Tables`), for a given penalty per term. Each target takes the largest
   penalty on a geometric grid whose least-cost cover still fits (a Lagrangian sweep, by
   binary search: the Kraft sum grows with the penalty); then, while its budget allows,
   pairs of terms that are the two halves of a block merge into it, cheapest first
   (`_merge_siblings`: the sweep takes merges of equal rate all or none).
4. Build: range products, unaligned segments, blocks by size, then every output; every sum
   greedy, earliest-ready first (`PlanBuilder.greedy_sum`). A range product is balanced,
   split at the most aligned point that keeps it at depth ceil(log2 length), and shared;
   where its term's unaligned segment is ready later than that, it splits at the most
   aligned point of the whole range instead, into two widely shared ranges
   (`_multipliers`): each output term then costs about one new gate of each kind.

Depth. Route (b) with every root part whole is the optimal chain of [0..n-1], so h_{n-1}
fits 2^beta*(n); an output inside root part c takes parts 0..c-1 (each ready no later than
for h_{n-1}) and covers the rest with aligned blocks, which fits at every n tested (every
n <= 8192, and the lengths S(m) - 1, S(m), S(m) + 1 to 2^17, S(m) the longest of depth m).
A target that no cover of (a) or (b) fits (none seen) sums its own optimal chain instead,
construction U's pattern, whose Kraft sum K(x) <= 2^beta*(x) always fits: the depth is
beta*(n) at every n, only the gates would grow. Blocks of most sizes fit their budget as two
halves; the others (2^3, 2^9, 2^14, ...) take route (b) inside the block.

Everything runs over all targets at once: Python loops run over levels, chain parts and
penalties, never over outputs, blocks or gates.
"""

from __future__ import annotations

import functools

import numpy as np

from rnncirc.lower.segment_optimal import (
    _build_ranges,
    _build_segments,
    _ceil_log2_array,
    _key,
    _member,
    _most_aligned,
    _split,
    _table_for,
    _unique,
)
from rnncirc.lower.segment_sum import OUTPUTS, Plan, PlanBuilder

#: penalties per term 2^(q / PENALTY_STEPS) Kraft units, q = 0, 1, ...: a finer grid leaves
#: fewer terms where a target has room to spare
PENALTY_STEPS = 1
#: route (b) candidates kept per target: the first that fit, by number of root parts (fewer
#: root parts share more; 8 gives fewer gates than 16 or all)
ROOT_CHOICES = 8
#: a term's penalty weight is between _UNIT and 2 _UNIT, growing with its distance from the
#: target's end: merges that trade Kraft for terms at the same rate are then taken one
#: distance at a time as the penalty grows, not all at once (the Lagrangian's gap)
_UNIT = 64
#: Kraft sums are scaled by this, so that costs are integers
_SCALE = 256 * _UNIT
#: the Kraft sum of a split that runs past step 0 (never chosen)
_NEVER = np.int64(1) << 36


@functools.lru_cache(maxsize=8)
def hybrid_plan(n: int, outputs: str = "all") -> Plan:
    """The plan of construction H for n steps: every output at depth beta*(n)
    (``outputs="last"``: h_n alone), see the module docstring."""
    if n < 1 or outputs not in OUTPUTS:
        raise ValueError(f"a segment-sum plan needs n >= 1 and outputs in {OUTPUTS}, got "
                         f"n={n}, outputs={outputs!r}")
    ends = np.arange(n, dtype=np.int64) if outputs == "all" else np.array([n - 1])
    terms = _choose(n, ends)
    return _build(n, outputs, ends, terms)


# --------------------------------------------------------------------------------------------
# Choosing each target's cover
# --------------------------------------------------------------------------------------------


class _Tables:
    """The best cover, at one penalty, of an aligned block of 2^i steps that ends x steps
    before the target's end: its Kraft sum kraft[i, x], its terms' penalty weight[i, x], and
    whole[i, x] (kept whole, or else split into halves). Rows i = 0..levels, x = 0..n."""

    def __init__(self, whole_kraft: np.ndarray, one: np.ndarray, penalty: int) -> None:
        levels = len(whole_kraft) - 1
        size = whole_kraft.shape[1]
        self.kraft = whole_kraft.copy()
        self.weight = np.tile(one, (levels + 1, 1))
        self.whole = np.ones(whole_kraft.shape, dtype=bool)
        kraft, weight = self.kraft, self.weight
        for i in range(1, levels + 1):  # over levels, each one vector op over x
            half = 1 << (i - 1)  # the right half ends x before the end, the left x + half
            split_kraft = np.full(size, _NEVER)
            split_weight = np.zeros(size, dtype=np.int64)
            split_kraft[:size - half] = np.minimum(kraft[i - 1, :size - half]
                                                   + kraft[i - 1, half:], _NEVER)
            split_weight[:size - half] = weight[i - 1, :size - half] + weight[i - 1, half:]
            keep = (kraft[i] * _SCALE + penalty * one
                    <= split_kraft * _SCALE + penalty * split_weight)
            kraft[i] = np.where(keep, kraft[i], split_kraft)
            weight[i] = np.where(keep, one, split_weight)
            self.whole[i] = keep


def _term_weight(gap: np.ndarray, n: int) -> np.ndarray:
    """The penalty weight of a term ending `gap` steps before its target's end."""
    return _UNIT + (_UNIT * gap) // (n + 1)


def _kraft(depth, gap: np.ndarray) -> np.ndarray:
    """Kraft weight 2^r of a term whose segment has `depth` and ends `gap` steps before the
    target's end: r = depth (gap 0, no multiplier) or 1 + max(depth, ceil(log2 gap))."""
    log = _ceil_log2_array(np.maximum(gap, 1))
    return np.int64(1) << np.where(gap == 0, depth, 1 + np.maximum(depth, log))


def _maximal_blocks(start: np.ndarray, stop: np.ndarray, levels: int):
    """The maximal aligned blocks of [start, stop) per row, as (rows, level i, last step)
    for blocks of 2^i steps. Below the highest bit where start and stop differ they climb
    from start to an aligned point (the bits of top - start, lowest first) and descend to
    stop (the bits of stop - top, highest first)."""
    differ = start ^ stop
    high = np.maximum(np.frexp(differ.astype(np.float64))[1] - 1, 0)  # exact below 2^53
    top = np.where(differ > 0, (stop >> high) << high, stop)
    up, down = top - start, stop - top
    found = []
    for i in range(levels + 1):
        rows = np.flatnonzero((up >> i) & 1)
        found.append((rows, i, start[rows] + (up[rows] & ((2 << i) - 1)) - 1))
        rows = np.flatnonzero((down >> i) & 1)
        found.append((rows, i, top[rows] + ((down[rows] >> (i + 1)) << (i + 1)) + (1 << i) - 1))
    return (np.concatenate([r for r, _, _ in found]),
            np.concatenate([np.full(len(r), i) for r, i, _ in found]),
            np.concatenate([e for _, _, e in found]))


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of arange(starts[k], stops[k]) over k."""
    lengths = stops - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(int(lengths.sum()))


class _Candidates:
    """Covers to choose from. Candidate k covers target[k] with the first parts[k] parts of
    chains[chain[k]] whole (Kraft sum fixed[k], penalty weight fixed_weight[k]) and aligned
    blocks, its items: item_level and item_last (the block's level and last step, in the
    target's coordinates) and item_end (the target's last step). Candidates are kept sorted
    by target, items by candidate, so that a target's are contiguous."""

    def __init__(self, target, chain, parts, fixed, fixed_weight, item_of, item_level,
                 item_last, item_end) -> None:
        order = np.argsort(target, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        self.target, self.chain, self.parts = target[order], chain[order], parts[order]
        self.fixed, self.fixed_weight = fixed[order], fixed_weight[order]
        by = np.argsort(rank[item_of], kind="stable")
        self.item_level, self.item_last, self.item_end = (item_level[by], item_last[by],
                                                          item_end[by])
        count = len(self.target)
        self.item_start = np.searchsorted(rank[item_of][by], np.arange(count + 1))
        self.start = np.searchsorted(self.target, np.arange(int(self.target.max()) + 2))

    @staticmethod
    def join(first: dict, second: dict) -> dict:
        """The arguments of both candidate sets (second's items renumbered after first's)."""
        joined = {key: np.r_[first[key], second[key]] for key in first}
        joined["item_of"] = np.r_[first["item_of"], len(first["target"]) + second["item_of"]]
        return joined

    def best(self, tables: _Tables, penalty: int, targets: np.ndarray):
        """For each target in `targets` (sorted): its least-cost candidate (the first among
        equals) and that candidate's Kraft sum."""
        cands = _ranges(self.start[targets], self.start[targets + 1])
        items = _ranges(self.item_start[cands], self.item_start[cands + 1])
        local = np.repeat(np.arange(len(cands)), np.diff(self.item_start)[cands])
        level, x = self.item_level[items], self.item_end[items] - self.item_last[items]
        kraft = np.rint(np.bincount(local, tables.kraft[level, x], len(cands))
                        ).astype(np.int64) + self.fixed[cands]
        weight = np.rint(np.bincount(local, tables.weight[level, x], len(cands))
                         ).astype(np.int64) + self.fixed_weight[cands]
        cost = kraft * _SCALE + penalty * weight
        first = np.concatenate(([0], np.cumsum(np.diff(self.start)[targets])[:-1]))
        least = np.repeat(np.minimum.reduceat(cost, first), np.diff(self.start)[targets])
        at = np.flatnonzero(cost == least)
        at = at[np.concatenate(([True], self.target[cands[at]][1:] != self.target[cands[at]][:-1]))]
        return cands[at], kraft[at]

    def items_of(self, cands: np.ndarray):
        """(candidate of each item, level, last, end) of the items of `cands`."""
        items = _ranges(self.item_start[cands], self.item_start[cands + 1])
        owner = np.repeat(cands, np.diff(self.item_start)[cands])
        return owner, self.item_level[items], self.item_last[items], self.item_end[items]


def _chain(length: int, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of the parts of the optimal chain of [0..length-1], left to right."""
    sizes, x = [], length
    while x > 1:  # over the parts of one chain: about sqrt(2 log2 n) sizes, a few of each
        sizes.append(int(first[x]))
        x -= sizes[-1]
    sizes.append(1)
    hi = np.cumsum(sizes, dtype=np.int64) - 1
    return hi - np.array(sizes, dtype=np.int64) + 1, hi


def _aligned_routes(ends: np.ndarray, blocks: np.ndarray, levels: int) -> dict:
    """Route (a) for every target: outputs t cover [0, t + 1); block sizes 2^j cover their
    two halves (a block is not its own part)."""
    rows, level, last = _maximal_blocks(np.zeros(len(ends), dtype=np.int64), ends + 1, levels)
    half = (np.int64(1) << blocks) >> 1
    b_rows = np.tile(len(ends) + np.arange(len(blocks)), 2)
    count = len(ends) + len(blocks)
    none = np.zeros(count, dtype=np.int64)
    item_of = np.r_[rows, b_rows]
    return dict(target=np.arange(count), chain=np.full(count, -1), parts=none, fixed=none,
                fixed_weight=none, item_of=item_of, item_level=np.r_[level, np.tile(blocks - 1, 2)],
                item_last=np.r_[last, half - 1, 2 * half - 1],
                item_end=np.r_[ends, 2 * half - 1][item_of])


def _chain_routes(target: np.ndarray, end: np.ndarray, chain_id: np.ndarray, chains: list,
                  beta: np.ndarray, n: int, levels: int) -> dict:
    """Route (b) for each target (its last step `end`, its chain chains[chain_id]): one
    candidate per number of whole parts, those that end at or before the target's end."""
    pieces = []
    for c in np.unique(chain_id):  # over chains: the root one and a few block sizes
        rows = np.flatnonzero(chain_id == c)
        lo, hi = chains[c]
        row, part = np.nonzero(hi[None, :] <= end[rows][:, None])
        kraft = np.zeros((len(rows), len(hi)), dtype=np.int64)
        weight = np.zeros((len(rows), len(hi)), dtype=np.int64)
        gap = end[rows][row] - hi[part]
        kraft[row, part] = _kraft(beta[hi - lo + 1][part], gap)
        weight[row, part] = _term_weight(gap, n)
        pieces.append((target[rows][row], np.full(len(row), c), part + 1,
                       np.cumsum(kraft, axis=1)[row, part], np.cumsum(weight, axis=1)[row, part],
                       hi[part] + 1, end[rows][row]))
    tgt, chain, parts, fixed, fixed_weight, start, last = (
        np.concatenate(p) for p in zip(*pieces, strict=True))
    rows, level, block_last = _maximal_blocks(start, last + 1, levels)
    return dict(target=tgt, chain=chain, parts=parts, fixed=fixed, fixed_weight=fixed_weight,
                item_of=rows, item_level=level, item_last=block_last, item_end=last[rows])


def _first_fitting(routes: dict, tables: _Tables, budget: np.ndarray, count: int) -> dict:
    """Of each target's candidates (in order of parts), the first `count` that fit its
    budget at penalty 0 (no candidate fits at a larger penalty that does not fit there)."""
    x = routes["item_end"] - routes["item_last"]
    kraft = np.rint(np.bincount(routes["item_of"], tables.kraft[routes["item_level"], x],
                                len(routes["target"]))).astype(np.int64) + routes["fixed"]
    fits = kraft <= budget[routes["target"]]
    rank = np.cumsum(fits) - 1  # candidates of one target are consecutive, in order of parts
    target = routes["target"]
    start = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
    before = np.repeat(np.r_[0, rank[start[1:] - 1] + 1], np.diff(np.r_[start, len(target)]))
    return _subset(routes, fits & (rank - before < count))


def _subset(routes: dict, keep: np.ndarray) -> dict:
    """The candidates where `keep` is true, with their items."""
    new = np.cumsum(keep) - 1
    items = keep[routes["item_of"]]
    subset = {key: value[keep] for key, value in routes.items() if not key.startswith("item")}
    subset.update({key: value[items] for key, value in routes.items()
                   if key.startswith("item")})
    subset["item_of"] = new[routes["item_of"][items]]
    return subset


def _choose(n: int, ends: np.ndarray):
    """Every target's cover: its terms as (target, lo, hi), block patterns in the
    coordinates of block 0 (target len(ends) + k for the k-th size in `blocks`)."""
    beta, first = _table_for(n)
    levels = max(1, (n - 1).bit_length())
    block_beta = np.array([0] + [int(beta[1 << j]) for j in range(1, levels + 1)])
    blocks = np.arange(1, n.bit_length(), dtype=np.int64)  # sizes 2^j <= n
    budget = np.int64(1) << np.r_[np.full(len(ends), int(beta[n])), block_beta[blocks]]
    end = np.r_[ends, (np.int64(1) << blocks) - 1]  # each target's last step
    x = np.arange(n + 1, dtype=np.int64)
    whole_kraft = np.stack([_kraft(int(b), x) for b in block_beta])
    one = _term_weight(x, n)

    def tables(penalty: int) -> _Tables:
        return _Tables(whole_kraft, one, penalty)

    routes = _aligned_routes(ends, blocks, levels)
    targets = np.arange(len(budget))
    _, kraft = _Candidates(**routes).best(tables(0), 0, targets)
    short = np.flatnonzero(kraft > budget)  # route (a) cannot fit: route (b) too
    # chain 0 is the root chain, chain k the chain of the k-th block size
    chains = [_chain(n, first)] + [_chain(1 << int(j), first) for j in blocks]
    if len(short):
        chain_id = np.maximum(short - len(ends) + 1, 0)
        more = _chain_routes(short, end[short], chain_id, chains, beta, n, levels)
        routes = _Candidates.join(routes, _first_fitting(more, tables(0), budget, ROOT_CHOICES))
    missing = np.setdiff1d(short, routes["target"][routes["parts"] > 0])
    if len(missing):  # never seen: the target's own optimal chain, whose Kraft sum
        chain_id = len(chains) + np.arange(len(missing))  # K(x) <= 2^beta*(x) fits
        chains += [_chain(int(e) + 1, first) for e in end[missing]]
        own = _chain_routes(missing, end[missing], chain_id, chains, beta, n, levels)
        whole = own["parts"] == np.array([len(hi) for _, hi in chains])[own["chain"]]
        routes = _Candidates.join(routes, _subset(own, whole))
    candidates = _Candidates(**routes)
    penalties = [0] + [round(_SCALE * 2 ** (q / PENALTY_STEPS))
                       for q in range(PENALTY_STEPS * (int(block_beta.max()) + 2))]
    picked, _ = candidates.best(tables(0), 0, targets)
    low, high = np.zeros(len(budget), dtype=np.int64), np.full(len(budget), len(penalties))
    while (low + 1 < high).any():  # per target, binary search for the largest penalty that
        active = np.flatnonzero(low + 1 < high)  # fits (its Kraft sum grows with it)
        middle = (low + high)[active] // 2
        for index in np.unique(middle):  # each penalty at most once in the whole search
            group = active[middle == index]
            at, kraft = candidates.best(tables(penalties[index]), penalties[index], group)
            fits = kraft <= budget[group]
            low[group[fits]], picked[group[fits]] = index, at[fits]
            high[group[~fits]] = index
    pieces = [_terms(candidates, picked[low == index], chains, tables(penalties[index]), levels)
              for index in np.unique(low)]
    target, lo, hi = (np.concatenate(c) for c in zip(*pieces, strict=True))
    top = np.r_[np.full(len(ends), levels + 1), blocks]  # a block is not its own part
    target, lo, hi = _merge_siblings(target, lo, hi, end, budget, top, beta)
    return target, lo, hi, blocks


def _merge_siblings(target, lo, hi, end, budget, top, beta):
    """Fewer terms where a target has room left: two terms that are the halves of an
    aligned block become that block while the target's Kraft sum stays within its budget,
    cheapest first (each merge saves one term), round after round (a merged block may have
    a sibling). Per target: `end` its last step, `budget` 2^depth, and blocks below level
    `top` allowed (a block is not its own part)."""
    while True:  # over rounds: at most one per block level
        size = hi - lo + 1
        weight = _kraft(np.where(size == 1, 0, beta[size]), end[target] - hi)
        slack = budget - np.bincount(target, weight, len(budget)).astype(np.int64)
        parent = np.where((size & (size - 1) == 0) & (lo & (size - 1) == 0), lo // (2 * size),
                          -1)
        order = np.lexsort((parent, size, target))
        same = np.flatnonzero((target[order][1:] == target[order][:-1])
                              & (size[order][1:] == size[order][:-1])
                              & (parent[order][1:] == parent[order][:-1])
                              & (parent[order][1:] >= 0))
        left, right = order[same], order[same + 1]  # the halves of one block
        level = np.frexp(2.0 * size[left])[1] - 1
        ok = level < top[target[left]]
        left, right = left[ok], right[ok]
        merged_lo, merged_hi = np.minimum(lo[left], lo[right]), np.maximum(hi[left], hi[right])
        cost = (_kraft(beta[2 * size[left]], end[target[left]] - merged_hi)
                - weight[left] - weight[right])
        by = np.lexsort((cost, target[left]))  # per target, cheapest first
        owner, cost = target[left][by], cost[by]
        first = np.flatnonzero(np.concatenate(([True], owner[1:] != owner[:-1]))) if len(by) \
            else by
        total = np.cumsum(cost)
        spent = total - np.repeat(total[first] - cost[first], np.diff(np.append(first, len(by))))
        take = by[spent <= slack[owner]]
        if not len(take):
            return target, lo, hi
        drop = np.zeros(len(target), dtype=bool)
        drop[left[take]] = drop[right[take]] = True
        target = np.concatenate((target[~drop], target[left[take]]))
        lo = np.concatenate((lo[~drop], merged_lo[take]))
        hi = np.concatenate((hi[~drop], merged_hi[take]))


def _terms(candidates: _Candidates, chosen: np.ndarray, chains: list, tables: _Tables,
           levels: int):
    """The terms of the `chosen` candidates as (target, lo, hi): their whole chain parts, and
    their aligned blocks, split one level at a time where the tables say."""
    pieces = []
    rooted = chosen[candidates.parts[chosen] > 0]
    for c in np.unique(candidates.chain[rooted]):  # whole chain parts
        which = rooted[candidates.chain[rooted] == c]
        lo, hi = chains[c]
        row, part = np.nonzero(np.arange(len(hi))[None, :] < candidates.parts[which][:, None])
        pieces.append((candidates.target[which[row]], lo[part], hi[part]))
    of, level, last, end = candidates.items_of(chosen)
    for i in range(levels, 0, -1):  # over levels, largest first
        at = level == i
        split = at & ~tables.whole[i, np.where(at, end - last, 0)]
        done = at & ~split
        pieces.append((candidates.target[of[done]], last[done] - (1 << i) + 1, last[done]))
        of, end = (np.concatenate((a[~at], a[split], a[split])) for a in (of, end))
        last = np.concatenate((last[~at], last[split], last[split] - (1 << (i - 1))))
        level = np.concatenate((level[~at], np.full(2 * int(split.sum()), i - 1)))
    pieces.append((candidates.target[of], last, last))
    return tuple(np.concatenate(p) for p in zip(*pieces, strict=True))


# --------------------------------------------------------------------------------------------
# Building the plan
# --------------------------------------------------------------------------------------------


def _build(n: int, outputs: str, ends: np.ndarray, terms) -> Plan:
    """Range products, then unaligned segments, then blocks by size, then the outputs."""
    beta, first = _table_for(n)
    target, lo, hi, blocks = terms
    m = len(ends)
    out = target < m
    sums = [(target[out], lo[out], hi[out], ends[target[out]])]  # (group, lo, hi, sum's end)
    for k, j in enumerate(blocks):  # every block of 2^j: the pattern, shifted
        rows = np.flatnonzero(target == m + k)
        count = n >> int(j)
        shift = np.repeat(np.arange(count, dtype=np.int64) << j, len(rows))
        sums.append((np.repeat(np.arange(count), len(rows)), np.tile(lo[rows], count) + shift,
                     np.tile(hi[rows], count) + shift, shift + (1 << j) - 1))
    every = [np.concatenate(c) for c in zip(*sums, strict=True)]
    unaligned = ~_aligned(every[1], every[2])
    wanted = _unique(_key(every[1][unaligned], every[2][unaligned], n))
    segments, parts, ranges = _split(wanted // n, wanted % n, first, n)
    owner, p_lo, p_hi = parts  # the segments' own terms, unaligned too
    p = PlanBuilder(n)
    range_ids = _multipliers(p, np.r_[every[1], p_lo], np.r_[every[2], p_hi],
                             np.r_[every[3], owner % n], np.r_[unaligned, p_lo >= 0],
                             beta, n)
    segment_ids = _build_segments(p, segments, parts, ranges, range_ids, beta, n)
    block_ids = [np.arange(n, dtype=np.int64)]  # block_ids[j][k]: block k of 2^j (leaves)

    def sum_of(group, t_lo, t_hi, end, count):
        value = np.empty(len(group), dtype=np.int64)
        aligned = _aligned(t_lo, t_hi)
        size = t_hi - t_lo + 1
        level = np.frexp(size.astype(np.float64))[1] - 1
        for i in _unique(level[aligned]):  # over block sizes
            at = aligned & (level == i)
            value[at] = block_ids[i][t_lo[at] >> i]
        found = np.searchsorted(segments, _key(t_lo[~aligned], t_hi[~aligned], n))
        value[~aligned] = segment_ids[found]
        mult = np.full(len(group), -1, dtype=np.int64)
        has = t_hi < end
        mult[has] = range_ids["ids"][np.searchsorted(range_ids["keys"],
                                                     _key(t_hi[has] + 1, end[has], n))]
        return p.greedy_sum(group, p.term(mult, value), count)

    for k, j in enumerate(blocks):  # blocks by size: their parts are smaller
        block_ids.append(sum_of(*sums[k + 1], n >> int(j)))
    return p.finish(outputs, sum_of(*sums[0], m))


def _multipliers(p: PlanBuilder, lo, hi, end, unaligned, beta, n: int) -> dict:
    """A nodes of every term's multiplier A[hi + 1 .. end] (the term's segment [lo..hi]),
    as (sorted keys, ids).

    A multiplier is built balanced, at depth ceil(log2 length) (`_build_ranges`), except
    where the term's unaligned segment is ready later than that: then one more level is
    free, and the product splits at the most aligned point z of the whole range. Its right
    part A[z..end] lies in an aligned block (z is the most aligned point), a range every
    output's multipliers share, and its left part A[hi + 1 .. z - 1] is shared by the terms
    of that segment whose end passes the same z: one new gate per term, where a balanced
    split of a range from an unaligned start shares little."""
    outer = hi < end
    length = end - hi
    loose = outer & unaligned & (length > 1) & (beta[hi - lo + 1] > _ceil_log2_array(length))
    exact = _unique(_key(hi[outer & ~loose] + 1, end[outer & ~loose], n))
    wanted = _unique(_key(hi[loose] + 1, end[loose], n))
    wanted = wanted[~_member(wanted, exact)]
    w_lo, w_hi = wanted // n, wanted % n
    z = _most_aligned(w_lo + 1, w_hi)
    built = _build_ranges(p, _unique(np.r_[exact, _key(w_lo, z - 1, n), _key(z, w_hi, n)]), n)

    def ids(keys):
        return built["ids"][np.searchsorted(built["keys"], keys)]

    made = (p.op("aa", ids(_key(w_lo, z - 1, n)), ids(_key(z, w_hi, n))) if len(wanted)
            else wanted)
    keys = np.r_[built["keys"], wanted]
    order = np.argsort(keys, kind="stable")
    return {"keys": keys[order], "ids": np.r_[built["ids"], made][order]}


def _aligned(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether [lo..hi] is an aligned dyadic block (one step is one)."""
    size = hi - lo + 1
    return (size & (size - 1) == 0) & (lo & (size - 1) == 0)
