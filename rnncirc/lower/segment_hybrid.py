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

1. Sums. Every output h_t (B[0..t], budget 2^D); every aligned dyadic block size 2^j (one
   pattern for all blocks [k 2^j, (k + 1) 2^j), shifted, budget 2^beta*(2^j)); and every
   unaligned segment some sum takes whole (budget 2^beta*(length)): the parts of the root
   chain, the optimal chain of S, the longest length of depth D (for the outputs near the
   end, which aligned blocks cannot serve), of a block's chain (its own or that of the
   longest length of its depth, for the sizes 2^3, 2^9, 2^14, ... that two halves do not
   fit), and of a segment's own chain, in rounds until no new segment appears.
2. Terms. `lower.segment_cover` gives each sum the fewest terms it finds within its budget:
   aligned blocks where they fit, the first parts of a chain whole where they do not. A
   segment built this way takes blocks every sum shares where its own chain would take
   segments of its own, recursively, as construction U does.
   The outputs past 2^(L-1) (L = ceil(log2 n)) may also take the coarse chain, a few long
   parts of one depth covering [0, 2^(L-1)) (`_coarse_chain`), where the root chain served
   them with tens of short ones. Its parts are segments of their own to build, which only
   pays where many outputs take them, so the plan is made with and without it and the one
   with fewer gates kept (``bench/README.md`` says where each wins).
3. Build: range products, then blocks and segments by depth (a sum's terms are shallower
   than it), then every output; every sum greedy, earliest-ready first
   (`PlanBuilder.greedy_sum`). A range product is balanced, split at the most aligned point
   that keeps it at depth ceil(log2 length), and shared; where its term's unaligned segment
   is ready later than that, it splits at the most aligned point of the whole range
   instead, into two widely shared ranges (`_multipliers`): each output term then costs
   about one new gate of each kind.

Depth. Every part of the root chain whole fits h_{S-1} within 2^D; an output t takes the
parts that end by t (each ready no later than for h_{S-1}) and covers the rest with aligned
blocks, which fits at every n tested (every n <= 8192, and the lengths S(m) - 1, S(m),
S(m) + 1 to 2^17, S(m) the longest of depth m). A target that no cover fits (none seen) sums
its own optimal chain instead, whose Kraft sum K(x) <= 2^beta*(x) always fits, as does a
segment's own chain: the depth is beta*(n) at every n, only the gates would grow.

Everything runs over all sums at once: Python loops run over levels, rounds, depths, chain
lengths and penalties, never over outputs, blocks, segments or gates.
"""

from __future__ import annotations

import functools

import numpy as np

from rnncirc.lower.segment_cover import Targets, _kraft, choose
from rnncirc.lower.segment_optimal import (
    _build_ranges,
    _ceil_log2_array,
    _key,
    _member,
    _most_aligned,
    _table_for,
    _unique,
    _unique_inverse,
)
from rnncirc.lower.segment_sum import OUTPUTS, Plan, PlanBuilder


@functools.lru_cache(maxsize=8)
def hybrid_plan(n: int, outputs: str = "all") -> Plan:
    """The plan of construction H for n steps: every output at depth beta*(n)
    (``outputs="last"``: h_n alone), see the module docstring."""
    if n < 1 or outputs not in OUTPUTS:
        raise ValueError(f"a segment-sum plan needs n >= 1 and outputs in {OUTPUTS}, got "
                         f"n={n}, outputs={outputs!r}")
    ends = np.arange(n, dtype=np.int64) if outputs == "all" else np.array([n - 1])
    best = _build(n, outputs, ends, *_choose(n, ends))
    coarse = _coarse_chain(n)
    if coarse is not None:  # fewer terms in the outputs past it, but its parts are segments
        other = _build(n, outputs, ends, *_choose(n, ends, coarse))  # of their own to build
        if other.size < best.size and other.depth <= best.depth:
            best = other
    return best


def _coarse_chain(n: int) -> np.ndarray | None:
    """The part lengths of the coarse chain over [0, 2^(L-1)), L = ceil(log2 n), for the
    outputs past it: the fewest parts of one depth (equal lengths, each at most the longest
    of that depth) whose Kraft sum in h_n is at most 3/4 of 2^D, D = beta*(n), which leaves a
    quarter, 2^(D-2), for the rest [2^(L-1) .. t] in aligned blocks. Its parts are a few
    levels deeper than the root chain's first parts, and as many times longer as that
    allows. None where no output lies past 2^(L-1) or no chain of two parts or more fits."""
    beta, _ = _table_for(n)
    half = 1 << max(0, (n - 1).bit_length() - 1)
    depth = int(beta[n])
    if n <= half or half < 2:
        return None
    longest = np.searchsorted(beta, np.arange(depth), side="right") - 1  # of each depth
    for part_depth in range(depth - 1, 0, -1):  # fewest parts first
        count = -(-half // int(longest[part_depth]))
        sizes = np.full(count, half // count, dtype=np.int64)
        sizes[:half % count] += 1
        gap = n - np.cumsum(sizes)  # from each part's last step to h_n's
        if 4 * int(_kraft(beta[sizes], gap).sum()) <= 3 << depth:
            return sizes if count > 1 else None  # (one part: the aligned block outputs have)
    return None


def _choose(n: int, ends: np.ndarray, coarse: np.ndarray | None = None):
    """The terms of every sum: (outputs' and block patterns' terms as (target, lo, hi), with
    target len(ends) + k the pattern of the k-th size in `blocks`, in the coordinates of
    block 0; the block sizes; the segments' terms as (segment key, lo, hi)). `coarse`: the
    part lengths of a chain from step 0 that the outputs past it may take."""
    beta, first = _table_for(n)
    levels = max(1, (n - 1).bit_length())
    blocks = np.arange(1, n.bit_length(), dtype=np.int64)  # sizes 2^j <= n
    size = np.int64(1) << blocks
    m, zeros = len(ends), np.zeros(len(ends) + len(blocks), dtype=np.int64)
    # chains of the longest length of each depth the table holds (beta is nondecreasing),
    # S(m), whose parts are the longest of their depths, the most steps per Kraft unit: the
    # chain of n takes shorter ones just below such a length; a block tries its own chain
    # too (whose parts may be cheaper to build)
    longest = np.searchsorted(beta, beta[np.r_[n, size]], side="right") - 1
    roots = Targets(start=zeros, end=np.r_[ends, size - 1],
                    budget=np.int64(1) << np.r_[np.full(m, int(beta[n])), beta[size]],
                    top=np.r_[np.full(m, levels + 1), blocks],
                    chain_len=np.r_[np.full(m, longest[0]), longest[1:]], chain_at=zeros,
                    other_len=np.r_[np.zeros(m, dtype=np.int64), size],
                    coarse=None if coarse is None else np.r_[ends + 1 >= coarse.sum(),
                                                             np.zeros(len(blocks), dtype=bool)])
    target, lo, hi = choose(roots, n, beta, first, coarse)
    # the unaligned segments taken whole, where they lie: block patterns in every block
    found = [(lo[target < m], hi[target < m])]
    found += [(b_lo, b_hi) for _, b_lo, b_hi, _ in _block_sums(n, m, blocks, target, lo, hi)]
    seen, rounds = np.zeros(0, dtype=np.int64), []
    s_lo, s_hi = (np.concatenate(c) for c in zip(*found, strict=True))
    while True:  # one round per nesting depth of segments
        new = _unique(_key(s_lo, s_hi, n)[~_aligned(s_lo, s_hi)])
        new = new[~_member(new, seen)]
        if not len(new):
            break
        seen = _unique(np.r_[seen, new])
        s_lo, s_hi = new // n, new % n
        length = s_hi - s_lo + 1
        segments = Targets(start=s_lo, end=s_hi, budget=np.int64(1) << beta[length],
                           top=np.full(len(new), levels + 1), chain_len=length, chain_at=s_lo,
                           other_len=np.zeros(len(new), dtype=np.int64))
        owner, s_lo, s_hi = choose(segments, n, beta, first)
        rounds.append((new[owner], s_lo, s_hi))
    seg = tuple(np.concatenate(c) for c in zip(*rounds, strict=True)) if rounds \
        else (np.zeros(0, dtype=np.int64),) * 3
    return (target, lo, hi), blocks, seg


# --------------------------------------------------------------------------------------------
# Building the plan
# --------------------------------------------------------------------------------------------


def _build(n: int, outputs: str, ends: np.ndarray, terms, blocks: np.ndarray, seg) -> Plan:
    """Range products, then blocks and segments by depth, then the outputs."""
    beta, _ = _table_for(n)
    target, lo, hi = terms
    m = len(ends)
    out = target < m
    sums = [(target[out], lo[out], hi[out], ends[target[out]])]  # (group, lo, hi, sum's end)
    sums += _block_sums(n, m, blocks, target, lo, hi)
    segments, owner = _unique_inverse(seg[0])
    sums.append((owner, seg[1], seg[2], segments[owner] % n))
    every = [np.concatenate(c) for c in zip(*sums, strict=True)]
    p = PlanBuilder(n)
    range_ids = _multipliers(p, every[1], every[2], every[3], ~_aligned(every[1], every[2]),
                             beta, n)
    block_ids = {0: np.arange(n, dtype=np.int64)}  # block_ids[j][k]: block k of 2^j
    segment_ids = np.full(len(segments), -1, dtype=np.int64)

    def sum_of(group, t_lo, t_hi, end, count):
        value = np.empty(len(group), dtype=np.int64)
        aligned = _aligned(t_lo, t_hi)
        level = np.frexp((t_hi - t_lo + 1).astype(np.float64))[1] - 1
        for i in _unique(level[aligned]):  # over block sizes
            at = aligned & (level == i)
            value[at] = block_ids[int(i)][t_lo[at] >> i]
        value[~aligned] = segment_ids[np.searchsorted(segments, _key(t_lo[~aligned],
                                                                     t_hi[~aligned], n))]
        mult = np.full(len(group), -1, dtype=np.int64)
        has = t_hi < end
        mult[has] = range_ids["ids"][np.searchsorted(range_ids["keys"],
                                                     _key(t_hi[has] + 1, end[has], n))]
        return p.greedy_sum(group, p.term(mult, value), count)

    s_beta = beta[segments % n - segments // n + 1]
    block_beta = beta[np.int64(1) << blocks]
    for r in _unique(np.r_[s_beta, block_beta]):  # by depth: a sum's terms are shallower
        for k in np.flatnonzero(block_beta == r):
            block_ids[int(blocks[k])] = sum_of(*sums[k + 1], n >> int(blocks[k]))
        rows = np.flatnonzero(s_beta[owner] == r)
        if len(rows):
            groups, group = _unique_inverse(owner[rows])
            segment_ids[groups] = sum_of(group, seg[1][rows], seg[2][rows],
                                         segments[owner[rows]] % n, len(groups))
    return p.finish(outputs, sum_of(*sums[0], m))


def _block_sums(n: int, m: int, blocks: np.ndarray, target, lo, hi) -> list:
    """Per block size 2^j (target m + k for the k-th of `blocks`): its pattern's terms placed
    in every block of that size, as (block index, lo, hi, the block's last step)."""
    sums = []
    for k, j in enumerate(blocks):  # every block of 2^j: the pattern, shifted
        rows = np.flatnonzero(target == m + k)
        count = n >> int(j)
        shift = np.repeat(np.arange(count, dtype=np.int64) << j, len(rows))
        sums.append((np.repeat(np.arange(count), len(rows)), np.tile(lo[rows], count) + shift,
                     np.tile(hi[rows], count) + shift, shift + (1 << j) - 1))
    return sums


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
