"""Program lowering: one circuit for a whole program (`frontend.program`), layer by layer.

Summary of the algorithm. The program graph is walked once in topological order with one
shared `GateBuilder`; every value is an int64 array of gate ids with a leading position axis.

- The input sequence is n*K INPUT rows (one-hot bits for alphabet programs).
- A run of position-wise nodes between layers is scalarized once into a one-position
  template whose INPUT slots are the values it reads from before it (`scalarize_many`), then
  tiled over the n positions (`GateBuilder.tile`): no Python runs per position or per gate.
- A recurrent layer is compiled on its own by the caller's `build_layer` (the compiler:
  classification, topology, prefix network or unroll, exactly as for a single RNN) and
  spliced in with `GateBuilder.splice`: its input slot (t, s) reads the gate id of the
  operand's value at position t, so a later layer's leaves read an earlier layer's outputs.
  A reverse layer reads its operand from the end and its states are put back in order.
- ``rc.shift`` is wiring: k fill constants, then the operand's ids of positions 1..n-k.

With ``outputs="last"`` a value is only needed at position n where every path from it to the
output is position-wise (`_needs`): such blocks are instantiated once, and a layer read only
there is compiled with ``outputs="last"`` (a reduction tree). Gates no output reads are
dropped at the end. Provenance: the `node` column of a row is its program node, or for a
layer's rows its cell node moved into that layer's block of labels (`CircuitInfo.cell_labels`
and ``extra["layers"]`` say which rows belong to which layer).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.program import Layer, Program, check_shift
from rnncirc.ir.builder import GateBuilder, rounded_info
from rnncirc.ir.circuit import Circuit, CircuitInfo
from rnncirc.ir.levels import compute_levels, dead_gates
from rnncirc.ir.ops import ARITY, Op
from rnncirc.ir.provenance import layer_gates
from rnncirc.ir.simplify import simplify
from rnncirc.lower.linear import build_linear
from rnncirc.lower.scalarize import scalarize_many
from rnncirc.lower.segment_lower import KINDS as SEGMENT_KINDS
from rnncirc.lower.segment_lower import build_segment_sum
from rnncirc.lower.segment_sum import TOPOLOGIES as SEGMENT_SUM
from rnncirc.lower.unroll import drop_dead, unroll

_ALL, _LAST = 2, 1

#: `choose(layer, outputs) -> (topology, classification, form)`: the compiler's choice for
#: one layer's RNN over the program's length ("sequential": unrolled), and the form its A is
#: combined in (the classification itself, or its dense form: `lower.measure.best_form`)
LayerChooser = Callable[[Layer, str], tuple[str, object, object]]


def _needs(nodes: list, output, outputs: str) -> dict[int, int]:
    """Per node: needed at every position (_ALL) or at position n only (_LAST)."""
    need = {node.id: 0 for node in nodes}
    need[output.id] = _ALL if outputs == "all" else _LAST
    for node in reversed(nodes):
        mine = need[node.id]
        if not mine:
            continue
        # a layer or a shift reads its operand at other positions than its own
        passed = _ALL if node.op in ("scan", "shift") else mine
        for operand in node.operands:
            need[operand.id] = max(need[operand.id], passed)
    return need


def position_wise_template(nodes: list, outputs: list, external: list):
    """One position of a block of position-wise nodes as a template: (rows, consts, ids of
    the outputs, flattened in order). External values are INPUT slots, in order."""
    template = GateBuilder()
    leaves, slot = {}, 0
    for value in external:
        leaves[value.id] = template.leaf(Op.INPUT, np.arange(slot, slot + value.size)) \
            .reshape((1,) + value.shape)
        slot += value.size
    built = scalarize_many(nodes, outputs, template, leaves, 1)
    flat = np.concatenate([ids.ravel() for ids in built]) if built else \
        np.zeros(0, dtype=np.int64)
    rows, out = simplify(template.arrays(), flat)
    return rows, np.asarray(template.const_values), out


class _Lowering:
    """The state of one program lowering: the builder, values, labels and step column."""

    def __init__(self, program: Program, n: int, outputs: str, choose: LayerChooser,
                 capacity: int):
        self.program, self.n, self.outputs, self.choose = program, n, outputs, choose
        self.graph = program.graph
        self.nodes = self.graph.live_nodes()
        self.need = _needs(self.nodes, self.graph.output, outputs)
        self.builder = GateBuilder(capacity=max(1 << 16, capacity))
        k = self.graph.input.size
        self.inputs = self.builder.leaf(Op.INPUT, np.arange(n * k)).reshape(n, k)
        self.values: dict[int, np.ndarray] = {self.graph.input.id: self.inputs}
        self.labels = [node.label for node in self.graph.nodes]
        #: (first row, step of each row from there) for the rows that are not leaves
        self.steps: list[tuple[int, np.ndarray]] = []
        self.blocks: list[dict] = []
        self.block_of_node = np.full(len(self.graph.nodes), -1, dtype=np.int64)
        consumers: dict[int, set[int]] = {}
        for node in self.nodes:
            for operand in node.operands:
                consumers.setdefault(operand.id, set()).add(node.id)
        self.consumers = consumers

    def run(self) -> np.ndarray:
        """Build every node; the ids of the program's outputs."""
        pending: list = []
        for node in self.nodes:
            if node.op == "input":
                continue
            if node.op in ("scan", "shift"):
                self._position_wise(pending)
                pending = []
                if node.op == "scan":
                    self._layer(node)
                else:
                    self._shift(node)
            else:
                pending.append(node)
        self._position_wise(pending)
        out = self.values[self.graph.output.id]
        return out if self.outputs == "all" else out[-1:]

    # -- position-wise blocks -------------------------------------------------------------
    def _position_wise(self, pending: list) -> None:
        # nodes needed everywhere first: a node needed at n only may read them, never the
        # other way round
        for level in (_ALL, _LAST):
            group = [node for node in pending if self.need[node.id] == level]
            if group:
                self._instantiate(group, last_only=level == _LAST)

    def _instantiate(self, group: list, last_only: bool) -> None:
        ids_in = {node.id for node in group}
        external, seen = [], set()
        for node in group:
            for operand in node.operands:
                if operand.id not in ids_in and operand.id not in seen:
                    seen.add(operand.id)
                    external.append(operand)
        outputs = [node for node in group if node.id == self.graph.output.id
                   or self.consumers.get(node.id, set()) - ids_in]
        if not outputs:
            return
        rows, consts, out = position_wise_template(group, outputs, external)
        copies = 1 if last_only else self.n
        if external:
            feed = np.concatenate([self.values[v.id].reshape(self.values[v.id].shape[0], -1)
                                   [-copies:] for v in external], axis=1)
        else:
            feed = np.zeros((copies, 0), dtype=np.int64)
        start = self.builder.n
        ids = self.builder.tile(rows, consts, feed, out)
        gates = (self.builder.n - start) // copies
        positions = np.arange(self.n - copies + 1, self.n + 1, dtype=np.int32)
        self.steps.append((start, np.repeat(positions, gates)))
        offset = 0
        for node in outputs:
            self.values[node.id] = ids[:, offset:offset + node.size].reshape(
                (copies,) + node.shape)
            offset += node.size
        if not gates:  # wiring and constants only: no block to report
            return
        self.block_of_node[[node.id for node in group]] = len(self.blocks)
        number = sum(block["kind"] == "position-wise" for block in self.blocks) + 1
        self.blocks.append({"name": f"position-wise {number}",
                            "kind": "position-wise", "topology": None,
                            "positions": "last" if last_only else "all",
                            "labels": None, "inputs": feed, "outputs": ids,
                            "built": gates * copies})

    # -- layers and shifts ----------------------------------------------------------------
    def _layer(self, node) -> None:
        layer: Layer = node.arg
        operand = node.operands[0]
        feed = self.inputs if layer.model.alphabet else self.values[operand.id]
        if layer.reverse:
            feed = feed[::-1]
        wanted = "last" if self.need[node.id] == _LAST and not layer.reverse else "all"
        topology, cls, form = self.choose(layer, wanted)
        first_label = len(self.labels)
        self.labels.append(f"{layer.name}: combine")
        start = self.builder.n
        if topology == "sequential":  # the unroll writes its own columns: spliced in
            circuit = unroll(layer.model, self.n, wanted)
            self.labels.extend(f"{layer.name}: {label}" for label in circuit.info.cell_labels)
            new_id = self.builder.splice(circuit, feed, first_label + 1)
            self.steps.append((start, circuit.step[circuit.is_gate].astype(np.int32)))
            states = new_id[circuit.outputs]
        else:  # built straight into the program's rows: no copy
            self.labels.extend(f"{layer.name}: {n.label}"
                               for n in cls.linear.affine.builder.nodes)
            if topology in SEGMENT_SUM:
                if cls.kind not in SEGMENT_KINDS:
                    raise OptionError(
                        f"layer {layer.name} is {cls.kind}, but topology {topology!r} is "
                        f"built for {', '.join(SEGMENT_KINDS[:-1])} and {SEGMENT_KINDS[-1]} "
                        "layers; use a prefix network (e.g. --topology sklansky) or auto")
                states, levels, _ = build_segment_sum(self.builder, feed, layer.model, cls,
                                                      wanted, topology)
            else:
                states, levels, _ = build_linear(self.builder, feed, layer.model, form,
                                                 topology, wanted)
            self.builder.move_provenance(start, first_label + 1)
            self.steps.append((self.builder.n - len(levels), levels))
        self.values[node.id] = states[::-1] if layer.reverse else states
        self.block_of_node[node.id] = len(self.blocks)
        self.blocks.append({"name": layer.name, "kind": cls.kind, "combine_form": form.kind,
                            "topology": topology,
                            "positions": wanted, "labels": (first_label, len(self.labels)),
                            "inputs": feed, "outputs": states,
                            "built": self.builder.gates_since(start)})

    def _shift(self, node) -> None:
        k = node.arg
        check_shift(k, self.n, node)
        operand, fill = self.values[node.operands[0].id], self.values[node.operands[1].id]
        self.values[node.id] = np.concatenate([fill[:k], operand[:self.n - k]])

    # -- the circuit ----------------------------------------------------------------------
    def _reads(self) -> None:
        """Each block's ``reads``: the blocks (or "input") whose values it reads, through
        wiring and shifts."""
        carried: dict[int, set] = {self.graph.input.id: {"input"}}
        for node in self.nodes:
            if node.id == self.graph.input.id:
                continue
            sources = set().union(*(carried.get(o.id, set()) for o in node.operands)) \
                if node.operands else set()
            block = int(self.block_of_node[node.id])
            if block >= 0:
                own = self.blocks[block]["name"]
                reads = self.blocks[block].setdefault("reads", [])
                reads.extend(s for s in sorted(sources - {own}) if s not in reads)
                carried[node.id] = {own}
            else:
                carried[node.id] = sources
        for block in self.blocks:
            block.setdefault("reads", [])

    def assemble(self, out: np.ndarray, topology: str, kind: str) -> Circuit:
        self._reads()
        rows = self.builder.arrays(copy=False, trim=True)
        consts = np.asarray(self.builder.const_values)
        rounded = rounded_info(self.builder)
        self.builder = None  # its folding flags go: only the rows stay
        columns = (rows["op"], rows["a"], rows["b"], rows["c"], ARITY)
        # in the order that keeps the peak low: liveness (a byte a row, gone after), then
        # levels and steps (kept by the circuit)
        dead = dead_gates(*columns, out.ravel().astype(np.int64))
        levels = compute_levels(*columns)
        step = np.zeros(len(rows["op"]), dtype=np.int32)
        step[self.inputs.ravel()] = np.repeat(np.arange(1, self.n + 1), self.inputs.shape[1])
        for start, values in self.steps:
            step[start:start + len(values)] = values
        layers = []
        for block in self.blocks:
            reach = int(levels[block["outputs"]].max(initial=0))
            start = int(levels[block["inputs"]].max(initial=0))
            layers.append({k: v for k, v in block.items()
                           if k not in ("inputs", "outputs", "built")}
                          | {"reaches_level": reach, "depth_added": reach - start,
                             "gates": block["built"]})
        info = CircuitInfo(
            model=self.program.name, length=self.n, state_shape=self.program.state_shape,
            input_size=self.program.input_size, alphabet=self.program.alphabet,
            topology=topology, outputs=self.outputs, kind=kind,
            cell_labels=tuple(self.labels),
            extra={"layers": layers, "program_nodes": len(self.graph.nodes),
                   "block_of_node": self.block_of_node.tolist(),
                   "step_column": "position (inside a parallel layer: its prefix level)"}
            | rounded)
        circuit = Circuit(op=rows["op"], a=rows["a"], b=rows["b"], c=rows["c"], step=step,
                          node=rows["node"], consts=consts,
                          inputs=self.inputs.astype(np.int32), outputs=out.astype(np.int32),
                          info=info)
        if not dead:  # the levels and the gate counts stand
            levels.setflags(write=False)
            circuit.__dict__["levels"] = levels
            return circuit
        del levels
        circuit = drop_dead(circuit)
        for layer, count in zip(layers, layer_gates(circuit), strict=True):
            layer["gates"] = count
        return circuit


def lower_program(program: Program, n: int, outputs: str, choose: LayerChooser,
                  topology: str, kind: str, capacity: int = 0) -> Circuit:
    """The circuit of `program` over `n` positions (see the module docstring); `capacity`:
    the rows expected, reserved up front (growing by doubling copies every row)."""
    lowering = _Lowering(program, n, outputs, choose, capacity)
    return lowering.assemble(lowering.run(), topology, kind)


def position_wise_gates(program: Program) -> int:
    """Gates of the program's position-wise nodes at one position (layers and shifts read
    as inputs): a program's size is about this times n plus its layers'."""
    nodes = [node for node in program.graph.live_nodes()
             if node.op not in ("scan", "shift", "input")]
    ids = {node.id for node in nodes}
    external = {o.id: o for node in nodes for o in node.operands if o.id not in ids}
    if not nodes:
        return 0
    rows, _, _ = position_wise_template(nodes, nodes, list(external.values()))
    return int(np.count_nonzero(ARITY[rows["op"]] > 0))
