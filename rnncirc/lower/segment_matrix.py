"""Segment-sum lowering of a dense d x d linear recurrence: c (L + 1) + 1 levels, not (c + 1) L.

Where this sits in the pipeline. Beside `lower.segment_optimal`, whose construction (U of
``shared/reference/depth-below-2log.md``, sections 5.1 and 7) it runs with matrices: the
same splitting of segments and balanced range products (its `_split` and `_build_ranges`),
a plan whose ready times count c = 1 + ceil(log2 d) levels per matrix product, and a dynamic
program (`matrix_table`) that chooses the segments for that cost. `lower.segment_lower`
calls `build_matrix`, `plan_gates` and `estimate_gates_from_n` here for the kinds in
`KINDS`: dense, and DPLR and permutation-diagonal through their dense form
(`classify.as_dense`): the product of two DPLR maps grows its rank, so a range product is a
dense one after a few steps anyway; complex-diagonal as q independent 2 x 2 recurrences, one
per rotation-scaling block of its dense form (`block_rows`), every plan node built for all q
blocks at once. Both ``topology="segment-sum"`` and
``"segment-sum-optimal"`` build this one construction for those kinds (no aligned variant
is built for matrices); ``auto`` ranks it as ``"segment-sum"``.

Summary of the algorithm. Write B[x..y] for the state at y when the state before x is zero
and A[x..y] = A_y ... A_x. A segment is split into consecutive parts S_1 ... S_k,

    B[x..y] = sum_i A[end(S_i) + 1 .. y] B[S_i]        (the last part, one step, has none)

1. Range products A[x..y]: balanced trees of d x d products, split at the most aligned point,
   each product d multiplications and a balanced sum per entry: c levels, so A[x..y] is
   ready at c ceil(log2 (y - x + 1)) and shared by every segment and output that needs it.
2. Terms: A[..] B[S_i] is kept as its d column products A[:, k] B[S_i][k, :] (one
   multiplication each, ready one level after the later of its operands), not summed as a
   matrix-vector product: the column products of every term and the unmultiplied last part
   go into one greedy earliest-ready sum per entry (`PlanBuilder.greedy_sum`), ready at
   ceil(log2 sum 2^r) over their ready times r. The gates are the same as a matvec then a
   sum; the sum is shallower where d is not a power of two (3 products at r + 1 weigh
   3 2^(r+1) in the Kraft sum, a matvec 2^(r+3)).
3. The parts: K(x), the least Kraft sum covering the last x steps of a segment, is K(1) = 1
   and K(x) = min_s K(x - s) + d 2^(1 + max(c ceil(log2(x - s)), beta(s))), beta(x) =
   ceil(log2 K(x)); the argmin s is the leftmost part (`matrix_table`, O(n log n)). For
   d = 1 this is the scalar table of `segment_optimal.optimal_table`; for d a power of two,
   d 2^(1 + r) = 2^(c + r) and it is the reference's matrix DP (depth c (L + 1) + 1 for
   8 <= L <= 12: 27 at d = 2, n = 4096 against 36 for a scan). For d = 3 the column
   products make it 3 L (36 at n = 4096), where a matvec per term gives 3 L + 4; a scan is
   3 L deep there too (its 3 products and B add in 2 levels), so `auto` keeps the scan.

The plan is made once per (n, outputs, d), independent of the model, and instantiated
batch by batch: one vectorized call per batch over its nodes, the d x d entries and the
state's columns (`build_matrix`). Its depth is exact before anything is built; gates fold
where A has constant entries (a permutation's zeros), so the plan's size is an upper count
and the circuit's is measured.
"""

from __future__ import annotations

import functools

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op
from rnncirc.lower import segment_optimal
from rnncirc.lower.classify import Classification, as_dense
from rnncirc.lower.combine import matmul_ids
from rnncirc.lower.linear import _full, _leaves, _reduced
from rnncirc.lower.segment_sum import OUTPUTS, Plan, PlanBuilder

#: kinds built here: dense, DPLR and permutation-diagonal through their dense m x m form,
#: complex-diagonal as one 2 x 2 recurrence per rotation-scaling block (`block_rows`)
KINDS = ("dense", "dplr", "permutation-diagonal", "complex-diagonal")

#: the longest sequence planned (as `segment_lower.MAX_OPTIMAL_LENGTH`)
MAX_LENGTH = 1 << 16


def block_rows(cls: Classification) -> np.ndarray:
    """The state rows of each block the plan runs over, (q, d): the whole state as one
    block (d = m), or a complex-diagonal model's 2 x 2 rotation-scaling blocks, the
    recurrence of each a + ib with a complex product 2 levels deep (c = 2: the scan's
    complex multiply and add take 3 a level), -1 padding a 1 x 1 block with a row that
    stays 0 (its gates fold)."""
    if cls.kind != "complex-diagonal":
        return np.arange(cls.linear.offset.shape[0])[None, :]
    first, second = cls.linear.blocks.T
    return np.stack([first, np.where(second == first, -1, second)], axis=1)


def product_depth(d: int) -> int:
    """c = 1 + ceil(log2 d): levels of a d x d matrix product (a multiply, then a sum)."""
    return 1 + (d - 1).bit_length()


def check_length(n: int) -> None:
    """Refuse, with the way out, a sequence longer than `MAX_LENGTH`."""
    if n > MAX_LENGTH:
        raise OptionError(f"the matrix segment-sum plan covers at most {MAX_LENGTH:,} steps, "
                          f"got {n:,}; use a prefix network (e.g. --topology sklansky)")


def matrix_table(limit: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(beta, first) for lengths 0..limit and d x d matrices: beta[x] the least depth of a
    segment of x steps (leaves at level 0), first[x] the length of its leftmost part (0 for
    x <= 1). Read-only. `segment_optimal.segment_table` with the matrix costs: a range
    product takes c = 1 + ceil(log2 d) levels, and a term's Kraft weight counts d products
    (d = 1 is `segment_optimal.optimal_table`)."""
    return segment_optimal.segment_table(limit, product_depth(d), d)


def _table_for(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    return matrix_table(1 << max(1, (n - 1).bit_length()), d)


def matrix_depth(n: int, d: int) -> int:
    """The plan's depth for all n outputs (leaves at level 0): the deepest beta(t), t <= n."""
    return int(_table_for(n, d)[0][:n + 1].max())


class MatrixPlanBuilder(PlanBuilder):
    """A plan whose A * A products take c levels and whose terms are column products.

    `term` makes, for each term with a multiplier, d consecutive "ab" nodes: node first + k
    of the batch is column k's product A[:, k] B[k, :] (`build_matrix` reads k as the node's
    position in its batch mod d). It returns the first of them, and `greedy_sum`, which every
    term is handed to, sums all d with the other terms of its group.
    """

    def __init__(self, n: int, d: int) -> None:
        super().__init__(n, product_depth(d))
        self.d = d
        self.bundle = np.zeros(n, dtype=bool)  # per B node: the first of a term's d

    def _bundles(self) -> np.ndarray:
        """`bundle` grown to every B node made so far (doubling: one copy per doubling)."""
        if len(self.bundle) < self.count["b"]:
            grown = np.zeros(max(self.count["b"], 2 * len(self.bundle)), dtype=bool)
            grown[:len(self.bundle)] = self.bundle
            self.bundle = grown
        return self.bundle

    def term(self, mult: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = b.copy()
        has = np.flatnonzero(mult >= 0)
        if len(has):
            ids = self.op("ab", np.repeat(mult[has], self.d), np.repeat(b[has], self.d))
            out[has] = ids[::self.d]
            self._bundles()[out[has]] = True
        return out

    def greedy_sum(self, group: np.ndarray, ids: np.ndarray, groups: int) -> np.ndarray:
        width = np.where(self._bundles()[ids], self.d, 1)
        start = np.repeat(ids, width)
        offset = np.arange(len(start)) - np.repeat(np.cumsum(width) - width, width)
        return super().greedy_sum(np.repeat(group, width), start + offset, groups)


@functools.lru_cache(maxsize=8)
def matrix_plan(n: int, outputs: str, d: int) -> Plan:
    """The plan for n steps of a d x d recurrence: every output h_t at depth beta(t + 1)
    of `matrix_table`, ``outputs="last"`` h_n alone (see the module docstring). A product
    node "aa" of x and y is A[y] A[x] (x the older range)."""
    if n < 1 or outputs not in OUTPUTS:
        raise ValueError(f"a segment-sum plan needs n >= 1 and outputs in {OUTPUTS}, got "
                         f"n={n}, outputs={outputs!r}")
    check_length(n)
    beta, first = _table_for(n, d)
    ends = np.arange(n, dtype=np.int64) if outputs == "all" else np.array([n - 1])
    split = segment_optimal._split(np.zeros(len(ends), dtype=np.int64), ends, first)
    segments, parts, ranges = split
    p = MatrixPlanBuilder(n, d)
    range_ids = segment_optimal._build_ranges(p, ranges, n)
    seg_ids = segment_optimal._build_segments(p, segments, parts, ranges, range_ids, beta, n)
    key = segment_optimal._key(0, ends, n)
    found = np.searchsorted(segments, key).clip(max=max(len(segments) - 1, 0))
    result = np.where(ends == 0, 0, seg_ids[found] if len(segments) else 0)  # h_1 is b_1
    return p.finish(outputs, result)


def plan_gates(plan: Plan, d: int, columns: int, blocks: int = 1) -> int:
    """Gates of `plan` for `blocks` d x d blocks and a state of d x `columns` each, none
    folded: a product d^2 (2 d - 1), a column product or a sum one per entry of the state."""
    return blocks * (plan.gates("aa") * d * d * (2 * d - 1)
                     + (plan.gates("ab") + plan.gates("bb")) * d * columns)


# --------------------------------------------------------------------------------------------
# The plan over a model: leaves, products and sums as gates
# --------------------------------------------------------------------------------------------

#: product entries (d^3 per A * A node) handed to the builder per call: bounds the temporaries
_BATCH_ENTRIES = 1 << 21


def dense_form(cls: Classification) -> Classification:
    """The classification lowered here: `cls` with A as its explicit m x m matrix."""
    return as_dense(cls)


def estimate_gates_from_n(cls: Classification, n: int, outputs: str) -> int:
    """Gates of the plan's products and sums over n steps, from n alone (leaves apart).

    Plan nodes from the measured plans (d = 2 .. 8, n <= 4096), with a margin: A products
    at most n L^2 / 4 for all outputs (about 0.18 n L^2 measured) and n L / 4 for h_n
    (0.2 n L); column products and sums each 0.3 d n L^2 (0.17 .. 0.29) and d n (d n). A
    product is d^2 (2 d - 1) gates, a column product or a sum one per entry of the state.
    """
    q, m = block_rows(cls).shape
    c = cls.linear.offset.shape[1]
    level = max(1, (n - 1).bit_length())
    if outputs == "last":
        products, terms = n * level / 4, m * n
    else:
        products, terms = n * level * level / 4, 0.3 * m * n * level * level
    return int(q * (products * m * m * (2 * m - 1) + 2 * terms * m * c))


def build_matrix(builder: GateBuilder, inputs: np.ndarray, model: RNN, cls: Classification,
                 outputs: str, front: int):
    """Build the matrix segment-sum lowering into `builder` (as `segment_lower` builds the
    scalar one): (ids of the states, ``(n or 1, *state)``; the planned level of each of the
    last rows built; extra facts). `front` is 1 where h_0 is not zero: it enters as one more
    step in front, b = h_0."""
    dense = dense_form(cls)
    form = dense.linear
    n = inputs.shape[0]
    rows = block_rows(cls)
    (q, m), c = rows.shape, form.offset.shape[1]
    the_plan = matrix_plan(n + front, outputs, m)
    leaves = _leaves(dense, builder, inputs, first_needs_a=bool(front))
    builder.node_id = -1  # combine gates come from no cell node
    a_ids = np.full((the_plan.live["a"].size, q, m, m), -1, dtype=np.int32)
    b_ids = np.full((the_plan.live["b"].size, q, m, c), -1, dtype=np.int32)
    a_ids[front:n + front] = _blocks(leaves["dense"], rows, builder, square=True)
    b_ids[front:n + front] = _blocks(leaves["offset"], rows, builder)
    if front:
        init = builder.const(_reduced(np.asarray(model.init), form.affine.side))
        b_ids[0] = _blocks(init[None], rows, builder)[0]
    levels = []
    for kind, side, used, x, y, nodes in the_plan.live_batches():
        level = the_plan.level[side][nodes]
        before = builder.n
        if kind == "aa":  # A[y] A[x], x the older range: a chunk at a time
            step = max(1, _BATCH_ENTRIES // (q * m**3))
            for lo in range(0, len(nodes), step):
                part = slice(lo, lo + step)
                left, right = a_ids[y[part]], a_ids[x[part]]
                a_ids[nodes[part]] = matmul_ids(builder, left.reshape(-1, m, m),
                                                right.reshape(-1, m, m)).reshape(left.shape)
            # a product's gates (multiplies and sums) all carry the level it is ready at
            levels.append(np.full(builder.n - before, level.max(), dtype=np.int32))
            continue
        if kind == "ab":  # column k of A[x] times row k of B[y], in every block
            k = used % m
            made = b_ids[nodes] = builder.gates(
                Op.MUL, np.broadcast_to(a_ids[x, :, :, k][..., None], (len(x), q, m, c)),
                np.broadcast_to(b_ids[y, :, k, :][:, :, None, :], (len(x), q, m, c)))
        else:
            made = b_ids[nodes] = builder.gates(Op.ADD, b_ids[x], b_ids[y])
        levels.append(row_levels(made.reshape(len(nodes), -1), before, builder.n, level))
    row_level = np.concatenate(levels) if levels else np.zeros(0, dtype=np.int32)
    result = the_plan.result[front:] if outputs == "all" else the_plan.result
    states = np.empty((len(result), form.offset.shape[0], c), dtype=np.int32)
    real = rows >= 0
    states[:, rows[real]] = b_ids[result][:, real]
    out = _full(states, form.affine.side, model.state_shape)
    extra = {"segment_depth": the_plan.depth, "segment_size": plan_gates(the_plan, m, c, q),
             "step_column": "planned level"}
    if cls.kind != "dense":
        extra["combine_form"] = "2x2 blocks" if cls.kind == "complex-diagonal" else "dense"
    return out, row_level, extra


def _blocks(ids: np.ndarray, rows: np.ndarray, builder: GateBuilder,
            square: bool = False) -> np.ndarray:
    """Per step, the entries of each block (`block_rows`): ids (n, m, c) as (n, q, d, c),
    or (n, m, m) with `square` as (n, q, d, d); a padding row or column is the constant 0."""
    pick = np.maximum(rows, 0)
    real = rows >= 0
    if square:
        out = ids[:, pick[:, :, None], pick[:, None, :]]
        keep = real[:, :, None] & real[:, None, :]
    else:
        out = ids[:, pick]
        keep = np.broadcast_to(real[:, :, None], out.shape[1:])
    zero = builder.const(0.0)
    return np.where(keep, out, zero).astype(np.int32)


def row_levels(made: np.ndarray, before: int, after: int, node_level: np.ndarray):
    """The planned level of rows before..after-1, built by one batch: ``made[k]`` are node
    k's ids over the entries. Without folding the rows are the ids in order; a fold leaves
    an older id (x * 1) or puts a NEG row first (x * -1), so then each row is looked up."""
    if made.size == after - before and made.size and made.flat[0] == before:
        return np.repeat(node_level.astype(np.int32), made.shape[1])
    level = np.zeros(after - before, dtype=np.int32)
    new = made >= before
    level[made[new] - before] = np.broadcast_to(node_level[:, None], made.shape)[new]
    return level
