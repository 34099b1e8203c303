"""Scalarize: tensor-level cell nodes -> fan-in-2 scalar gates, one whole node at a time.

Each cell node becomes an int64 array of gate ids with a leading *instance* axis ``B``: the
same cell can be instantiated for B independent inputs in one pass (B = 1 for a step template;
B = n for the leaves A(x_t), b(x_t) of all steps of a linear recurrence at once). Gathers are
pure id shuffling and cost no gate; sums become balanced adder trees (`GateBuilder.sum_rows`).
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.cell import Node
from rnncirc.ir.ops import Op


def _last_uses(nodes: list[Node]) -> dict[int, int]:
    last = {}
    for position, node in enumerate(nodes):
        for operand in node.operands:
            last[operand.id] = position
    return last


def scalarize(nodes: list[Node], output: Node, builder: GateBuilder,
              leaves: dict[int, np.ndarray], instances: int) -> np.ndarray:
    """Gate ids of `output`, shape ``(instances, *output.shape)``.

    `nodes` are the cell nodes to build, in topological order (at least those `output`
    depends on); `leaves` maps the id of every "state"/"input" node among them to its ids,
    shape ``(instances, *node.shape)`` (broadcastable).
    """
    return scalarize_many(nodes, [output], builder, leaves, instances)[0]


def scalarize_many(nodes: list[Node], outputs: list[Node], builder: GateBuilder,
                   leaves: dict[int, np.ndarray], instances: int) -> list[np.ndarray]:
    """Gate ids of each of `outputs`, as `scalarize`; a node in `leaves` (of any kind: a
    program's position-wise block reads values built before it) is not built but read."""
    built = {node.id for node in nodes}
    values = {key: np.broadcast_to(ids, (instances,) + np.shape(ids)[1:])
              for key, ids in leaves.items() if key not in built}
    last_use = _last_uses(nodes)
    keep = {o.id for o in outputs}
    for position, node in enumerate(nodes):
        builder.node_id = node.id
        full_shape = (instances,) + node.shape
        if node.id in leaves:
            ids = np.broadcast_to(leaves[node.id], full_shape)
        elif node.op == "const":
            ids = np.broadcast_to(builder.const(node.arg), full_shape)
        elif node.op == "gather":
            flat = np.concatenate(
                [values[o.id].reshape(instances, -1) for o in node.operands], axis=1)
            ids = flat[:, node.arg.ravel()].reshape(full_shape)
        elif node.op == "sum":
            operand = values[node.operands[0].id]
            axes = [1 + axis for axis in node.arg]
            moved = np.moveaxis(operand, axes, range(-len(axes), 0))
            rows = moved.reshape(instances * node.size, -1)
            ids = builder.sum_rows(rows).reshape(full_shape)
        elif isinstance(node.op, Op):
            ids = builder.gates(node.op, *(values[o.id] for o in node.operands))
        else:
            raise AssertionError(f"unknown cell node kind {node.op!r}")
        values[node.id] = ids
        for operand in node.operands:  # free intermediate id arrays after their last use
            if last_use.get(operand.id) == position and operand.id not in keep:
                values.pop(operand.id, None)
    return [np.ascontiguousarray(values[o.id]) for o in outputs]
