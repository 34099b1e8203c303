"""Segment-sum lowering: the plan of `lower.segment_sum` built over a model's channels.

Where this sits in the pipeline. The counterpart of `lower.linear` for
``topology="segment-sum"`` and ``"segment-sum-optimal"``: the leaves (A_t, b_t) are
scalarized for all steps as there (`linear._leaves`), a non-zero h_0 becomes one more step
in front, and then each batch of the position-level plan (`segment_sum.plan`,
`segment_hybrid.hybrid_plan`) becomes one vectorized `GateBuilder.gates` call over its
nodes and every channel: the entries of a diagonal A (one column for a scalar A) for
products of a's, the entries of the state for the B values. The circuit is assembled and
dead gates are dropped as for a prefix lowering. Scalar and diagonal kinds: there A is
one number per channel, so every channel runs the same scalar recurrence; dense, DPLR and
permutation-diagonal kinds are built with d x d matrices by `lower.segment_matrix`.
"""

from __future__ import annotations

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.memory import BUILD_BYTES_PER_GATE, ensure_fits
from rnncirc.ir.ops import ARITY, Op
from rnncirc.lower import prefix, segment_matrix, segment_sum
from rnncirc.lower.classify import Classification
from rnncirc.lower.linear import (
    _assemble,
    _full,
    _leaf_template,
    _leaf_tensors,
    _leaves,
    _reduced,
)
from rnncirc.lower.segment_hybrid import hybrid_plan
from rnncirc.lower.segment_matrix import row_levels
from rnncirc.lower.segment_sum import Plan, plan

#: the longest sequence whose optimal plan is made (twice, with and without the coarse chain,
#: `segment_hybrid.hybrid_plan`): seconds at 2^16, most just below the lengths where beta*
#: steps up (bench/README.md: 20 s and 1.4 GB at n = 101,097)
MAX_OPTIMAL_LENGTH = 1 << 17

#: the kinds a segment-sum lowering is built for: scalar and diagonal (`lower.segment_sum`),
#: and those built as d x d matrices (`lower.segment_matrix`)
KINDS = segment_sum.KINDS + segment_matrix.KINDS


def check_kind(cls: Classification, topology: str) -> None:
    """Refuse, with the way out, a kind no segment-sum lowering builds (`KINDS`)."""
    if cls.kind not in KINDS:
        raise OptionError(f"topology {topology!r} is built for {', '.join(KINDS[:-1])} and "
                          f"{KINDS[-1]} recurrences, but this model's A is {cls.kind}; use a "
                          "prefix network (e.g. --topology sklansky) or auto")


def lower_segment_sum(model: RNN, cls: Classification, length: int, topology: str,
                      outputs: str = "all") -> Circuit:
    """The segment-sum circuit of a linear model of one of `KINDS` (a dense, DPLR or
    permutation-diagonal A as d x d matrices, `lower.segment_matrix`)."""
    check_kind(cls, topology)
    n = length

    def estimate(k: int) -> int:
        return estimate_gates_from_n(cls, k, topology, outputs)

    # refused before the plan, which is itself O(n log n) to make
    ensure_fits(estimate(n), BUILD_BYTES_PER_GATE,
                f"the {topology} lowering of {model.name} over {n:,} steps",
                "use a smaller --length or a prefix network (sklansky, brent-kung)",
                rows_at=estimate, length=n)
    # the leaves (one template per step) and the plan's gates over the channels: an upper
    # count, as folding only removes gates
    gates = n * _leaf_gates(cls) + _plan_gates(cls, n + _h0_steps(model, cls), topology,
                                                outputs)
    k = model.cell.input.size
    # rows reserved up front (an upper estimate): growing by doubling would copy them all
    builder = GateBuilder(capacity=gates + n * k)
    inputs = builder.leaf(Op.INPUT, np.arange(n * k)).reshape(n, k)
    out, levels, extra = build_segment_sum(builder, inputs, model, cls, outputs, topology)
    builder.arrays(copy=False, trim=True)  # what the estimate left over goes back
    return _assemble(model, cls, builder, inputs, out, levels, topology, outputs, n, extra)


def estimate_gates_from_n(cls: Classification, n: int, topology: str, outputs: str) -> int:
    """Gates of a segment-sum lowering estimated from n alone, before any plan is made.

    Plan nodes per channel, from the measured plans (n <= 2^16): the aligned one is within
    1.03x Sklansky's circuit (3 combines' worth of gates per combine) for all outputs and
    about 3.1 n for h_n; the optimum (`lower.segment_hybrid`) at most 4.6 n for h_n and
    4.1 n L for all outputs (L = ceil(log2 n); 1.7 to 2.1 n L except just below the lengths
    where its depth steps up). Each node is at most max(width of A, entries of the state) gates.
    """
    if cls.kind in segment_matrix.KINDS:
        return n * _leaf_gates(cls) + segment_matrix.estimate_gates_from_n(cls, n, outputs)
    m, c = cls.linear.offset.shape
    level = max(1, (n - 1).bit_length())
    if outputs == "last":
        nodes = (5 if topology == "segment-sum-optimal" else 4) * n
    elif topology == "segment-sum-optimal":
        nodes = int(4.5 * n * level)
    else:
        nodes = 4 * prefix.exact_size("sklansky", "all", n)
    return n * _leaf_gates(cls) + nodes * max(m, m * c)


def _plan_gates(cls: Classification, n: int, topology: str, outputs: str) -> int:
    """Gates of the plan `topology` builds over n steps, for this model's channels."""
    m, c = cls.linear.offset.shape
    if cls.kind in segment_matrix.KINDS:
        q, d = segment_matrix.block_rows(cls).shape
        return segment_matrix.plan_gates(segment_matrix.matrix_plan(n, outputs, d), d, c, q)
    the_plan = plan_of(topology, n, outputs)
    return the_plan.gates("aa") * (m if cls.kind == "diagonal" else 1) \
        + (the_plan.gates("ab") + the_plan.gates("bb")) * m * c


def _leaf_gates(cls: Classification) -> int:
    """Gates of one step's leaves (A_t and b_t), from the template `linear._leaves` tiles."""
    if cls.kind in segment_matrix.KINDS:
        cls = segment_matrix.dense_form(cls)
    rows, _, _ = _leaf_template(cls.linear.affine, list(_leaf_tensors(cls).values()))
    return int(np.count_nonzero(ARITY[rows["op"]] > 0))


def _h0_steps(model: RNN, cls: Classification) -> int:
    """1 when h_0 is not zero: it enters as one more step in front, b = h_0 (its a is never
    read), so it costs a term in each sum instead of two levels in front of every one."""
    return int(np.any(_reduced(np.asarray(model.init), cls.linear.affine.side) != 0))


def plan_of(topology: str, n: int, outputs: str) -> Plan:
    """The plan `topology` builds over n steps."""
    if topology != "segment-sum-optimal":
        return plan(n, outputs)
    if n > MAX_OPTIMAL_LENGTH:
        raise OptionError(f"segment-sum-optimal plans up to {MAX_OPTIMAL_LENGTH:,} steps, "
                          f"got {n:,}; use --topology segment-sum, one or two levels deeper")
    return hybrid_plan(n, outputs)


def build_segment_sum(builder: GateBuilder, inputs: np.ndarray, model: RNN,
                      cls: Classification, outputs: str, topology: str = "segment-sum"):
    """Build the segment-sum lowering into `builder` (as `linear.build_linear` builds a
    prefix one): (ids of the states, ``(n or 1, *state)``; the planned level of each of the
    last rows built; extra facts)."""
    check_kind(cls, topology)
    if cls.kind in segment_matrix.KINDS:
        return segment_matrix.build_matrix(builder, inputs, model, cls, outputs,
                                           _h0_steps(model, cls))
    n = inputs.shape[0]
    form = cls.linear
    m, c = form.offset.shape
    h0 = _reduced(np.asarray(model.init), form.affine.side)
    front = _h0_steps(model, cls)
    the_plan = plan_of(topology, n + front, outputs)
    leaves = _leaves(cls, builder, inputs, first_needs_a=bool(front))
    # the A leaves as (n, width): one column for a scalar A, one per entry of a diagonal
    diag = leaves["diag"].reshape(n, -1)
    builder.node_id = -1  # combine gates come from no cell node
    # int32 like the builder's rows: these tables are read once per batch
    a_ids = np.full((the_plan.live["a"].size, diag.shape[1]), -1, dtype=np.int32)
    b_ids = np.full((the_plan.live["b"].size, m, c), -1, dtype=np.int32)
    a_ids[front:n + front], b_ids[front:n + front] = diag, leaves["offset"]
    if front:
        b_ids[0] = builder.const(h0)
    levels = []
    for kind, side, _, x, y, nodes in the_plan.live_batches():
        before = builder.n
        if kind == "aa":
            made = a_ids[nodes] = builder.gates(Op.MUL, a_ids[x], a_ids[y])
        elif kind == "ab":
            scale = np.broadcast_to(a_ids[x][:, :, None], (len(x), m, c))
            made = b_ids[nodes] = builder.gates(Op.MUL, scale, b_ids[y])
        else:
            made = b_ids[nodes] = builder.gates(Op.ADD, b_ids[x], b_ids[y])
        levels.append(row_levels(made.reshape(len(nodes), -1), before, builder.n,
                                  the_plan.level[side][nodes]))
    row_level = np.concatenate(levels) if levels else np.zeros(0, dtype=np.int32)
    result = the_plan.result[front:] if outputs == "all" else the_plan.result
    out = _full(b_ids[result], form.affine.side, model.state_shape)
    extra = {"segment_depth": the_plan.depth, "segment_size": the_plan.size,
             "step_column": "planned level"}
    return out, row_level, extra

