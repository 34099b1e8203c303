"""Choosing each sum's terms for construction H: the fewest terms within a Kraft budget.

Where this sits in the pipeline. `lower.segment_hybrid` plans ``topology=
"segment-sum-optimal"``: it asks `choose` for the cover of every sum it builds (the outputs,
one pattern per aligned block size, the unaligned segments those use) and builds them. The
derivation is in ``shared/reference/depth-below-2log.md`` (sections 5 and 8).

A target is a sum B[start..end] at depth at most log2 of its budget. Its terms are segments
S with multipliers A[end(S) + 1 .. end]; a term is ready at 1 + max(ceil(log2 |multiplier|),
depth of B[S]), and terms ready at r_i add up, greedily, in depth ceil(log2 sum 2^r_i)
(Kraft). Segments are aligned dyadic blocks [k 2^j, (k + 1) 2^j), at depth beta*(2^j) and
shared by every later sum, or unaligned segments at depth beta*(length), each one a target
of its own.

1. Routes. A target is covered either (a) by the maximal aligned blocks of [start..end],
   each kept whole or split into halves (a block below the target's `top` level: a block
   target's cover is its two halves), or (b) by the first c + 1 parts of a chain whole (the
   optimal chain of `chain_len` steps from `chain_at`, `lower.segment_optimal`, or of
   `other_len` steps where given, or the coarse chain given by its parts) and the maximal
   aligned blocks of the rest, split likewise. (b) is tried where (a) cannot fit at all (the
   coarse chain wherever a target is marked for it), and where neither fits (none seen for
   an output; never for a segment, whose own chain fits by definition) the target sums its
   own optimal chain.
2. Fewest terms within budget. Aligned blocks nest, so the best cover of a block of 2^i steps
   ending x steps before the target's end depends on (i, x) alone: one table per level,
   vectorized over x (`_Tables`), for a given penalty per term. Each target takes the largest
   penalty on a geometric grid whose least-cost cover still fits (a Lagrangian sweep, by
   binary search: the Kraft sum grows with the penalty); then, while its budget allows,
   pairs of terms that are the two halves of a block merge into it, cheapest first
   (`_merge_siblings`: the sweep takes merges of equal rate all or none).

Everything runs over all targets at once: Python loops run over levels, chain lengths, chain
parts and penalties, never over targets, blocks or gates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnncirc.lower.segment_optimal import _ceil_log2_array

#: route (b) candidates kept per target: the first that fit, by number of whole chain parts
#: (fewer parts share more; 8 gives fewer gates than 4, 16 or all at most lengths)
ROOT_CHOICES = 8
#: penalties per term 2^(q / PENALTY_STEPS) Kraft units, q = 0, 1, ...: a finer grid (2, 4,
#: 8 steps) leaves no fewer terms
PENALTY_STEPS = 1
#: a term's penalty weight is between _UNIT and 2 _UNIT, growing with its distance from the
#: target's end: merges that trade Kraft for terms at the same rate are then taken one
#: distance at a time as the penalty grows, not all at once (the Lagrangian's gap)
_UNIT = 64
#: Kraft sums are scaled by this, so that costs are integers
_SCALE = 256 * _UNIT
#: the Kraft sum of a split that runs past step 0 (never chosen)
_NEVER = np.int64(1) << 36


@dataclass(frozen=True)
class Targets:
    """Sums to cover, one row each: B[start..end] within Kraft `budget` (2^depth), aligned
    blocks below level `top` allowed whole, route (b) along the optimal chain of `chain_len`
    steps placed at `chain_at`."""

    start: np.ndarray
    end: np.ndarray
    budget: np.ndarray
    top: np.ndarray
    chain_len: np.ndarray
    chain_at: np.ndarray
    other_len: np.ndarray  # a second chain from chain_at (0: none)
    #: whether route (b) also runs along `choose`'s coarse chain (from step 0), even where
    #: route (a) fits (None: no target does)
    coarse: np.ndarray | None = None


def choose(targets: Targets, n: int, beta: np.ndarray, first: np.ndarray,
           coarse: np.ndarray | None = None):
    """Every target's terms as (target, lo, hi), within its budget and with the fewest terms
    the search finds; beta and first are the optimal table to n (`_table_for`), `coarse` the
    lengths of the parts of a chain from step 0 the targets marked in `Targets.coarse` may
    take."""
    levels = max(1, (n - 1).bit_length())
    block_beta = np.array([0] + [int(beta[1 << j]) for j in range(1, levels + 1)])
    # a term ends at most the longest target's length before its end: the segments' tables
    # are short
    x = np.arange(int((targets.end - targets.start).max(initial=0)) + 2, dtype=np.int64)
    whole_kraft = np.stack([_kraft(int(b), x) for b in block_beta])
    one = _term_weight(x, n)
    chains = _Chains(first, coarse)

    def tables(penalty: int) -> _Tables:
        return _Tables(whole_kraft, one, penalty)

    budget = targets.budget
    everyone = np.arange(len(budget))
    routes = _blocks_route(everyone, targets.start, targets.end, targets.top, levels)
    _, kraft = _Candidates(**routes).best(tables(0), 0, everyone)
    short = np.flatnonzero(kraft > budget)  # route (a) cannot fit: route (b) too
    tried = [(targets.chain_len, short), (targets.other_len, short)]
    if coarse is not None and targets.coarse is not None:
        tried.append((np.where(targets.coarse, _Chains.COARSE, 0), everyone))
    for length, rows in tried:  # route (b) along each chain
        along = rows[length[rows] != 0]
        if len(along):
            more = _chain_routes(along, targets, length[along], targets.chain_at[along], chains,
                                 beta, n, levels)
            routes = _Candidates.join(routes, _first_fitting(more, tables(0), budget,
                                                             ROOT_CHOICES))
    missing = np.setdiff1d(short, routes["target"][routes["parts"] > 0])
    if len(missing):
        routes = _Candidates.join(routes, _own_chains(missing, targets, chains, beta, n,
                                                      levels))
    candidates = _Candidates(**routes)
    penalties = [0] + [round(_SCALE * 2 ** (q / PENALTY_STEPS))
                       for q in range(PENALTY_STEPS * (int(block_beta.max()) + 2))]
    picked, _ = candidates.best(tables(0), 0, everyone)
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
    return _merge_siblings(target, lo, hi, targets.end, budget, targets.top, beta)


def _own_chains(missing: np.ndarray, targets: Targets, chains: _Chains, beta: np.ndarray,
                n: int, levels: int) -> dict:
    """The fallback of the targets that no cover fits (none seen for an output; never for a
    segment): each one's own optimal chain whole, whose Kraft sum K(x) <= 2^beta*(x) fits."""
    length = targets.end[missing] - targets.start[missing] + 1
    own = _chain_routes(missing, targets, length, targets.start[missing], chains, beta, n,
                        levels)
    return _subset(own, own["parts"] == chains.count(own["chain"]))


def _term_weight(gap: np.ndarray, n: int) -> np.ndarray:
    """The penalty weight of a term ending `gap` steps before its target's end."""
    return _UNIT + (_UNIT * gap) // (n + 1)


def _kraft(depth, gap: np.ndarray) -> np.ndarray:
    """Kraft weight 2^r of a term whose segment has `depth` and ends `gap` steps before the
    target's end: r = depth (gap 0, no multiplier) or 1 + max(depth, ceil(log2 gap))."""
    log = _ceil_log2_array(np.maximum(gap, 1))
    return np.int64(1) << np.where(gap == 0, depth, 1 + np.maximum(depth, log))


class _Tables:
    """The best cover, at one penalty, of an aligned block of 2^i steps that ends x steps
    before the target's end: its Kraft sum kraft[i, x], its terms' penalty weight[i, x], and
    whole[i, x] (kept whole, or else split into halves). Rows i = 0..levels, x = 0 up to the
    longest target's length."""

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
            if half < size:  # (a block longer than every target is never split)
                split_kraft[:size - half] = np.minimum(kraft[i - 1, :size - half]
                                                       + kraft[i - 1, half:], _NEVER)
                split_weight[:size - half] = weight[i - 1, :size - half] + weight[i - 1, half:]
            keep = (kraft[i] * _SCALE + penalty * one
                    <= split_kraft * _SCALE + penalty * split_weight)
            kraft[i] = np.where(keep, kraft[i], split_kraft)
            weight[i] = np.where(keep, one, split_weight)
            self.whole[i] = keep


class _Chains:
    """The optimal chain of each length, its parts as (lo, hi) from step 0, left to right;
    under the key COARSE, the chain whose part lengths are given."""

    COARSE = -1

    def __init__(self, first: np.ndarray, coarse: np.ndarray | None = None) -> None:
        self.first = first
        self.known: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if coarse is not None:
            hi = np.cumsum(coarse, dtype=np.int64) - 1
            self.known[self.COARSE] = (hi - coarse + 1, hi)

    def __call__(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        if length not in self.known:
            sizes, x = [], length
            while x > 1:  # over the parts of one chain: about sqrt(2 log2 n) sizes, a few each
                sizes.append(int(self.first[x]))
                x -= sizes[-1]
            sizes.append(1)
            hi = np.cumsum(sizes, dtype=np.int64) - 1
            self.known[length] = (hi - np.array(sizes, dtype=np.int64) + 1, hi)
        return self.known[length]

    def count(self, lengths: np.ndarray) -> np.ndarray:
        """The number of parts of the chain of each length."""
        distinct, inverse = np.unique(lengths, return_inverse=True)
        return np.array([len(self(int(x))[1]) for x in distinct], dtype=np.int64)[inverse]


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


def _blocks_below(start: np.ndarray, stop: np.ndarray, top: np.ndarray, levels: int):
    """`_maximal_blocks` of [start, stop) per row, a block at level `top[row]` or above
    split into halves (only a block target's whole self is)."""
    rows, level, last = _maximal_blocks(start, stop, levels)
    while (high := level >= top[rows]).any():
        half = np.int64(1) << (level[high] - 1)
        rows = np.r_[rows[~high], rows[high], rows[high]]
        last = np.r_[last[~high], last[high] - half, last[high]]
        level = np.r_[level[~high], level[high] - 1, level[high] - 1]
    return rows, level, last


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of arange(starts[k], stops[k]) over k."""
    lengths = stops - starts
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(int(lengths.sum()))


class _Candidates:
    """Covers to choose from. Candidate k covers target[k] with the first parts[k] parts of
    the chain of chain[k] steps placed at offset[k] whole (Kraft sum fixed[k], penalty
    weight fixed_weight[k]) and aligned blocks, its items: item_level and item_last (the
    block's level and last step) and item_end (the target's last step). Candidates are kept
    sorted by target, items by candidate, so that a target's are contiguous."""

    def __init__(self, target, chain, offset, parts, fixed, fixed_weight, item_of, item_level,
                 item_last, item_end) -> None:
        order = np.argsort(target, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        self.target, self.chain, self.parts = target[order], chain[order], parts[order]
        self.offset = offset[order]
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


def _blocks_route(target: np.ndarray, start: np.ndarray, end: np.ndarray, top: np.ndarray,
                  levels: int) -> dict:
    """Route (a) for every target: the blocks of [start, end + 1) below its top."""
    rows, level, last = _blocks_below(start, end + 1, top, levels)
    none = np.zeros(len(target), dtype=np.int64)
    return dict(target=target, chain=none, offset=none, parts=none, fixed=none,
                fixed_weight=none, item_of=rows, item_level=level, item_last=last,
                item_end=end[rows])


def _chain_routes(target: np.ndarray, targets: Targets, length: np.ndarray,
                  offset: np.ndarray, chains: _Chains, beta: np.ndarray, n: int,
                  levels: int) -> dict:
    """Route (b) for each of `target`: one candidate per number of whole parts of the chain
    of `length` steps placed at `offset`, those that end at or before the target's end."""
    pieces = []
    end, top = targets.end[target], targets.top
    for c in np.unique(length):  # over chain lengths: the root, a few block and segment sizes
        rows = np.flatnonzero(length == c)
        lo, hi = chains(int(c))
        placed = hi[None, :] + offset[rows][:, None]
        row, part = np.nonzero(placed <= end[rows][:, None])
        kraft = np.zeros((len(rows), len(hi)), dtype=np.int64)
        weight = np.zeros((len(rows), len(hi)), dtype=np.int64)
        gap = end[rows][row] - placed[row, part]
        kraft[row, part] = _kraft(np.where(lo == hi, 0, beta[hi - lo + 1])[part], gap)
        weight[row, part] = _term_weight(gap, n)
        pieces.append((target[rows][row], np.full(len(row), c), offset[rows][row], part + 1,
                       np.cumsum(kraft, axis=1)[row, part], np.cumsum(weight, axis=1)[row, part],
                       placed[row, part] + 1, end[rows][row]))
    tgt, chain, at, parts, fixed, fixed_weight, start, last = (
        np.concatenate(p) for p in zip(*pieces, strict=True))
    rows, level, block_last = _blocks_below(start, last + 1, top[tgt], levels)
    return dict(target=tgt, chain=chain, offset=at, parts=parts, fixed=fixed,
                fixed_weight=fixed_weight, item_of=rows, item_level=level,
                item_last=block_last, item_end=last[rows])


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


def _merge_siblings(target, lo, hi, end, budget, top, beta):
    """Fewer terms where a target has room left: two terms that are the halves of an
    aligned block become that block while the target's Kraft sum stays within its budget,
    cheapest first (each merge saves one term), round after round (a merged block may have
    a sibling). Per target: `end` its last step, `budget` 2^depth, and blocks below level
    `top` allowed."""
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


def _terms(candidates: _Candidates, chosen: np.ndarray, chains: _Chains, tables: _Tables,
           levels: int):
    """The terms of the `chosen` candidates as (target, lo, hi): their whole chain parts, and
    their aligned blocks, split one level at a time where the tables say."""
    pieces = []
    rooted = chosen[candidates.parts[chosen] > 0]
    for c in np.unique(candidates.chain[rooted]):  # whole chain parts, by chain length
        which = rooted[candidates.chain[rooted] == c]
        lo, hi = chains(int(c))
        row, part = np.nonzero(np.arange(len(hi))[None, :] < candidates.parts[which][:, None])
        at = candidates.offset[which[row]]
        pieces.append((candidates.target[which[row]], lo[part] + at, hi[part] + at))
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
