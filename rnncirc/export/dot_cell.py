"""The cell view of `rnncirc.export.dot`: one step of a model, its traced `CellGraph`.

Each operation labelled, the state input h_{t-1}, the input x_t and the new state h_t marked;
for a nonlinear model the path from h_{t-1} to h_t through the operation that blocks
parallelism is drawn in red, for a linear one the state path (the part that is A(x) h) in blue.
A program's cell view (its layer graph) is `rnncirc.export.program_dot`.
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.dot_graph import add_rank_groups, escape, new_graph, shape_text

_CELL_FILL = {"state": "#ffd966", "input": "#9fc5e8", "const": "#eeeeee", "gather": "#ffffff",
              "output": "#b6d7a8"}


def cell_graph(model):
    """One step of `model`: its tensor operations, state and input marked, blocker in red.

    Pure wiring with one operand (reshape, broadcast, indexing) is drawn as an edge.
    """
    import pydot

    from rnncirc.lower.classify import classify
    from rnncirc.lower.linearity import find_blocker, state_dependence

    cell = model.cell
    rep: dict[int, int] = {}  # node id -> id of the drawn node that stands for it
    drawn = []
    for node in cell.live_nodes():
        if node.op == "gather" and len(node.operands) == 1:
            rep[node.id] = rep[node.operands[0].id]
        else:
            rep[node.id] = node.id
            drawn.append(node)
    cls = classify(model)
    blocker = find_blocker(cell)
    dep = state_dependence(cell)
    path = [rep[n.id] for n in blocker.path] if blocker else []
    path_edges = {(u, v) for u, v in zip(path, path[1:], strict=False) if u != v}
    title = f"{model.name}: one step ({cls.kind}, {cls.complexity})"
    if blocker:
        where = f" at {blocker.node.where}" if blocker.node.where else ""
        title += (f"\nred: the path h_(t-1) -> h_t through the {blocker.node.label}{where}, "
                  "which blocks parallelism; blue fill: depends on h_(t-1)")
    else:
        title += "\nblue: the state path, linear in h_(t-1): the A(x_t) h_(t-1) part"
    graph = new_graph(f"{model.name}_cell", title)
    generation: dict[int, int] = {}
    levels: dict[int, list[str]] = {}
    for node in drawn:
        sources = {rep[o.id] for o in node.operands}
        generation[node.id] = 1 + max((generation[s] for s in sources), default=-1)
        name = f"n{node.id}"
        attrs = _cell_node_attrs(node, dep.get(node.id, False), node.id in path,
                                 blocker is not None and node is blocker.node, model)
        levels.setdefault(generation[node.id], []).append(pydot.Node(name, **attrs))
        for source in [rep[o.id] for o in node.operands]:
            red = (source, node.id) in path_edges
            blue = not blocker and dep.get(source, False) and dep.get(node.id, False)
            edge = {"color": "#cc0000", "penwidth": "2.5"} if red else \
                {"color": "#3d85c6", "penwidth": "1.8"} if blue else {}
            graph.add_edge(pydot.Edge(f"n{source}", name, **edge))
    levels[max(levels) + 1] = [pydot.Node(
        "h_t", label=escape(f"h_t {shape_text(cell.output.shape)}"), shape="invhouse",
        style="filled", fillcolor=_CELL_FILL["output"], penwidth="2")]
    edge = {"color": "#cc0000", "penwidth": "2.5"} if blocker else \
        {"color": "#3d85c6", "penwidth": "1.8"}
    graph.add_edge(pydot.Edge(f"n{rep[cell.output.id]}", "h_t", **edge))
    add_rank_groups(graph, levels)
    return graph


def _cell_node_attrs(node, depends: bool, on_path: bool, is_blocker: bool, model) -> dict:
    label = node.label
    shape = "box"
    fill = "#ffffff"
    style = "rounded,filled"
    if node.op == "state":
        label, shape, fill = f"h_(t-1) {shape_text(node.shape)}", "house", _CELL_FILL["state"]
    elif node.op == "input":
        what = f"symbol of {model.alphabet}, one-hot" if model.alphabet else shape_text(node.shape)
        label, shape, fill = f"x_t {what}", "house", _CELL_FILL["input"]
    elif node.op == "const":
        value = np.asarray(node.arg)
        label = f"{float(value):.3g}" if value.size == 1 else f"const {shape_text(node.shape)}"
        shape, fill = "box", _CELL_FILL["const"]
        style = "filled"
        return {"label": escape(label), "shape": shape, "style": style, "fillcolor": fill,
                "fontsize": "8", "color": "#999999", "fontcolor": "#555555"}
    elif node.op == "gather":
        label, shape, style = "concat", "box", "rounded,dashed"
    elif node.op == "sum":
        axes = node.arg if node.arg is not None else ()
        label = f"sum axis {axes}" if axes != () else "sum"
    if node.op not in ("state", "input", "const"):
        label += f"\n{shape_text(node.shape)}"
        if depends:
            fill = "#cfe2f3"
    attrs = {"label": escape(label), "shape": shape, "style": style, "fillcolor": fill}
    if node.where:
        attrs["tooltip"] = escape(f"{node.label} at {node.where}")
    if on_path:
        attrs.update(color="#cc0000", penwidth="2.5")
    if is_blocker:
        attrs.update(fillcolor="#f4cccc", label=escape(label + "\nblocks parallelism"),
                     fontcolor="#990000")
    return attrs
