"""The optimum of the segment-sum family: every output at depth beta*(t + 1).

Where this sits in the pipeline. A second plan for `lower.segment_lower` beside the aligned
one of `lower.segment_sum` (``topology="segment-sum-optimal"``; construction U of
``shared/reference/depth-below-2log.md``): one level shallower at n = 4096 (17 against 18)
and two at 2^16 (22 against 23) for h_n, at a price in gates (h_n alone: about 3 n; all
outputs: several times Sklansky's, growing with log n: use it where depth is all that counts).

Summary of the algorithm. B[x..y] is split into consecutive segments S_1 ... S_k, and

    B[x..y] = sum_i A[end(S_i) + 1 .. y] * B[S_i]        (the last segment has no multiplier)

Term i is ready at 1 + max(ceil(log2 |suffix|), beta(S_i)), and terms ready at r_i add up in
depth ceil(log2 sum 2^r_i) (Kraft). K(x), the least Kraft sum covering the last x steps of a
segment, is K(1) = 1 and K(x) = min_s K(x - s) + 2^(1 + max(ceil(log2(x - s)), beta(s))) with
beta(x) = ceil(log2 K(x)) (`optimal_table`: O(N^2) numpy, once per power of two N). Its
argmin s is the leftmost segment; the rest follows the same table, so a segment of length x
splits into a chain of lengths fixed by x alone, ending in its last step. Segments recurse
until one step; every multiplier A[x..y] is a balanced product split at the most aligned point
of the window that keeps both halves within 2^(k-1) (k = ceil(log2 |x..y|)), so it is ready at
exactly k and ranges are shared across segments and outputs. Segments are memoised on
(start, end): h_t = B[0..t] for every t shares whatever sub-segments coincide.

Everything is done for all segments at once, in rounds: splitting by recursion depth, building
range products by ceil(log2 length), and segments by beta (a segment's parts have smaller
beta), so the Python loops run over rounds, never over segments or gates.
"""

from __future__ import annotations

import functools

import numpy as np

from rnncirc.lower.segment_sum import OUTPUTS, Plan, PlanBuilder


def _ceil_log2_array(x: np.ndarray) -> np.ndarray:
    """ceil(log2 x) for integers x >= 1, exactly."""
    x = np.asarray(x, dtype=np.int64)
    out = np.zeros(x.shape, dtype=np.int64)
    rest = x - 1
    while np.any(rest > 0):
        out += rest > 0
        rest >>= 1
    return out


@functools.lru_cache(maxsize=4)
def optimal_table(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(beta, first) for lengths 0..limit: beta[x] the family's optimum depth for a segment
    of x steps, first[x] the length of its leftmost part (0 for x <= 1). Read-only."""
    beta = np.zeros(limit + 1, dtype=np.int64)
    first = np.zeros(limit + 1, dtype=np.int64)
    kraft = np.ones(limit + 1, dtype=np.int64)
    log = _ceil_log2_array(np.arange(limit + 1).clip(1))
    for x in range(2, limit + 1):  # the DP over lengths: each x one vector op over s
        s = np.arange(x - 1, 0, -1)  # largest first: among equal sums, fewer parts
        rest = x - s
        candidate = kraft[rest] + (np.int64(2) << np.maximum(log[rest], beta[s]))
        best = int(np.argmin(candidate))
        kraft[x] = candidate[best]
        beta[x] = int(kraft[x] - 1).bit_length()
        first[x] = s[best]
    for a in (beta, first):
        a.flags.writeable = False
    return beta, first


def _table_for(n: int) -> tuple[np.ndarray, np.ndarray]:
    return optimal_table(1 << max(1, (n - 1).bit_length()))


def optimal_depth(n: int) -> int:
    """beta*(n): the least depth of h_n over the segment-sum family (reference table)."""
    return int(_table_for(n)[0][n])


@functools.lru_cache(maxsize=8)
def optimal_plan(n: int, outputs: str = "all") -> Plan:
    """The plan of the family's optimum for n steps: every output h_t at depth
    beta*(t + 1), ``outputs="last"`` h_n alone (see the module docstring)."""
    if n < 1 or outputs not in OUTPUTS:
        raise ValueError(f"a segment-sum plan needs n >= 1 and outputs in {OUTPUTS}, got "
                         f"n={n}, outputs={outputs!r}")
    beta, first = _table_for(n)
    ends = np.arange(n, dtype=np.int64) if outputs == "all" else np.array([n - 1])
    segments, parts, ranges = _split(np.zeros(len(ends), dtype=np.int64), ends, first)
    p = PlanBuilder(n)
    range_ids = _build_ranges(p, ranges, n)
    seg_ids = _build_segments(p, segments, parts, ranges, range_ids, beta, n)
    found = np.searchsorted(segments, _key(0, ends, n)).clip(max=max(len(segments) - 1, 0))
    result = np.where(ends == 0, 0, seg_ids[found] if len(segments) else 0)  # h_1 is b_1
    return p.finish(outputs, result)


def _key(lo, hi, n: int):
    """One integer per segment [lo..hi]."""
    return np.asarray(lo, dtype=np.int64) * n + hi


def _split(lo: np.ndarray, hi: np.ndarray, first: np.ndarray):
    """Every segment of length >= 2 reached from [lo..hi] by the table's chains, and each
    one's parts: (sorted segment keys; parts as (segment key, part lo, part hi); sorted keys
    of the multiplier ranges [part hi + 1 .. segment hi])."""
    n = int(hi.max()) + 1
    todo = np.unique(_key(lo, hi, n))
    todo = todo[todo % n > todo // n]  # one step is a leaf, not a segment
    seen, part_rows, range_keys = [], [], []
    while len(todo):  # one round per recursion depth
        seen.append(todo)
        s_lo, s_hi = todo // n, todo % n
        start, owner = s_lo.copy(), np.arange(len(todo))
        rows = []
        while len(owner):  # one round per part of the longest chain
            length = s_hi[owner] - start + 1
            size = np.where(length > 1, first[length], 1)
            rows.append((todo[owner], start, start + size - 1))
            start = start + size
            more = start <= s_hi[owner]
            owner, start = owner[more], start[more]
        keys, p_lo, p_hi = (np.concatenate(c) for c in zip(*rows, strict=True))
        part_rows.append((keys, p_lo, p_hi))
        outer = p_hi < keys % n  # every part but the last has a multiplier
        range_keys.append(_key(p_hi[outer] + 1, (keys % n)[outer], n))
        inner = np.unique(_key(p_lo, p_hi, n)[p_hi > p_lo])
        done = np.concatenate(seen)
        todo = inner[~np.isin(inner, done)]
    segments = np.unique(np.concatenate(seen)) if seen else np.zeros(0, np.int64)
    parts = tuple(np.concatenate(c) for c in zip(*part_rows, strict=True)) if part_rows \
        else (np.zeros(0, np.int64),) * 3
    ranges = np.unique(np.concatenate(range_keys)) if range_keys else np.zeros(0, np.int64)
    return segments, parts, ranges


def _aligned_split(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The first step z of the right half of [lo..hi], each half within 2^(k-1) steps: the
    most aligned z (most trailing zeros) in the window [hi + 1 - 2^(k-1), lo + 2^(k-1)]."""
    half = np.int64(1) << (_ceil_log2_array(hi - lo + 1) - 1)
    low, high = np.maximum(hi + 1 - half, lo + 1), np.minimum(lo + half, hi)
    z = np.full(len(lo), -1, dtype=np.int64)
    for bit in range(int(hi.max(initial=1)).bit_length(), -1, -1):  # over bit positions
        candidate = ((low + (1 << bit) - 1) >> bit) << bit
        fits = (z < 0) & (candidate <= high)
        z[fits] = candidate[fits]
    return z


def _build_ranges(p: PlanBuilder, wanted: np.ndarray, n: int) -> dict:
    """A nodes of the products A[lo..hi] for the sorted keys `wanted` and every range their
    balanced splits reach, built by ceil(log2 length) ascending: key -> (sorted keys, ids)."""
    found, todo = [wanted], wanted[wanted % n > wanted // n]
    while len(todo):  # close the set under splitting, longest ranges first
        lo, hi = todo // n, todo % n
        z = _aligned_split(lo, hi)
        halves = np.unique(np.concatenate([_key(lo, z - 1, n), _key(z, hi, n)]))
        found.append(halves)
        todo = halves[halves % n > halves // n]
    keys = np.unique(np.concatenate(found))
    ids = np.where(keys % n == keys // n, keys // n, -1)  # one step: the leaf a_t
    lo, hi = keys // n, keys % n
    log = _ceil_log2_array(hi - lo + 1)
    for k in range(1, int(log.max(initial=0)) + 1):  # halves are built a level earlier
        at = np.flatnonzero(log == k)
        z = _aligned_split(lo[at], hi[at])
        left = ids[np.searchsorted(keys, _key(lo[at], z - 1, n))]
        right = ids[np.searchsorted(keys, _key(z, hi[at], n))]
        ids[at] = p.op("aa", left, right)
    return {"keys": keys, "ids": ids}


def _build_segments(p: PlanBuilder, segments: np.ndarray, parts, ranges: np.ndarray,
                    range_ids: dict, beta: np.ndarray, n: int) -> np.ndarray:
    """B nodes of every segment (sorted keys), built by beta ascending: a segment's parts
    have smaller beta, so they are built in an earlier round."""
    ids = np.full(len(segments), -1, dtype=np.int64)
    owner_key, p_lo, p_hi = parts
    owner = np.searchsorted(segments, owner_key)
    s_beta = beta[segments % n - segments // n + 1]
    for r in np.unique(s_beta):  # one round per depth value
        rows = np.flatnonzero(s_beta[owner] == r)
        lo, hi, seg = p_lo[rows], p_hi[rows], owner[rows]
        single = lo == hi
        sub = np.where(single, lo, 0)
        sub[~single] = ids[np.searchsorted(segments, _key(lo[~single], hi[~single], n))]
        end = segments[seg] % n
        mult = np.full(len(rows), -1, dtype=np.int64)
        outer = hi < end
        mult[outer] = range_ids["ids"][np.searchsorted(range_ids["keys"],
                                                       _key(hi[outer] + 1, end[outer], n))]
        groups, group = np.unique(seg, return_inverse=True)
        ids[groups] = p.greedy_sum(group, p.term(mult, sub), len(groups))
    return ids
