"""The gate view of `rnncirc.export.dot`: every gate of a small circuit.

One rank per level, a cluster per time step (per leaf and combine for a prefix circuit, per
layer for a program), a colour per op; constants are folded into the labels (``×0.5``).
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.attribution import attribute_gates
from rnncirc.export.dot_graph import (
    GATE_LIMIT,
    DiagramTooLargeError,
    add_rank_groups,
    escape,
    new_graph,
)
from rnncirc.ir.ops import ARITY, OP_NAMES, Op

_OP_COLOR = {
    "add": "#cfe2f3", "sub": "#cfe2f3", "neg": "#cfe2f3", "mul": "#fce5cd", "div": "#f9cb9c",
    "max": "#d9d2e9", "min": "#d9d2e9", "select": "#d9d2e9", "tanh": "#f4cccc",
    "sigmoid": "#f4cccc", "relu": "#f4cccc", "exp": "#ead1dc", "log": "#ead1dc",
    "sqrt": "#ead1dc", "abs": "#d9d2e9", "softplus": "#f4cccc", "silu": "#f4cccc",
}
_OP_SYMBOL = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "neg": "neg", "select": "?:",
              "lt": "<", "le": "≤", "gt": ">", "ge": "≥", "eq": "=", "ne": "≠"}


def gate_graph(circuit, max_gates: int = GATE_LIMIT):
    """Every gate of `circuit`, one rank per level, a cluster per step, colour per op."""
    import pydot

    info = circuit.info
    if circuit.size > max_gates:
        hint = ("the block view (--view block; view='block' in Python) draws the prefix "
                "network instead, one node per combine"
                if circuit.topology != "sequential" else
                "the block view (--view block; view='block' in Python) draws one node per "
                "step instead")
        raise DiagramTooLargeError(
            f"the gate view draws every gate, and this circuit has {circuit.size:,} (limit "
            f"{max_gates:,}); {hint}, or compile a shorter length or a smaller model "
            f"(--max-gates G, or max_gates=G in Python, raises the limit)")
    op, a, b, c = circuit.op, circuit.a, circuit.b, circuit.c
    levels = circuit.levels
    gate_rows = np.flatnonzero(ARITY[op] > 0)
    is_const = op == Op.CONST
    used = np.zeros(circuit.num_nodes, dtype=bool)
    for column, need in ((a, 1), (b, 2), (c, 3)):
        rows = gate_rows[ARITY[op[gate_rows]] >= need]
        used[column[rows]] = True
    outputs = np.zeros(circuit.num_nodes, dtype=bool)
    outputs[circuit.outputs.ravel()] = True
    input_rows = np.flatnonzero((op == Op.INPUT) & (used | outputs))
    cluster_of, cluster_label = _gate_clusters(circuit)
    boxes = "a box per step" if info.topology == "sequential" else "a box per leaf and combine"
    title = (f"{info.model}: every gate, n = {info.length}, {info.topology} ({info.kind}); "
             f"{circuit.size:,} gates, depth {circuit.depth}\nrank = level; {boxes}; "
             "double border: an output h_t")
    graph = new_graph(f"{info.model}_gates", title)
    clusters: dict[int, object] = {}
    rank: dict[int, list[str]] = {}
    k_inputs = circuit.inputs.shape[1]
    input_index = {int(r): divmod(i, k_inputs) for i, r in enumerate(circuit.inputs.ravel())}
    out_name = _output_names(circuit)
    for row in np.concatenate([input_rows, gate_rows]):
        row = int(row)
        name = f"g{row}"
        if op[row] == Op.INPUT:
            t, s = input_index[row]
            label = f"x_{t + 1}[{s}]"
            attrs = {"shape": "house", "style": "filled", "fillcolor": "#9fc5e8"}
        else:
            label, attrs = _gate_label(circuit, row, is_const)
        if outputs[row]:
            label += f"\n{out_name.get(row, 'out')}"
            attrs.update(peripheries="2", penwidth="1.5")
        attrs["tooltip"] = escape(f"row {row}: {OP_NAMES[op[row]]}, level {levels[row]}")
        node = pydot.Node(name, label=escape(label), **attrs)
        key = int(cluster_of[row])
        if key not in clusters:
            clusters[key] = pydot.Cluster(f"c{key}", label=escape(cluster_label(key)),
                                          style="rounded", color="#999999", fontsize="10")
        clusters[key].add_node(node)
        rank.setdefault(int(levels[row]), []).append(name)
    for key in sorted(clusters):
        graph.add_subgraph(clusters[key])
    for row in gate_rows:
        for column, need in ((a, 1), (b, 2), (c, 3)):
            if ARITY[op[row]] >= need and not is_const[column[row]]:
                graph.add_edge(pydot.Edge(f"g{column[row]}", f"g{row}"))
    add_rank_groups(graph, rank)
    return graph


def _gate_label(circuit, row: int, is_const: np.ndarray) -> tuple[str, dict]:
    name = OP_NAMES[circuit.op[row]]
    symbol = _OP_SYMBOL.get(name, name)
    operands = [circuit.a[row], circuit.b[row], circuit.c[row]][:ARITY[circuit.op[row]]]
    consts = [f"{circuit.consts[circuit.a[o]]:.3g}" for o in operands if is_const[o]]
    if consts and len(operands) == 2:
        label = f"{symbol} {consts[0]}" if is_const[operands[1]] else f"{consts[0]} {symbol}"
    elif consts:
        label = f"{symbol} ({', '.join(consts)})"
    else:
        label = symbol
    shape = "circle" if len(label) <= 2 else "box"
    style = "filled" if shape == "circle" else "rounded,filled"
    return label, {"shape": shape, "style": style, "fillcolor": _OP_COLOR.get(name, "#eeeeee"),
                   "margin": "0.02"}


def _output_names(circuit) -> dict[int, str]:
    outs = circuit.outputs
    steps = range(1, outs.shape[0] + 1) if circuit.info.outputs == "all" else [circuit.length]
    names = {}
    for t, block in zip(steps, outs, strict=True):
        flat = block.ravel()
        for s, row in enumerate(flat):
            idx = np.unravel_index(s, block.shape)
            names.setdefault(int(row), f"h_{t}[{','.join(map(str, idx))}]")
    return names


def _gate_clusters(circuit):
    """(cluster key per row, key -> label): per step (unroll) or per leaf/combine (prefix)."""
    n = circuit.length
    if "layers" in circuit.info.extra:  # a program: one cluster per layer or block
        from rnncirc.ir.provenance import _owner

        blocks = circuit.info.extra["layers"]
        owner = _owner(circuit)
        key = np.where(circuit.node >= 0, owner[np.maximum(circuit.node, 0)], -1)
        key[~circuit.is_gate] = -1
        return key, lambda k: blocks[k]["name"] if k >= 0 else "leaves"
    if circuit.topology == "sequential":
        return circuit.step.astype(np.int64), lambda k: f"step {k}"
    from rnncirc.lower import prefix, segment_sum

    if circuit.topology in segment_sum.TOPOLOGIES:  # no combines: a cluster per level
        return circuit.step.astype(np.int64), lambda k: f"planned level {k}"

    net = prefix.build(n, circuit.topology, circuit.info.outputs)
    owner, _ = attribute_gates(circuit, net)
    key = owner.copy()
    input_step = np.full(circuit.num_nodes, -1, dtype=np.int64)
    input_step[circuit.inputs] = np.arange(n)[:, None]
    key[circuit.op == Op.INPUT] = input_step[circuit.op == Op.INPUT]
    lo = np.concatenate([lv.left_lo for lv in net.levels] or [np.empty(0, np.int64)])
    hi = np.concatenate([lv.right_hi for lv in net.levels] or [np.empty(0, np.int64)])
    lvl = np.concatenate([np.full(len(lv), d + 1) for d, lv in enumerate(net.levels)]
                         or [np.empty(0, np.int64)])

    def label(k: int) -> str:
        if k < 0:
            return "shared"
        if k < n:
            return f"leaf x_{k + 1}"
        j = k - n
        return f"[{lo[j] + 1}..{hi[j] + 1}], prefix level {lvl[j]}"

    return key, label
