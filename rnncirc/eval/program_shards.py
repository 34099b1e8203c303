"""Sequence sharding of a program: every recurrent layer by the three-phase scan.

Where this sits: the eval layer, called by `sequence.evaluate_sharded` for a `Program`. The
program's graph is interpreted on the client as `Program.run` interprets it, node by node
over all positions at once, except that each ``scan`` node runs as a `ShardedScan` over the
cluster (its layer must be linear; a nonlinear one is refused, naming it). Position-wise
nodes are numpy on the client with the circuit's semantics, exactly modulo p when a modulus
is given (ring operations only, as the fast evaluator allows).

The depth reported is the longest path through the graph with each node weighted by what it
ran: a sharded layer its phases' total depth, a position-wise operation 1, a sum over c
values ceil(log2 c), wiring (gather, shift, constants) 0.
"""

from __future__ import annotations

import math

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.program import Program, shifted
from rnncirc.ir.ops import Op, apply_op

#: operations that are exact modulo p (the fast evaluator's modular set)
_RING = {Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply, Op.NEG: np.negative}


def evaluate_program(program: Program, batch: np.ndarray, chunks: int, client,
                     topology: str, outputs: str, dtype: str,
                     modulus: int | None) -> tuple[np.ndarray, dict, list[dict]]:
    """(values, depth, layers) of `program` on `batch` ``(B, n, ...)``: the output at every
    position (``outputs="last"``: the last), the depth by the rule of the module docstring,
    and per layer its name, kind, summary form and phase depths."""
    from rnncirc.eval.fast import residues
    from rnncirc.eval.sequence import ShardedScan

    graph = program.graph
    b, n = batch.shape[:2]
    values: dict[int, np.ndarray] = {}
    depth: dict[int, int] = {}
    layers: list[dict] = []
    real = dtype != "int64" and modulus is None
    p = modulus
    if not real and p is None:
        from rnncirc.eval.fast import DEFAULT_MODULUS

        p = DEFAULT_MODULUS

    def constant(value) -> np.ndarray:
        value = np.asarray(value, dtype=np.float64)
        return value if real else residues(value, p, "a constant")

    scans = [ShardedScan(layer.model, chunks, client, topology, dtype, modulus,
                         where=f" (layer {layer.name} of {program.name})")
             for _, layer in graph.layers]  # every layer checked before anything runs
    for node in graph.live_nodes():
        lead = (b, n)
        below = max((depth[o.id] for o in node.operands), default=0)
        weight = 0
        if node.op == "input":
            value = batch if not graph.alphabet else \
                (batch[..., None] == np.arange(graph.alphabet)).astype(np.float64)
            if not real and not graph.alphabet:
                value = residues(value, p, "an input")
        elif node.op == "const":
            value = np.broadcast_to(constant(node.arg), lead + node.shape)
        elif node.op == "gather":
            flat = np.concatenate([np.broadcast_to(values[o.id], lead + o.shape)
                                   .reshape(b, n, -1) for o in node.operands], axis=2)
            value = flat[:, :, node.arg.ravel()].reshape(lead + node.shape)
        elif node.op == "sum":
            axes = tuple(2 + a for a in node.arg)
            operand = values[node.operands[0].id]
            value = operand.sum(axis=axes)
            count = math.prod(node.operands[0].shape[a] for a in node.arg)
            weight = math.ceil(math.log2(count)) if count > 1 else 0
        elif node.op == "scan":
            layer = node.arg
            sharded = scans[len(layers)]
            seq = batch if layer.model.alphabet else values[node.operands[0].id]
            if not real:  # the scan reads residues as exact integers
                seq = seq.astype(np.float64) if not layer.model.alphabet else seq
            if layer.reverse:
                value = sharded.run(np.ascontiguousarray(seq[:, ::-1]), "all")[:, ::-1]
            else:
                value = sharded.run(seq, "all")
            weight = sharded.depth["total"]
            layers.append({"name": layer.name, "kind": sharded.cls.kind,
                           "summary": sharded.summary, "depth": dict(sharded.depth)})
        elif node.op == "shift":
            value = shifted(node, values, n, lead)
        elif isinstance(node.op, Op):
            operands = [values[o.id] for o in node.operands]
            if real:
                value = np.asarray(apply_op(node.op, *operands), dtype=np.float64)
            elif node.op in _RING:
                value = np.mod(_RING[node.op](*(np.asarray(v, dtype=np.int64)
                                                for v in operands)), p)
            else:
                raise OptionError(f"exact evaluation modulo p supports add, sub, mul and neg "
                                  f"only; {program.name} has a {node.op.name.lower()} "
                                  "between its layers")
            weight = 1
        else:
            raise AssertionError(f"unknown program node {node.op!r}")
        if not real and node.op == "sum":
            value = np.mod(value, p)
        values[node.id] = value
        depth[node.id] = below + weight
    out = np.broadcast_to(values[graph.output.id], (b, n) + graph.output.shape)
    out = np.array(out, dtype=np.float64 if real else np.int64)
    if dtype == "float32":
        out = out.astype(np.float32)
    if outputs == "last":
        out = out[:, -1]
    return out, {"total": depth[graph.output.id]}, layers
