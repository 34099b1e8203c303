"""Segment-sum lowering: the plan of `lower.segment_sum` built over a model's channels.

Where this sits in the pipeline. The counterpart of `lower.linear` for
``topology="segment-sum"``: the leaves (A_t, b_t) are scalarized for all steps as there
(`linear._leaves`), a non-zero h_0 becomes one more step in front, and then each batch of
the position-level plan (`segment_sum.plan`) becomes one vectorized `GateBuilder.gates` call
over its nodes and every channel: the entries of a diagonal A (one column for a scalar A)
for products of a's, the entries of the state for the B values. The circuit is assembled
and dead gates are dropped as for a prefix lowering. Scalar and diagonal kinds only: there
A is one number per channel, so every channel runs the same scalar recurrence.
"""

from __future__ import annotations

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.memory import BUILD_BYTES_PER_GATE, ensure_fits
from rnncirc.ir.ops import Op
from rnncirc.lower.classify import Classification
from rnncirc.lower.linear import _assemble, _full, _leaves, _reduced
from rnncirc.lower.segment_sum import KINDS, plan


def check_kind(cls: Classification, topology: str) -> None:
    if cls.kind not in KINDS:
        raise OptionError(f"topology {topology!r} is built for {' and '.join(KINDS)} "
                          f"recurrences, but this model's A is {cls.kind}; use a prefix "
                          "network (e.g. --topology sklansky) or auto")


def lower_segment_sum(model: RNN, cls: Classification, length: int, topology: str,
                      outputs: str = "all") -> Circuit:
    """The segment-sum circuit of a scalar or diagonal linear model."""
    from rnncirc.lower.linear import estimate_gates_from_n

    check_kind(cls, topology)
    n = length
    the_plan = plan(n + _h0_steps(model, cls), outputs)
    m, c = cls.linear.offset.shape
    # the leaves (counted high, as the leaves and combines of a sequential chain) and the
    # plan's nodes times the channels each is built for
    gates = estimate_gates_from_n(cls, n, "sequential", outputs) + \
        (the_plan.gates("aa") * (m if cls.kind == "diagonal" else 1)
         + (the_plan.gates("ab") + the_plan.gates("bb")) * m * c)
    ensure_fits(gates, BUILD_BYTES_PER_GATE,
                f"the {topology} lowering of {model.name} over {n:,} steps",
                "use a smaller --length or a prefix network (sklansky, brent-kung)")
    builder = GateBuilder(capacity=1 << 16)
    k = model.cell.input.size
    inputs = builder.leaf(Op.INPUT, np.arange(n * k)).reshape(n, k)
    out, levels, extra = build_segment_sum(builder, inputs, model, cls, outputs)
    return _assemble(model, cls, builder, inputs, out, levels, topology, outputs, n, extra)


def _h0_steps(model: RNN, cls: Classification) -> int:
    """1 when h_0 is not zero: it enters as one more step in front, b = h_0 (its a is never
    read), so it costs a term in each sum instead of two levels in front of every one."""
    return int(np.any(_reduced(np.asarray(model.init), cls.linear.affine.side) != 0))


def build_segment_sum(builder: GateBuilder, inputs: np.ndarray, model: RNN,
                      cls: Classification, outputs: str):
    """Build the segment-sum lowering into `builder` (as `linear.build_linear` builds a
    prefix one): (ids of the states, ``(n or 1, *state)``; the planned level of each of the
    last rows built; extra facts)."""
    check_kind(cls, "segment-sum")
    n = inputs.shape[0]
    form = cls.linear
    m, c = form.offset.shape
    h0 = _reduced(np.asarray(model.init), form.affine.side)
    front = _h0_steps(model, cls)
    the_plan = plan(n + front, outputs)
    leaves = _leaves(cls, builder, inputs, first_needs_a=bool(front))
    # the A leaves as (n, width): one column for a scalar A, one per entry of a diagonal
    diag = leaves["diag"].reshape(n, -1)
    builder.node_id = -1  # combine gates come from no cell node
    a_ids = np.full((the_plan.live["a"].size, diag.shape[1]), -1, dtype=np.int64)
    b_ids = np.full((the_plan.live["b"].size, m, c), -1, dtype=np.int64)
    a_ids[front:n + front], b_ids[front:n + front] = diag, leaves["offset"]
    if front:
        b_ids[0] = builder.const(h0)
    start_rows = builder.n
    new_rows, new_levels = [], []
    for batch in the_plan.batches:
        side = "a" if batch.kind == "aa" else "b"
        used = np.flatnonzero(the_plan.live[side][batch.first:batch.first + len(batch.x)])
        if not len(used):
            continue
        x, y, nodes = batch.x[used], batch.y[used], batch.first + used
        before = builder.n
        if batch.kind == "aa":
            made = a_ids[nodes] = builder.gates(Op.MUL, a_ids[x], a_ids[y])
        elif batch.kind == "ab":
            scale = np.broadcast_to(a_ids[x][:, :, None], (len(x), m, c))
            made = b_ids[nodes] = builder.gates(Op.MUL, scale, b_ids[y])
        else:
            made = b_ids[nodes] = builder.gates(Op.ADD, b_ids[x], b_ids[y])
        # the planned level of each new row (folded gates made none)
        rows = made.reshape(len(nodes), -1)
        new = rows >= before
        new_rows.append(rows[new] - start_rows)
        new_levels.append(np.broadcast_to(the_plan.level[side][nodes][:, None], rows.shape)[new])
    row_level = np.zeros(builder.n - start_rows, dtype=np.int32)
    if new_rows:
        row_level[np.concatenate(new_rows)] = np.concatenate(new_levels)
    result = the_plan.result[front:] if outputs == "all" else the_plan.result
    out = _full(b_ids[result], form.affine.side, model.state_shape)
    extra = {"segment_depth": the_plan.depth, "segment_size": the_plan.size,
             "step_column": "planned level"}
    return out, row_level, extra
