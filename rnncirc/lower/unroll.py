"""Sequential unroll: n copies of the step, chained h_{t-1} -> h_t, built as tiles.

Summary of the algorithm. The cell is scalarized twice into one-step *templates*: ``first``
with the state replaced by the constant h_0 (so it folds away, e.g. ``W @ 0``), and ``step``
with the state as STATE leaves. Each template is structurally hashed and cleaned once. The
circuit is then laid out as

    [constants] [inputs, n*K] [first: G1 gates] [step for t=2: G gates] ... [step for t=n]

so the id of gate j of step t is known by arithmetic, and every tile's operand columns are
computed for a whole block of steps with a handful of numpy operations: template constants map
to the shared constant rows, input slot s to ``input_base + (t-1)*K + s``, state slot s to the
id of h_{t-1}[s], and template gate j to ``tile_base(t) + rank(j)``. No Python runs per gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnncirc.frontend.model import RNN
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.circuit import BYTES_PER_GATE, Circuit, CircuitInfo
from rnncirc.ir.memory import ensure_fits
from rnncirc.ir.ops import ARITY, Op
from rnncirc.ir.simplify import simplify
from rnncirc.lower.scalarize import scalarize

#: template operand entries processed per block when tiling (bounds temporary memory)
_BLOCK_ENTRIES = 1 << 20


@dataclass(frozen=True)
class Template:
    """One step as scalar rows (leaves carry payloads) plus the ids of its state outputs."""

    rows: dict
    consts: np.ndarray
    outputs: np.ndarray

    @property
    def is_gate(self) -> np.ndarray:
        return ARITY[self.rows["op"]] > 0

    @property
    def gates(self) -> int:
        return int(np.count_nonzero(self.is_gate))


def step_template(model: RNN, state_is_init: bool) -> Template:
    """Scalarize one step; the state is either h_0 (folded) or STATE leaves."""
    cell = model.cell
    builder = GateBuilder()
    state_size = int(np.prod(model.state_shape))
    if state_is_init:
        state_ids = builder.const(model.init)
    else:
        state_ids = builder.leaf(Op.STATE, np.arange(state_size), late=True)
    input_ids = builder.leaf(Op.INPUT, np.arange(cell.input.size))
    leaves = {cell.state.id: state_ids.reshape((1,) + model.state_shape),
              cell.input.id: input_ids.reshape((1,) + cell.input_shape)}
    out = scalarize(cell.live_nodes(), cell.output, builder, leaves, instances=1)
    rows, outputs = simplify(builder.arrays(), out.ravel())
    return Template(rows, np.asarray(builder.const_values), outputs)


def template_pair(model: RNN) -> tuple[Template, Template]:
    return step_template(model, True), step_template(model, False)


def ensure_unroll_fits(model: RNN, n: int, templates: tuple[Template, Template] | None = None,
                       n_consts: int = 0) -> None:
    """Refuse, before any row is allocated, an unroll that would not fit in memory, naming
    the largest length that would (rows grow linearly in n: inputs and one step per step)."""
    first, step = templates or template_pair(model)
    k = model.cell.input.size

    def rows(length: int) -> int:
        return n_consts + length * k + first.gates + (length - 1) * step.gates

    ensure_fits(rows(n), BYTES_PER_GATE + 8, f"unrolling {model.name} over {n:,} steps",
                "use a smaller --length", rows_at=rows, length=n)


def unroll(model: RNN, length: int, outputs: str = "all",
           templates: tuple[Template, Template] | None = None) -> Circuit:
    """The sequential circuit of `model` over `length` steps."""
    first, step = templates or template_pair(model)
    n = length
    k = model.cell.input.size
    state_size = int(np.prod(model.state_shape))

    consts, first_const, step_const = _merge_consts(first, step, model.init)
    n_consts = len(consts)
    input_base = n_consts
    first_base = input_base + n * k
    step_base = first_base + first.gates
    total = step_base + (n - 1) * step.gates
    ensure_unroll_fits(model, n, (first, step), len(consts))

    columns = {name: np.full(total, -1, dtype=np.int32) for name in ("a", "b", "c", "node")}
    columns["op"] = np.empty(total, dtype=np.uint8)
    columns["step"] = np.zeros(total, dtype=np.int32)
    columns["op"][:n_consts] = Op.CONST
    columns["a"][:n_consts] = np.arange(n_consts)
    columns["op"][input_base:first_base] = Op.INPUT
    columns["a"][input_base:first_base] = np.arange(n * k)
    columns["step"][input_base:first_base] = np.repeat(np.arange(1, n + 1), k)

    state_ids = np.empty((n + 1, state_size), dtype=np.int64)
    state_ids[0] = consts_ids_of(model.init.ravel(), consts)
    one = np.array([1])
    mapper = _TileMapper(first, first_const, input_base, k, state_ids, first_base, 1)
    state_ids[1] = mapper.map(first.outputs, one)[0]
    _write_tiles(columns, first, mapper, one, first_base)
    if n > 1:
        mapper = _TileMapper(step, step_const, input_base, k, state_ids, step_base, 2)
        steps = np.arange(2, n + 1)
        _fill_state_ids(mapper, step, steps, state_ids)
        block = max(1, _BLOCK_ENTRIES // max(1, step.gates))
        for lo in range(0, len(steps), block):
            _write_tiles(columns, step, mapper, steps[lo:lo + block],
                         step_base + lo * step.gates)

    out_ids = state_ids[1:] if outputs == "all" else state_ids[n:]
    info = CircuitInfo(model=model.name, length=n, state_shape=model.state_shape,
                       input_size=model.input_size, alphabet=model.alphabet,
                       topology="sequential", outputs=outputs,
                       cell_labels=tuple(node.label for node in model.cell.nodes))
    circuit = Circuit(**columns, consts=consts,
                      inputs=np.arange(input_base, first_base).reshape(n, k),
                      outputs=out_ids.reshape((len(out_ids),) + model.state_shape)
                      .astype(np.int32), info=info)
    return drop_dead(circuit) if outputs == "last" else circuit


def consts_ids_of(values: np.ndarray, consts: np.ndarray) -> np.ndarray:
    """Row ids of the constant rows holding `values` (constants are rows 0..C-1, sorted)."""
    values = np.where(values == 0, 0.0, values)
    return np.searchsorted(consts, values).astype(np.int64)


def _merge_consts(first: Template, step: Template, init: np.ndarray):
    values = np.concatenate([first.consts, step.consts, init.ravel()])
    consts = np.unique(np.where(values == 0, 0.0, values))
    return consts, consts_ids_of(first.consts, consts), consts_ids_of(step.consts, consts)


class _TileMapper:
    """Maps template ids to circuit ids for a block of steps (one row per step).

    Every template row except a STATE leaf maps to ``offset + t * stride`` (gates: the tile
    base moves by G per step; inputs by K; constants do not move), so a whole block of steps is
    one outer product; STATE leaves gather the previous step's state ids.
    """

    def __init__(self, template: Template, const_rows: np.ndarray, input_base: int, k: int,
                 state_ids: np.ndarray, tile_base: int, first_step: int):
        op, payload = template.rows["op"], template.rows["a"]
        gate = template.is_gate
        rank = np.cumsum(gate) - 1
        g = template.gates
        const = op == Op.CONST
        const_row = np.zeros(len(op), dtype=np.int64)
        const_row[const] = const_rows[payload[const]]
        self.offset = np.select(
            [gate, const, op == Op.INPUT],
            [tile_base - first_step * g + rank, const_row, input_base - k + payload],
            default=0).astype(np.int64)
        self.stride = np.select([gate, op == Op.INPUT], [g, k], default=0).astype(np.int64)
        self.is_state = op == Op.STATE
        self.payload = payload
        self.state_ids = state_ids

    def map(self, ids: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Circuit ids of template `ids` (1-D) for each step: shape (len(steps), len(ids))."""
        out = self.offset[ids][None, :] + steps[:, None] * self.stride[ids][None, :]
        state = np.flatnonzero(self.is_state[ids])
        if len(state):
            out[:, state] = self.state_ids[(steps - 1)[:, None], self.payload[ids[state]][None, :]]
        return out


def _fill_state_ids(mapper: _TileMapper, step: Template, steps, state_ids) -> None:
    """state_ids[t] for t >= 2: one vectorized shot unless an output passes a state slot through."""
    if not mapper.is_state[step.outputs].any():
        state_ids[2:] = mapper.map(step.outputs, steps)
        return
    for t in steps:  # h_t[s] = h_{t-1}[p]: wiring that must follow the chain step by step
        state_ids[t] = mapper.map(step.outputs, np.array([t]))[0]


def _write_tiles(columns: dict, template: Template, mapper: _TileMapper, steps,
                 lo: int) -> None:
    """Write the gates of `template` for consecutive `steps`, starting at row `lo`."""
    rows = template.rows
    gate_rows = np.flatnonzero(template.is_gate)
    g = len(gate_rows)
    if g == 0:
        return
    hi = lo + g * len(steps)
    arity = ARITY[rows["op"][gate_rows]]
    columns["op"][lo:hi].reshape(-1, g)[:] = rows["op"][gate_rows]
    columns["node"][lo:hi].reshape(-1, g)[:] = rows["node"][gate_rows]
    columns["step"][lo:hi].reshape(-1, g)[:] = steps[:, None]
    for name, need in (("a", 1), ("b", 2), ("c", 3)):
        used = np.flatnonzero(arity >= need)
        if len(used) == 0:
            continue
        target = columns[name][lo:hi].reshape(-1, g)
        mapped = mapper.map(rows[name][gate_rows[used]], steps)
        if len(used) == g:
            target[:] = mapped
        else:
            target[:, used] = mapped


def drop_dead(circuit: Circuit) -> Circuit:
    """Remove gates no output depends on (Numba: one backward scan, one compaction)."""
    from rnncirc.ir.levels import compact, live_mask

    keep = live_mask(circuit.op, circuit.a, circuit.b, circuit.c, ARITY,
                     circuit.outputs.ravel())
    keep |= ARITY[circuit.op] == 0  # leaves stay: inputs keep their slots
    if keep.all():
        return circuit
    op, a, b, c, step, node, new_id = compact(circuit.op, circuit.a, circuit.b, circuit.c,
                                              circuit.step, circuit.node, ARITY, keep)
    return Circuit(op=op, a=a, b=b, c=c, step=step, node=node, consts=circuit.consts,
                   inputs=new_id[circuit.inputs], outputs=new_id[circuit.outputs],
                   info=circuit.info)
