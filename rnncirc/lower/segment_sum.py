"""Segment-sum lowering of a scalar or diagonal linear recurrence: depth below 2 log2 n.

Where this sits in the pipeline. Beside `lower.prefix`: this module plans which products and
sums to build, independent of the model; `lower.segment_lower` builds the plan over a
model's channels with the leaves and assembly of `lower.linear`. Every scan
puts a multiply and then an add on the b-path at each of its ceil(log2 n) levels. Here the
b-contributions of many segments are kept apart and added once, in a depth-optimal tree, so
the depth is about L + sqrt(2 L) + 1 instead of 2 L (L = ceil(log2 n), gates fan-in-2 ``+``
and ``*``). The derivation and the numbers tested against are in
``shared/reference/depth-below-2log.md`` (construction F, "aligned Fenwick").

Summary of the algorithm (per channel; all channels, blocks and outputs at once).
Write B[x..y] for the state at y when the state before x is zero and A[x..y] = a_x ... a_y.

1. Range products: Sklansky networks on the a's give, for every aligned block of 2^j steps,
   the product of every prefix (PRE[j][t] = A[block start..t]) and of every suffix
   (SUF[j][t] = A[t..block end]) at depth ceil(log2 length).
2. Block values: every aligned block of 2^j steps gets B[block], the sum over a partition of
   the block into aligned dyadic sub-blocks S of SUF(after S) * B[S] (the rightmost
   sub-block has no multiplier). All blocks of one size share one partition, chosen by a
   dynamic program (`aligned_pattern`) that minimizes the Kraft sum sum_i 2^(r_i) of the
   terms' ready times r_i, which is what the depth of their sum depends on.
3. Outputs: h_t = sum over the Fenwick blocks of [0..t] (one per set bit of t + 1) of
   PRE(after the block) * B[block].
4. Every multi-term sum is built by "add the two earliest-ready terms" (`PlanBuilder.greedy_sum`),
   which reaches ceil(log2 sum_i 2^(r_i)), the least depth for terms ready at r_i.

The construction is first laid out once per (n, outputs) as a *plan*: batches of
position-level operations (A*A, A*B, B+B) over node ids, with each node's level, independent
of the model. Nodes no output reads are pruned from the plan. The plan is then instantiated
into the gate builder one batch at a time, each batch one vectorized call over its nodes and
every channel (the diagonal entries of A, the columns of B). So depth and size of the
construction are known exactly before anything is built (`Plan.depth`, `Plan.size`).

Depth (all outputs, n = 2^L) max(beta(L), beta(L - 1) + 2), beta(j) the depth of a 2^j
block: 18 at n = 4096 against 24 for the scan; size within 3% of the Sklansky circuit's
(about 1.5 n log2 n gates per channel): a whole aligned block's product is shared by the
prefix and the suffix networks, and a block pattern takes the fewest terms its depth allows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

#: "segment-sum": the aligned construction here; "segment-sum-optimal": the family's optimum,
#: `lower.segment_hybrid` (shallower by one or two levels, about 1.2 to 2.5 times the gates)
TOPOLOGIES = ("segment-sum", "segment-sum-optimal")
#: kinds whose A is a scalar or a diagonal: one scalar recurrence per channel
KINDS = ("scalar", "diagonal")
OUTPUTS = ("all", "last")


def _ceil_log2(x: int) -> int:
    return (x - 1).bit_length() if x > 0 else 0


# --------------------------------------------------------------------------------------------
# The aligned block patterns
# --------------------------------------------------------------------------------------------


@functools.cache
def aligned_pattern(j: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """(depth, partition) of the B value of an aligned block of 2^j steps.

    The partition lists the sub-blocks right to left as (i, x): a sub-block of 2^i steps with
    x steps of the block after it (its multiplier is the block's suffix of length x, ready at
    ceil(log2 x)). Its term is ready at beta(i) (x = 0) or 1 + max(beta(i), ceil(log2 x)),
    beta(i) the depth of a 2^i block. The depth is the least Kraft sum's: ceil(log2 min K).
    Among the partitions of that depth, fewer terms are fewer gates: a Lagrangian search over
    a per-term penalty 2^q takes the largest penalty whose partition keeps the depth.
    Cached: every n shares the patterns.
    """
    if j == 0:
        return 0, ()
    beta = tuple(aligned_pattern(i)[0] for i in range(j))
    kraft, pattern = _pattern_dp(j, beta, 0)
    depth = _ceil_log2(kraft)
    low, high = 0, depth + 1  # penalty 2^low keeps the depth; search the largest that does
    while low < high:
        q = (low + high + 1) // 2
        kraft_q, pattern_q = _pattern_dp(j, beta, 1 << q)
        if _ceil_log2(kraft_q) <= depth:
            low, pattern = q, pattern_q
        else:
            high = q - 1
    return depth, pattern


def _pattern_dp(j: int, beta: tuple[int, ...], penalty: int) -> tuple[int, tuple]:
    """Partition of a 2^j block minimizing Kraft sum + penalty * terms: (Kraft sum, pattern).

    The dynamic program runs over x, the part of the block already covered from the right;
    an aligned sub-block of 2^i can follow only where 2^i divides x. O(2^j) states, a
    loop over the positions of one block pattern (once per j and penalty), not over gates.
    """
    size = 1 << j
    cost = [0] * (size + 1)  # cost[x]: the best (Kraft + penalty * terms) covering [0, size - x)
    kraft = [0] * (size + 1)
    choice = [0] * (size + 1)
    for x in range(size - 1, -1, -1):
        best = None
        i = 0
        while i < j and x % (1 << i) == 0 and x + (1 << i) <= size:
            ready = beta[i] if x == 0 else 1 + max(beta[i], _ceil_log2(x))
            candidate = cost[x + (1 << i)] + (1 << ready) + penalty
            if best is None or candidate < best:
                best, choice[x] = candidate, i
                kraft[x] = kraft[x + (1 << i)] + (1 << ready)
            i += 1
        cost[x] = best
    pattern, x = [], 0
    while x < size:
        pattern.append((choice[x], x))
        x += 1 << choice[x]
    return kraft[0], tuple(pattern)


def depth_bound(n: int) -> int:
    """The depth guaranteed for all outputs: ceil(L + sqrt(2 L)) + 1, L = ceil(log2 n)."""
    level = _ceil_log2(n)
    return int(np.ceil(level + np.sqrt(2 * level))) + 1


# --------------------------------------------------------------------------------------------
# The plan: position-level operations, independent of the model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Batch:
    """One vectorized step of a plan: node ``first + k`` = x[k] (op) y[k].

    kind "aa": A node = A[x] * A[y]; "ab": B node = A[x] * B[y]; "bb": B node = B[x] + B[y].
    """

    kind: str
    x: np.ndarray
    y: np.ndarray
    first: int


class PlanBuilder:
    """Plan under construction. A nodes 0..n-1 are the leaves a_t, B nodes 0..n-1 the b_t.

    `product_depth`: the levels an A * A product takes (1 for scalars; 1 + ceil(log2 d) for
    d x d matrices, `lower.segment_matrix`); every other operation takes one.
    """

    def __init__(self, n: int, product_depth: int = 1) -> None:
        self.n = n
        self.product_depth = product_depth
        self.batches: list[Batch] = []
        self.level = {"a": [np.zeros(n, np.int64)], "b": [np.zeros(n, np.int64)]}
        self.count = {"a": n, "b": n}

    def levels(self, side: str) -> np.ndarray:
        if len(self.level[side]) > 1:
            self.level[side] = [np.concatenate(self.level[side])]
        return self.level[side][0]

    def op(self, kind: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        side = "a" if kind == "aa" else "b"
        x_side = "a" if kind in ("aa", "ab") else "b"
        cost = self.product_depth if kind == "aa" else 1
        level = cost + np.maximum(self.levels(x_side)[x], self.levels(kind[1])[y])
        first = self.count[side]
        self.batches.append(Batch(kind, x, y, first))
        self.level[side].append(level)
        self.count[side] += len(x)
        return first + np.arange(len(x), dtype=np.int64)

    def term(self, mult: np.ndarray, b: np.ndarray) -> np.ndarray:
        """B node ids of mult * b, or b itself where mult is -1 (no multiplier)."""
        out = b.copy()
        has = mult >= 0
        if has.any():
            out[has] = self.op("ab", mult[has], b[has])
        return out

    def greedy_sum(self, group: np.ndarray, ids: np.ndarray, groups: int) -> np.ndarray:
        """Sum the B nodes ``ids`` of each group (every group has one at least): per group,
        repeatedly add the two earliest-ready terms. Done for all groups at once, one round
        per ready time r: the group's terms ready at r are paired in order, a lone one waits
        until r + 1 at no cost. That is binary addition of the terms' 2^r, so the result is
        ready at ceil(log2 sum 2^r): Kraft's bound, the least any tree of adds can reach."""
        order = np.argsort(group, kind="stable")
        group, ids = group[order], ids[order]
        ready = self.levels("b")[ids].copy()
        r = int(ready.min(initial=0))
        while True:
            counts = np.bincount(group, minlength=groups)
            open_ = counts[group] > 1
            if not open_.any():
                break
            now = np.flatnonzero(open_ & (ready == r))
            if len(now):
                g = group[now]
                start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
                run = np.repeat(start, np.diff(np.r_[start, len(g)]))
                pos = np.arange(len(g)) - run
                nxt = np.r_[g[1:], -1]
                first = (pos % 2 == 0) & (nxt == g)
                left, right = now[first], now[np.flatnonzero(first) + 1]
                ids[left] = self.op("bb", ids[left], ids[right])
                keep = np.ones(len(ids), dtype=bool)
                keep[right] = False
                ready[now] = r + 1  # sums and lone terms alike
                group, ids, ready = group[keep], ids[keep], ready[keep]
            r += 1
        out = np.full(groups, -1, dtype=np.int64)
        out[group] = ids
        return out

    def finish(self, outputs: str, result: np.ndarray) -> Plan:
        """The plan pruned to what the B nodes `result` (the outputs) read."""
        return _prune(self, outputs, result)


@dataclass(frozen=True, eq=False)
class Plan:
    """A pruned plan: batches in order, with each node's level; `result` the output B nodes
    (one per output step). ``live[side]`` marks the nodes kept; pruned nodes are in no
    batch's operands and are never built."""

    n: int
    outputs: str
    batches: tuple[Batch, ...]
    level: dict
    live: dict
    result: np.ndarray

    @property
    def depth(self) -> int:
        """Levels of the deepest output, leaves at level 0."""
        return int(self.level["b"][self.result].max(initial=0))

    def gates(self, kind: str) -> int:
        """Live nodes made by batches of `kind` ("aa", "ab" or "bb")."""
        side = "a" if kind == "aa" else "b"
        return sum(int(np.count_nonzero(self.live[side][b.first:b.first + len(b.x)]))
                   for b in self.batches if b.kind == kind)

    @property
    def size(self) -> int:
        """Gates per channel of a model whose a and b leaves are its inputs."""
        return sum(self.gates(kind) for kind in ("aa", "ab", "bb"))

    def live_batches(self):
        """The batches to build, in order, with their live nodes only (a batch with none is
        left out): (kind, side "a" or "b" of the nodes made, the nodes' indices in the
        batch, their operands x and y, their ids)."""
        for batch in self.batches:
            side = "a" if batch.kind == "aa" else "b"
            used = np.flatnonzero(self.live[side][batch.first:batch.first + len(batch.x)])
            if len(used):
                yield batch.kind, side, used, batch.x[used], batch.y[used], batch.first + used


@functools.lru_cache(maxsize=8)
def plan(n: int, outputs: str = "all") -> Plan:
    """The segment-sum plan for n steps (see the module docstring), pruned to `outputs`."""
    if n < 1 or outputs not in OUTPUTS:
        raise ValueError(f"a segment-sum plan needs n >= 1 and outputs in {OUTPUTS}, got "
                         f"n={n}, outputs={outputs!r}")
    p = PlanBuilder(n)
    levels = _ceil_log2(n)
    pre, suf = _range_products(p, n, levels)
    blocks = [np.arange(n, dtype=np.int64)]  # blocks[j][k]: B node of block k of 2^j
    for j in range(1, levels + 1):
        count = n >> j
        if count == 0:
            break
        _, pattern = aligned_pattern(j)
        k = np.repeat(np.arange(count), len(pattern))
        i = np.tile([i for i, _ in pattern], count)
        x = np.tile([x for _, x in pattern], count)
        start = (k << j) + (1 << j) - x - (1 << i)
        sub = np.empty(len(k), dtype=np.int64)
        for level in range(j):  # sub-block sizes, not gates
            at = i == level
            sub[at] = blocks[level][start[at] >> level]
        mult = np.where(x > 0, suf[j][np.minimum((k << j) + (1 << j) - x, n - 1)], -1)
        blocks.append(p.greedy_sum(k, p.term(mult, sub), count))
    t = np.arange(n, dtype=np.int64) if outputs == "all" else np.array([n - 1])
    groups, terms, mults = [], [], []
    for i in range(len(blocks)):  # block sizes 2^i <= n
        has = ((t + 1) >> i) & 1 == 1
        ti = t[has]
        groups.append(np.flatnonzero(has))
        terms.append(blocks[i][((ti + 1) >> (i + 1)) << 1])
        low = (ti + 1) & ((1 << i) - 1)
        mults.append(np.where(low > 0, pre[i][ti], -1))
    group, mult = np.concatenate(groups), np.concatenate(mults)
    result = p.greedy_sum(group, p.term(mult, np.concatenate(terms)), len(t))
    return p.finish(outputs, result)


def _range_products(p: PlanBuilder, n: int, levels: int) -> tuple[list, list]:
    """Sklansky prefix and suffix products inside every aligned block, for every block size:
    pre[j][t] = A[block start..t], suf[j][t] = A[t..block end] (-1 where the block runs past
    the last step)."""
    t = np.arange(n, dtype=np.int64)
    pre, suf = [t.copy()], [t.copy()]
    for j in range(1, levels + 1):
        half = 1 << (j - 1)
        upper = (t & half) != 0
        # prefix: the upper half takes the whole lower half in front of it
        step = pre[j - 1].copy()
        mid = (t >> (j - 1)) << (j - 1)
        step[upper] = p.op("aa", pre[j - 1][mid[upper] - 1], pre[j - 1][t[upper]])
        pre.append(step)
        # suffix: the lower half takes the whole upper half behind it, when it exists. Whole
        # blocks are the prefix network's last columns: shared, not built twice
        step = suf[j - 1].copy()
        end = mid + 2 * half - 1  # the upper half's last step
        whole = ~upper & (((t >> j) + 1) << j <= n)
        first = whole & ((t & (2 * half - 1)) == 0)
        inner = whole & ~first
        step[~upper] = -1
        step[first] = pre[j][end[first]]
        step[inner] = p.op("aa", suf[j - 1][t[inner]], pre[j - 1][end[inner]])
        suf.append(step)
    return pre, suf


def _prune(p: PlanBuilder, outputs: str, result: np.ndarray) -> Plan:
    """Keep only the nodes some output reads: one backward pass over the batches."""
    level = {side: p.levels(side) for side in ("a", "b")}
    live = {side: np.zeros(p.count[side], dtype=bool) for side in ("a", "b")}
    live["b"][result] = True
    for batch in reversed(p.batches):
        side = "a" if batch.kind == "aa" else "b"
        used = live[side][batch.first:batch.first + len(batch.x)]
        live["a" if batch.kind in ("aa", "ab") else "b"][batch.x[used]] = True
        live["a" if batch.kind == "aa" else "b"][batch.y[used]] = True
    for arrays in (level, live):
        for a in arrays.values():
            a.flags.writeable = False
    return Plan(p.n, outputs, tuple(p.batches), level, live, result)
