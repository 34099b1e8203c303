"""The block view of `rnncirc.export.dot`: the scan of a compiled circuit.

For a prefix-lowered circuit, one node per leaf (x_t -> (A_t, b_t)) and one per combine,
labelled with its segment of steps [i..j] and the gates it costs (`attribution`), one rank per
prefix level, outputs (the prefixes [1..t], that is h_t) filled green. For an unrolled
circuit, one node per step, chained. A program's circuit: `rnncirc.export.program_dot`.
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.attribution import attribute_gates
from rnncirc.export.dot_graph import (
    BLOCK_LIMIT,
    GATE_LIMIT,
    DiagramTooLargeError,
    add_rank_groups,
    escape,
    new_graph,
)
from rnncirc.ir.ops import ARITY


def block_nodes(circuit) -> int:
    if "layers" in circuit.info.extra:  # a program: a node per position and layer at most
        return circuit.length * len(circuit.info.extra["layers"])
    if circuit.topology == "sequential":
        return circuit.length
    from rnncirc.lower import prefix, segment_sum

    if circuit.topology in segment_sum.TOPOLOGIES:
        raise DiagramTooLargeError(
            f"a {circuit.topology} circuit has no block view (it sums segments, it is no "
            f"prefix network), and the gate view draws at most {GATE_LIMIT:,} gates; this "
            f"one has {circuit.size:,}: compile a shorter length or a smaller model, or a "
            f"prefix network (e.g. --topology sklansky) for its block view")
    return circuit.length + prefix.exact_size(circuit.topology, circuit.info.outputs,
                                              circuit.length)


def block_graph(circuit):
    """The scan of `circuit`: prefix network (one node per combine) or chain of steps."""
    nodes = block_nodes(circuit)
    if nodes > BLOCK_LIMIT:
        raise DiagramTooLargeError(
            f"the block view of this circuit has {nodes:,} nodes (limit {BLOCK_LIMIT:,}); "
            f"compile a shorter length (block views read well up to a few hundred steps)")
    if "layers" in circuit.info.extra:
        from rnncirc.export.program_dot import program_block_graph

        return program_block_graph(circuit)
    if circuit.topology == "sequential":
        return _chain_graph(circuit)
    return _prefix_graph(circuit)


def _prefix_graph(circuit):
    import pydot

    from rnncirc.lower import prefix

    info = circuit.info
    net = prefix.build(circuit.length, circuit.topology, info.outputs)
    n = net.n
    _, gates = attribute_gates(circuit, net)
    unattributed = circuit.size - int(gates.sum())
    shape = f"{info.topology} prefix network" if info.outputs == "all" else \
        "reduction tree (outputs='last')"
    title = (f"{info.model}: {shape} over n = {n} steps "
             f"({info.kind}); {circuit.size:,} gates, depth {circuit.depth}\n"
             f"a node per combine: its segment of steps [i..j] and its gates; green: h_t "
             f"(the prefix [1..t])")
    if unattributed:
        title += f"; {unattributed} gates not attributed to one combine"
    graph = new_graph(f"{info.model}_block", title)
    outputs = {int(v): k for k, v in enumerate(net.result) if v >= 0}
    last_step = n if info.outputs == "last" else None
    levels: dict[int, list[str]] = {0: []}
    for t in range(n):
        name = f"v{t}"
        label = f"x_{t + 1}\n{gates[t]} gates"
        attrs = {"shape": "box", "style": "filled", "fillcolor": "#cfe2f3"}
        if t in outputs:
            label += f"\nh_{t + 1}"
            attrs.update(fillcolor="#b6d7a8", penwidth="2")
        levels[0].append(pydot.Node(name, label=escape(label), **attrs))
    value = n
    for depth, level in enumerate(net.levels, start=1):
        names = []
        for k in range(len(level)):
            lo, hi = int(level.left_lo[k]), int(level.right_hi[k])
            name = f"v{value}"
            label = f"[{lo + 1}..{hi + 1}]\n{gates[value]} gates"
            attrs = {"shape": "box", "style": "rounded,filled", "fillcolor": "#fff2cc"}
            if value in outputs:
                step = last_step or outputs[value] + 1
                label += f"\nh_{step}"
                attrs.update(fillcolor="#b6d7a8", penwidth="2")
            graph.add_edge(pydot.Edge(f"v{level.left_src[k]}", name))
            graph.add_edge(pydot.Edge(f"v{level.right_src[k]}", name))
            names.append((hi, pydot.Node(name, label=escape(label), **attrs)))
            value += 1
        levels[depth] = [node for _, node in sorted(names, key=lambda item: item[0])]
    add_rank_groups(graph, levels)
    _order_within_ranks(graph, levels)
    return graph


def _order_within_ranks(graph, levels: dict[int, list[str]]) -> None:
    """Invisible edges between neighbours of a rank keep time running left to right."""
    import pydot

    for nodes in levels.values():
        names = [node.get_name() for node in nodes]
        for left, right in zip(names, names[1:], strict=False):
            graph.add_edge(pydot.Edge(left, right, style="invis"))


def _chain_graph(circuit):
    import pydot

    info = circuit.info
    n = circuit.length
    per_step = np.bincount(circuit.step[ARITY[circuit.op] > 0], minlength=n + 1)
    outs = circuit.outputs.reshape(circuit.outputs.shape[0], -1)
    reached = circuit.levels[outs].max(axis=1) if info.outputs == "all" else None
    title = (f"{info.model}: unrolled over n = {n} steps ({info.kind}); {circuit.size:,} gates, "
             f"depth {circuit.depth}\none node per step: x_t and h_(t-1) -> h_t; a "
             f"nonlinear step admits no parallel scan")
    graph = new_graph(f"{info.model}_block", title, rankdir="LR")
    levels = {}
    outputs_every_step = info.outputs == "all"
    for t in range(1, n + 1):
        name = f"s{t}"
        is_output = outputs_every_step or t == n
        label = f"step {t}\nx_{t}, h_{t - 1} -> h_{t}\n{per_step[t]} gates"
        if reached is not None:
            label += f"\nh_{t} at level {reached[t - 1]}"
        attrs = {"shape": "box", "style": "rounded,filled",
                 "fillcolor": "#b6d7a8" if is_output else "#fff2cc"}
        if t > 1:
            graph.add_edge(pydot.Edge(f"s{t - 1}", name, label=f"h_{t - 1}"))
        levels[t] = [pydot.Node(name, label=escape(label), **attrs)]
    add_rank_groups(graph, levels)
    return graph
