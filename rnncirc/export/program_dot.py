"""Diagrams of programs: the layer graph (cell view) and one cluster per layer (block view).

Where this sits: beside `export.dot`, which dispatches here for a `Program` or a program's
circuit. The cell view draws the traced program: its input, each recurrent layer (kind and
class), each ``rc.shift``, the position-wise operations between them and the output. The
block view draws a compiled program: one cluster per layer or position-wise block, a node
per position (a parallel layer: per prefix level) with its gates, and the blocks each one
reads.
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.dot_graph import add_rank_groups, escape, new_graph, shape_text
from rnncirc.ir.provenance import _owner

_FILL = {"input": "#9fc5e8", "scan": "#fff2cc", "nonlinear": "#f4cccc", "shift": "#d9d2e9",
         "output": "#b6d7a8", "const": "#eeeeee"}


def program_graph(program):
    """The program's layer graph: layers as boxes with their kind, wiring drawn as edges."""
    import pydot

    from rnncirc.lower.layers import classify

    graph_ir = program.graph
    found = classify(program)
    kinds = dict(found.layers)
    title = (f"{program.name}: program over a sequence ({found.kind}, {found.complexity})\n"
             "boxes: recurrent layers (rc.scan); ellipses: position-wise operations")
    graph = new_graph(f"{program.name}_program", title)
    rep: dict[int, int] = {}
    generation: dict[int, int] = {}
    levels: dict[int, list] = {}
    for node in graph_ir.live_nodes():
        if node.op == "gather" and len(node.operands) == 1:
            rep[node.id] = rep[node.operands[0].id]
            continue
        if node.op == "const":
            rep[node.id] = node.id
            generation[node.id] = 0
            continue
        rep[node.id] = node.id
        sources = [rep[o.id] for o in node.operands if o.op != "const"]
        generation[node.id] = 1 + max((generation[s] for s in sources), default=-1)
        levels.setdefault(generation[node.id], []).append(
            pydot.Node(f"p{node.id}", **_attrs(node, program, kinds)))
        for source in dict.fromkeys(sources):
            graph.add_edge(pydot.Edge(f"p{source}", f"p{node.id}"))
    out = pydot.Node("y_t", label=escape(f"y_t {shape_text(graph_ir.output.shape)}"),
                     shape="invhouse", style="filled", fillcolor=_FILL["output"], penwidth="2")
    levels[max(levels, default=0) + 1] = [out]
    graph.add_edge(pydot.Edge(f"p{rep[graph_ir.output.id]}", "y_t"))
    add_rank_groups(graph, levels)
    return graph


def _attrs(node, program, kinds) -> dict:
    if node.op == "input":
        what = f"symbols of {program.alphabet}" if program.alphabet else shape_text(node.shape)
        return {"label": escape(f"x_t {what}"), "shape": "house", "style": "filled",
                "fillcolor": _FILL["input"]}
    if node.op == "scan":
        layer = node.arg
        cls = kinds[layer.name]
        fill = _FILL["nonlinear"] if cls.kind == "nonlinear" else _FILL["scan"]
        label = (f"rc.scan({layer.model.name}{', reverse' if layer.reverse else ''})\n"
                 f"{cls.kind}, {cls.complexity}\nstate {shape_text(node.shape)}")
        return {"label": escape(label), "shape": "box", "style": "filled,bold",
                "fillcolor": fill}
    if node.op == "shift":
        return {"label": escape(f"rc.shift by {node.arg}\n{shape_text(node.shape)}"),
                "shape": "box", "style": "rounded,filled", "fillcolor": _FILL["shift"]}
    label = "concat" if node.op == "gather" else node.label
    if node.op == "sum":
        label = f"sum axis {node.arg}"
    return {"label": escape(f"{label}\n{shape_text(node.shape)}"), "shape": "ellipse"}


def program_block_graph(circuit):
    """One cluster per layer or position-wise block of a program's circuit; a node per
    position (per prefix level inside a parallel layer) with its gates."""
    import pydot

    info = circuit.info
    blocks = info.extra["layers"]
    owner = _owner(circuit)
    gate = circuit.is_gate
    node = circuit.node[gate]
    block = np.where(node >= 0, owner[np.maximum(node, 0)], -1)
    step = circuit.step[gate]
    title = (f"{info.model}: program over n = {info.length} positions ({info.kind}); "
             f"{circuit.size:,} gates, depth {circuit.depth}\none cluster per layer: a node "
             "per position (a parallel layer: per prefix level) with its gates")
    graph = new_graph(f"{info.model}_blocks", title)
    graph.set("compound", "true")
    first, last = {}, {}
    for index, entry in enumerate(blocks):
        mine = block == index
        steps, counts = np.unique(step[mine], return_counts=True)
        unit = "level" if entry["topology"] not in (None, "sequential") else "t"
        cluster = pydot.Cluster(
            f"block{index}", style="rounded,filled", fillcolor="#f3f3f3",
            label=escape(f"{entry['name']}: {entry['kind']}"
                          + (f", {entry['topology']}" if entry["topology"] else "")
                          + f"; {entry['gates']:,} gates, adds depth {entry['depth_added']}"))
        names = []
        for k, count in zip(steps.tolist(), counts.tolist(), strict=True):
            name = f"b{index}_{k}"
            cluster.add_node(pydot.Node(name, label=escape(f"{unit}={k}\n{count} gates"),
                                        shape="box", style="filled", fillcolor="#fff2cc"))
            names.append(name)
        if not names:
            name = f"b{index}_empty"
            cluster.add_node(pydot.Node(name, label="0 gates", shape="box"))
            names.append(name)
        for left, right in zip(names, names[1:], strict=False):
            cluster.add_edge(pydot.Edge(left, right, style="dotted", arrowhead="none"))
        graph.add_subgraph(cluster)
        first[entry["name"]], last[entry["name"]] = names[0], names[-1]
    graph.add_node(pydot.Node("input", label=escape(f"x_1..x_{info.length}"), shape="house",
                              style="filled", fillcolor=_FILL["input"]))
    for index, entry in enumerate(blocks):
        for source in entry.get("reads", []):
            tail = "input" if source == "input" else last.get(source)
            if tail is None:
                continue
            edge = {"lhead": f"cluster_block{index}"}
            if source != "input":
                edge["ltail"] = f"cluster_block{blocks.index(_named(blocks, source))}"
            graph.add_edge(pydot.Edge(tail, first[entry["name"]], **edge))
    return graph


def _named(blocks: list[dict], name: str) -> dict:
    return next(block for block in blocks if block["name"] == name)
