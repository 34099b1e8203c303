"""Sequence sharding of a program: every recurrent layer by the three-phase scan, and every
position-wise block on the workers, chunk by chunk.

Where this sits: the eval layer, called by `sequence.evaluate_sharded` for a `Program`. The
program's graph is interpreted on the client node by node, as `Program.run` interprets it,
but a node's value is the list of its P chunks' futures, held by the workers: a ``scan``
node runs as a `ShardedScan` whose phase-3 states stay there; a position-wise node (an
operation, a sum, a gather) is a task per chunk on its operands' chunks, with the circuit's
semantics (exactly modulo p when a modulus is given: ring operations only, as the fast
evaluator allows); a ``shift`` by k is a task per chunk that also reads the k positions
before it, from the chunks before. The client holds the input, constants, the P chunk
summaries of each layer, and what is gathered at the end: the output's last position, or
(``outputs="all"``) the output at every position.

The depth reported is the longest path through the graph with each node weighted by what it
ran: a sharded layer its phases' total depth, a position-wise operation 1, a sum over c
values ceil(log2 c), wiring (gather, shift, constants) 0.
"""

from __future__ import annotations

import math

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.eval.distributed import gather
from rnncirc.frontend.program import Program, check_shift
from rnncirc.ir.ops import Op, apply_op

#: operations that are exact modulo p (the fast evaluator's modular set)
_RING = {Op.ADD: np.add, Op.SUB: np.subtract, Op.MUL: np.multiply, Op.NEG: np.negative}


def evaluate_program(program: Program, batch: np.ndarray, chunks: int, client,
                     topology: str, outputs: str, dtype: str,
                     modulus: int | None) -> tuple[np.ndarray, dict, list[dict]]:
    """(values, depth, layers) of `program` on `batch` ``(B, n, ...)``: the output at every
    position (``outputs="last"``: the last), the depth by the rule of the module docstring,
    and per layer its name, kind, summary form and phase depths."""
    from rnncirc.eval.modular import DEFAULT_MODULUS, residues
    from rnncirc.eval.sequence import ShardedScan, chunk_lengths

    graph = program.graph
    b, n = batch.shape[:2]
    p = None if dtype != "int64" and modulus is None else (modulus or DEFAULT_MODULUS)
    nodes = graph.live_nodes()
    _check_ring(nodes, program, p)
    scans = [ShardedScan(layer.model, chunks, client, topology, dtype, modulus,
                         where=f" (layer {layer.name} of {program.name})")
             for _, layer in graph.layers]  # every layer checked before anything runs
    lengths = chunk_lengths(n, chunks)
    bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
    # the input's chunks travel inside the tasks that read them (rerun if a worker dies)
    raw = [batch[:, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    values: dict[int, list | np.ndarray] = {}  # chunks' futures, or a constant
    depth: dict[int, int] = {}
    layers: list[dict] = []
    futures: list = []

    def per_chunk(task, *args) -> list:
        done = [client.submit(task, *(a[k] if isinstance(a, list) else a for a in args),
                              pure=False) for k in range(chunks)]
        futures.extend(done)
        return done

    try:
        for node in nodes:
            below = max((depth[o.id] for o in node.operands), default=0)
            weight = 0
            operands = [values[o.id] for o in node.operands]
            if node.op == "input":
                value = per_chunk(_input, raw, graph.alphabet, p)
            elif node.op == "const":
                value = np.asarray(node.arg, dtype=np.float64)
                value = value if p is None else residues(value, p, "a constant")
            elif node.op == "scan":
                layer, sharded = node.arg, scans[len(layers)]
                seq = raw if layer.model.alphabet else operands[0]
                value = _scan(sharded, seq, lengths, b, layer.reverse, futures, client)
                weight = sharded.depth["total"]
                layers.append({"name": layer.name, "kind": sharded.cls.kind,
                               "summary": sharded.summary, "depth": dict(sharded.depth)})
            elif node.op == "shift":
                check_shift(node.arg, n, node)
                value = _shift(node, operands, bounds, b, client, futures)
            else:
                spec = (node.op, node.arg, node.shape, [o.shape for o in node.operands])
                if any(isinstance(v, list) for v in operands):
                    value = per_chunk(_position_wise, spec, p, *operands)
                else:  # constants only: a constant, here
                    value = _position_wise(spec, p, *operands)
                weight = _weight(node)
            values[node.id] = value
            depth[node.id] = below + weight
        out = _gather_output(values[graph.output.id], graph.output.shape, b, n, outputs, p,
                             client, futures)
    finally:
        client.cancel(futures)  # interrupted: stops them; done: frees the workers' copies
    if dtype == "float32":
        out = out.astype(np.float32)
    return out, {"total": depth[graph.output.id]}, layers


def _check_ring(nodes, program: Program, p: int | None) -> None:
    if p is None:
        return
    for node in nodes:
        if isinstance(node.op, Op) and node.op not in _RING:
            raise OptionError(f"exact evaluation modulo p supports add, sub, mul and neg only; "
                              f"{program.name} has a {node.op.name.lower()} between its layers")


def _weight(node) -> int:
    if node.op == "sum":
        count = math.prod(node.operands[0].shape[a] for a in node.arg)
        return math.ceil(math.log2(count)) if count > 1 else 0
    return 1 if isinstance(node.op, Op) else 0  # a gather is wiring


def _scan(sharded, seq: list, lengths: list[int], b: int, reverse: bool, futures: list,
          client) -> list:
    """A layer's states, chunk by chunk, left on the workers; a reverse layer runs over the
    chunks in reverse order, each reversed."""
    if not reverse:
        return sharded.run_pieces(seq, lengths, b, "all", futures)
    flipped = [client.submit(_reversed, piece, pure=False) for piece in seq[::-1]]
    futures.extend(flipped)
    states = sharded.run_pieces(flipped, lengths[::-1], b, "all", futures)
    back = [client.submit(_reversed, piece, pure=False) for piece in states[::-1]]
    futures.extend(back)
    return back


def _shift(node, operands: list, bounds: list[int], b: int, client, futures: list) -> list:
    """rc.shift by k: chunk j reads positions start_j - k .. end_j - k of its operand, from
    the chunks they lie in; positions before 0 take the fill."""
    k = node.arg
    operand, fill = operands
    done = []
    for j in range(len(bounds) - 1):
        start, length = bounds[j], bounds[j + 1] - bounds[j]
        first = max(0, int(np.searchsorted(bounds, start - k, side="right")) - 1)
        sources = operand[first:j + 1] if isinstance(operand, list) else operand
        done.append(client.submit(_shifted, k, start, bounds[first], (b, length), node.shape,
                                  sources, fill[j] if isinstance(fill, list) else fill,
                                  pure=False))
    futures.extend(done)
    return done


def _gather_output(value, shape: tuple, b: int, n: int, outputs: str, p: int | None,
                   client, futures: list) -> np.ndarray:
    dtype = np.float64 if p is None else np.int64
    if not isinstance(value, list):  # the output is a constant: every position holds it
        lead = (b,) if outputs == "last" else (b, n)
        return np.array(np.broadcast_to(value, lead + shape), dtype=dtype)
    if outputs == "last":
        last = client.submit(_last, value[-1], shape, pure=False)
        futures.append(last)
        return np.asarray(gather(client, [last])[0], dtype=dtype)
    pieces = [client.submit(_full, piece, shape, pure=False) for piece in value]
    futures.extend(pieces)
    return np.concatenate(gather(client, pieces), axis=1).astype(dtype, copy=False)


# -- the tasks: plain arrays in and out (a worker need not import the program's file) --------
def _input(piece: np.ndarray, alphabet: int | None, p: int | None) -> np.ndarray:
    from rnncirc.eval.modular import residues

    if alphabet:
        return (piece[..., None] == np.arange(alphabet)).astype(np.float64)
    return piece if p is None else residues(piece, p, "an input")


def _position_wise(spec: tuple, p: int | None, *operands) -> np.ndarray:
    """One node at every position of a chunk: operands ``(B, L, *shape)``, or constants of
    their node's shape (all constants: the node's value, a constant)."""
    op, arg, shape, shapes = spec
    leads = [v.shape[:v.ndim - len(s)] for v, s in zip(operands, shapes, strict=True)]
    lead = max(leads, key=len)
    if op == "gather":
        at = len(lead)
        flat = np.concatenate([np.broadcast_to(v, lead + s).reshape(lead + (-1,))
                               for v, s in zip(operands, shapes, strict=True)], axis=at)
        return flat[..., np.asarray(arg).ravel()].reshape(lead + shape)
    if op == "sum":
        value = operands[0].sum(axis=tuple(len(leads[0]) + a for a in arg))
        return value if p is None else np.mod(value, p)
    if p is None:
        return np.asarray(apply_op(op, *operands), dtype=np.float64)
    return np.mod(_RING[op](*(np.asarray(v, dtype=np.int64) for v in operands)), p)


def _shifted(k: int, start: int, origin: int, lead: tuple, shape: tuple, sources, fill):
    """Positions start .. start + L - 1 of the shift (`lead` = (B, L)): the operand k
    earlier, read from `sources` (its chunks from position `origin` on, or a constant), or
    the fill before position 0."""
    at = np.arange(start, start + lead[1]) - k
    if isinstance(sources, list):
        seq = np.concatenate([np.broadcast_to(s, s.shape[:2] + shape) for s in sources], axis=1)
        moved = seq[:, np.clip(at - origin, 0, None)]
    else:
        moved = np.broadcast_to(sources, lead + shape)
    before = (at < 0).reshape((1, -1) + (1,) * len(shape))
    return np.where(before, np.broadcast_to(fill, lead + shape), moved)


def _reversed(piece: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(piece[:, ::-1])


def _last(piece: np.ndarray, shape: tuple) -> np.ndarray:
    return np.array(np.broadcast_to(piece, piece.shape[:2] + shape)[:, -1])


def _full(piece: np.ndarray, shape: tuple) -> np.ndarray:
    return np.array(np.broadcast_to(piece, piece.shape[:2] + shape))
