"""Optimal unaligned segments: the dynamic program of the segment-sum family and the
segments and range products it asks for.

Where this sits in the pipeline. The building blocks of ``topology="segment-sum-optimal"``
(`lower.segment_hybrid` builds its segment values with them; `lower.segment_matrix` its
matrix version); construction U of ``shared/reference/depth-below-2log.md``.

Summary of the algorithm. B[x..y] is split into consecutive segments S_1 ... S_k, and

    B[x..y] = sum_i A[end(S_i) + 1 .. y] * B[S_i]        (the last segment has no multiplier)

Term i is ready at 1 + max(ceil(log2 |suffix|), beta(S_i)), and terms ready at r_i add up in
depth ceil(log2 sum 2^r_i) (Kraft). K(x), the least Kraft sum covering the last x steps of a
segment, is K(1) = 1 and K(x) = min_s K(x - s) + 2^(1 + max(ceil(log2(x - s)), beta(s))) with
beta(x) = ceil(log2 K(x)) (`segment_table`: O(N log N), once per power of two N). Its argmin
s is the leftmost segment; the rest follows the same table, so a segment of length x splits
into a chain of lengths fixed by x alone, ending in its last step. Segments recurse until one
step (`_split`); every multiplier A[x..y] is a balanced product split at the most aligned
point of the window that keeps both halves within 2^(k-1) (k = ceil(log2 |x..y|)), so it is
ready at exactly k and ranges are shared (`_build_ranges`). Segments are memoised on (start,
end) and built by beta ascending (`_build_segments`).

Everything is done for all segments at once, in rounds: splitting by recursion depth, building
range products by ceil(log2 length), and segments by beta (a segment's parts have smaller
beta), so the Python loops run over rounds, never over segments or gates.
"""

from __future__ import annotations

import functools

import numpy as np

from rnncirc.lower.segment_sum import PlanBuilder


def _ceil_log2_array(x: np.ndarray) -> np.ndarray:
    """ceil(log2 x) for integers x < 2^53 (0 for x <= 1), exactly: the bit length of x - 1,
    the exponent frexp gives (a float holds such integers exactly)."""
    rest = np.maximum(np.asarray(x, dtype=np.int64) - 1, 0)
    return np.frexp(rest.astype(np.float64))[1].astype(np.int64)


def optimal_table(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(beta, first) for lengths 0..limit: beta[x] the family's optimum depth for a segment
    of x steps, first[x] the length of its leftmost part (0 for x <= 1). Read-only: the
    table of `segment_table` for scalars."""
    return segment_table(limit, 1, 1)


@functools.lru_cache(maxsize=8)
def segment_table(limit: int, product_depth: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(beta, first) for lengths 0..limit when a product of two range values takes
    `product_depth` levels (c) and a term is a sum over `width` (d) products: 1 and 1 for
    scalars, 1 + ceil(log2 d) and d for d x d matrices (`lower.segment_matrix`). beta[x] is
    the least depth of a segment of x steps (leaves at level 0), first[x] the length of its
    leftmost part (0 for x <= 1). Read-only.

    K(x) = min_s K(x - s) + d 2^(1 + max(c ceil(log2(x - s)), beta(s))) is nondecreasing in
    x (a pattern for x + 1 steps gives one for x by dropping a step from its leftmost part),
    and so is beta. So among the s whose term is ready at 1 + m, the best leaves the
    shortest rest r = x - s: s the longest length below x with beta(s) <= m, kept if
    c ceil(log2 r) <= m. That is one candidate per m, O(log N), instead of every s: the
    table costs O(N log N), a plain loop because each x reads the entries before it. Ties go
    to the longest s (fewest parts). Python integers: the Kraft sums pass 64 bits where
    c L does.
    """
    beta = [0] * (limit + 1)
    first = [0] * (limit + 1)
    kraft = [1] * (limit + 1)
    longest = [1]  # longest[m]: the longest length so far whose beta is at most m
    for x in range(2, limit + 1):
        best = part = 0
        for m, s in enumerate(longest):  # s < x, so the rest is at least one step
            if x - s <= 1 << (m // product_depth):
                total = kraft[x - s] + (width << (1 + m))
                if not best or total <= best:  # a larger m leaves a shorter rest
                    best, part = total, s
        kraft[x], first[x] = best, part
        beta[x] = b = (best - 1).bit_length()
        if b >= len(longest):
            longest.extend([longest[-1]] * (b + 1 - len(longest)))
        for m in range(b, len(longest)):
            longest[m] = x
    tables = np.array(beta, dtype=np.int64), np.array(first, dtype=np.int64)
    for a in tables:
        a.flags.writeable = False
    return tables


def _table_for(n: int) -> tuple[np.ndarray, np.ndarray]:
    return optimal_table(1 << max(1, (n - 1).bit_length()))


def optimal_depth(n: int) -> int:
    """beta*(n): the least depth of h_n over the segment-sum family (reference table)."""
    return int(_table_for(n)[0][n])


def _unique(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: numpy 2's hashing np.unique is ~50x slower on
    large int64 keys)."""
    keys = np.sort(keys, kind="stable")
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, the index of each key among them)."""
    order = np.argsort(keys, kind="stable")
    new = np.r_[True, keys[order][1:] != keys[order][:-1]] if len(keys) else np.zeros(0, bool)
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return keys[order][new], inverse


def _member(keys: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """keys in sorted_set (sorted, distinct), elementwise."""
    at = np.searchsorted(sorted_set, keys).clip(max=max(len(sorted_set) - 1, 0))
    return sorted_set[at] == keys if len(sorted_set) else np.zeros(len(keys), dtype=bool)


def _key(lo, hi, n: int):
    """One integer per segment [lo..hi]."""
    return np.asarray(lo, dtype=np.int64) * n + hi


def _split(lo: np.ndarray, hi: np.ndarray, first: np.ndarray, n: int | None = None):
    """Every segment of length >= 2 reached from [lo..hi] by the table's chains, and each
    one's parts: (sorted segment keys; parts as (segment key, part lo, part hi); sorted keys
    of the multiplier ranges [part hi + 1 .. segment hi]). Keys are `_key(lo, hi, n)`, n by
    default one past the last step of the segments."""
    if n is None:
        n = int(hi.max()) + 1
    todo = _unique(_key(lo, hi, n))
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
        inner = _unique(_key(p_lo, p_hi, n)[p_hi > p_lo])
        todo = inner[~_member(inner, _unique(np.concatenate(seen)))]
    segments = _unique(np.concatenate(seen)) if seen else np.zeros(0, np.int64)
    parts = tuple(np.concatenate(c) for c in zip(*part_rows, strict=True)) if part_rows \
        else (np.zeros(0, np.int64),) * 3
    ranges = _unique(np.concatenate(range_keys)) if range_keys else np.zeros(0, np.int64)
    return segments, parts, ranges


def _aligned_split(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The first step z of the right half of [lo..hi], each half within 2^(k-1) steps: the
    most aligned z (most trailing zeros) in the window [hi + 1 - 2^(k-1), lo + 2^(k-1)]."""
    half = np.int64(1) << (_ceil_log2_array(hi - lo + 1) - 1)
    return _most_aligned(np.maximum(hi + 1 - half, lo + 1), np.minimum(lo + half, hi))


def _most_aligned(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The point of each window [low..high] (not empty) with the most trailing zeros."""
    z = np.full(len(low), -1, dtype=np.int64)
    for bit in range(int(high.max(initial=1)).bit_length(), -1, -1):  # over bit positions
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
        halves = _unique(np.concatenate([_key(lo, z - 1, n), _key(z, hi, n)]))
        found.append(halves)
        todo = halves[halves % n > halves // n]
    keys = _unique(np.concatenate(found))
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
    for r in _unique(s_beta):  # one round per depth value
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
        groups, group = _unique_inverse(seg)
        ids[groups] = p.greedy_sum(group, p.term(mult, sub), len(groups))
    return ids
