"""Graphviz DOT export (pydot): three views of a model and its circuit.

Where this sits: at the end of the pipeline, next to JSON. ``to_dot`` draws

* ``cell``: one step of the model (the traced CellGraph): each operation labelled, the state
  input h_{t-1}, the input x_t and the new state h_t marked; for a nonlinear model the path
  from h_{t-1} to h_t through the operation that blocks parallelism is drawn in red, for a
  linear one the state path (the part that is A(x) h) in blue.
* ``block``: the scan. For a prefix-lowered circuit, one node per leaf (x_t -> (A_t, b_t)) and
  one per combine, labelled with its segment of steps [i..j] and the gates it costs, one rank
  per prefix level, outputs (the prefixes [1..t], that is h_t) filled green. For an unrolled
  circuit, one node per step, chained.
* ``gate``: every gate, one rank per level, a cluster per time step (per leaf and combine for a
  prefix circuit), a colour per op; constants are folded into the labels (``×0.5``).

Every view puts the nodes of each level in one ``rank=same`` subgraph named ``level_<k>``;
``newrank=true`` lets a node sit in a cluster and in its level's rank at once. Writing ``.dot``
needs nothing else; ``.svg``, ``.png`` and ``.pdf`` run Graphviz's ``dot`` program.

Gate counts per combine are recovered from the circuit alone: every gate depends on the inputs
of a range of steps; a combine's result gates depend exactly on its segment, so gates of level
L whose range is a segment combined on level L belong to that combine, and the other gates of
the level belong to the combine of their consumer (one backward Numba scan).
"""

from __future__ import annotations

import functools
import os
import shutil

import numba
import numpy as np

from rnncirc.errors import OptionError, RnncircError
from rnncirc.ir.circuit import SHARED_NODE
from rnncirc.ir.ops import ARITY, OP_NAMES, Op

VIEWS = ("cell", "block", "gate")
#: the gate view draws every gate; above this it refuses and points to the block view
GATE_LIMIT = 2000
#: block views with more combines than this are refused (Graphviz would take minutes)
BLOCK_LIMIT = 6000
#: notebooks draw objects inline (_repr_svg_) up to this many gates
REPR_LIMIT = 400
RENDER_FORMATS = ("svg", "png", "pdf")


class GraphvizNotFoundError(RnncircError):
    """Rendering .svg/.png/.pdf needs Graphviz's ``dot`` program, which is not installed."""


class DiagramTooLargeError(RnncircError):
    """The requested view would have too many nodes to draw."""


@functools.cache
def _dot_class():
    """`DotGraph`, made on first use so that pydot is imported only when drawing."""
    import pydot

    class DotGraph(pydot.Dot):
        """A ``pydot.Dot`` that notebooks draw inline (SVG through Graphviz's ``dot``)."""

        def _repr_svg_(self):
            if shutil.which("dot") is None:
                return None
            return self.create_svg().decode("utf-8")

        def __repr__(self) -> str:
            levels = len(rank_groups(self))
            return f"<DotGraph {self.get_name()}: {levels} levels>"

    DotGraph.__module__ = __name__
    DotGraph.__qualname__ = "DotGraph"
    return DotGraph


# -- the public entry point --------------------------------------------------------------------
def to_dot(obj, path=None, *, view: str = "cell", length: int | None = None,
           topology: str = "auto", outputs: str = "all", max_gates: int = GATE_LIMIT):
    """Draw a model or circuit as a Graphviz graph; write it to `path` when given.

    Parameters
    ----------
    obj : RNN, Program or Circuit
        ``cell`` needs the model (a program: its layer graph); ``block`` and ``gate`` take a
        circuit, or a model together with `length` (compiled with `topology` and
        `outputs`; "auto" is the best prefix network there, as the diagrams draw scans: a
        segment-sum circuit is drawn only when asked for by name, in the gate view). A
        program's block view has one cluster per layer.
    path : str, optional
        ``.dot``/``.gv`` (DOT text), or ``.svg``, ``.png``, ``.pdf`` (rendered by Graphviz).
    view : "cell", "block" or "gate"
    max_gates : int
        The gate view refuses circuits with more gates than this.

    Returns
    -------
    pydot.Dot (displayed inline in notebooks)

    Raises
    ------
    OptionError, DiagramTooLargeError, GraphvizNotFoundError
    """
    from rnncirc.frontend.model import RNN
    from rnncirc.frontend.program import Program
    from rnncirc.ir.circuit import Circuit

    if view not in VIEWS:
        raise OptionError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    if view == "cell":
        if isinstance(obj, Program):
            from rnncirc.export.program_dot import program_graph

            graph = program_graph(obj)
        elif not isinstance(obj, RNN):
            raise OptionError("the cell view draws a model's step (or a program's layers): "
                              f"pass the RNN or Program, not a {type(obj).__name__}")
        else:
            graph = cell_graph(obj)
    else:
        if isinstance(obj, (RNN, Program)):
            if length is None:
                raise OptionError(f"the {view} view draws a circuit: give length=N to compile "
                                  f"{obj.name} (or pass a compiled Circuit)")
            from rnncirc.compiler import compile_model, ensure_feasible

            if view == "block" and isinstance(length, int) and length > BLOCK_LIMIT:
                # one node per step at least: refused before anything is compiled
                raise DiagramTooLargeError(
                    f"the block view over {length:,} steps has at least {length:,} nodes "
                    f"(limit {BLOCK_LIMIT:,}); draw a shorter length (block views read well "
                    "up to a few hundred steps)")
            ensure_feasible(obj, length, topology, outputs)
            obj = compile_model(obj, length, topology=topology, outputs=outputs,
                                prefix_only=True).circuit
        if not isinstance(obj, Circuit):
            raise OptionError(f"to_dot takes an RNN, a Program or a Circuit, got "
                              f"{type(obj).__name__}")
        graph = block_graph(obj) if view == "block" else gate_graph(obj, max_gates)
    if path is not None:
        write(graph, path)
    return graph


def write(graph, path) -> None:
    """Write `graph` by the extension of `path`: DOT text, or rendered by Graphviz's dot."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("dot", "gv", ""):
        with open(path, "w", encoding="utf-8") as out:
            out.write(graph.to_string())
        return
    if ext not in RENDER_FORMATS:
        raise OptionError(f"cannot write {path}: use .dot or .gv (DOT text), or .svg, .png or "
                          ".pdf (rendered by Graphviz)")
    require_graphviz(ext)
    graph.write(path, format=ext, prog="dot")


def require_graphviz(what: str = "svg") -> None:
    if shutil.which("dot") is None:
        raise GraphvizNotFoundError(
            f"rendering .{what} needs Graphviz's 'dot' program, which is not on PATH; install "
            "Graphviz (apt-get install graphviz, brew install graphviz, or conda install "
            "graphviz) or write a .dot file instead and render it elsewhere")


def repr_svg(obj) -> str | None:
    """An inline SVG for notebooks: a model's cell, or a small circuit's gates; else None."""
    from rnncirc.frontend.model import RNN
    from rnncirc.frontend.program import Program

    if shutil.which("dot") is None:
        return None
    try:
        if isinstance(obj, RNN):
            graph = cell_graph(obj)
        elif isinstance(obj, Program):
            from rnncirc.export.program_dot import program_graph

            graph = program_graph(obj)
        elif getattr(obj, "size", REPR_LIMIT + 1) <= REPR_LIMIT:
            graph = gate_graph(obj, REPR_LIMIT)
        else:
            return None
        return graph.create_svg().decode("utf-8")
    except Exception:  # a repr must never raise in a notebook
        return None


def dot_for_compile(model, circuit, path) -> str:
    """``rnncirc compile --dot PATH``: the most useful view of what was just compiled.

    The gate view when the circuit is small, else the block view (the prefix network, or the
    chain of steps of an unroll). Returns the line to print.
    """
    view = "gate" if circuit.size <= GATE_LIMIT else "block"
    if view == "block" and _block_nodes(circuit) > BLOCK_LIMIT:
        raise DiagramTooLargeError(
            f"--dot: the circuit has {circuit.size:,} gates and its block view "
            f"{_block_nodes(circuit):,} nodes, too many to draw; compile a shorter length "
            f"(block views read well up to a few hundred steps)")
    graph = gate_graph(circuit) if view == "gate" else block_graph(circuit)
    write(graph, path)
    return f"wrote the {view} view to {path}"


# -- shared helpers ----------------------------------------------------------------------------
def _new_graph(name: str, label: str, rankdir: str = "TB"):
    graph = _dot_class()(_quote_id(name), graph_type="digraph", newrank="true",
                         rankdir=rankdir, labelloc="t", fontname="Helvetica", fontsize="14",
                         label=_escape(label))
    graph.set_node_defaults(fontname="Helvetica", fontsize="10")
    graph.set_edge_defaults(arrowsize="0.5", color="#555555", fontname="Helvetica",
                            fontsize="9")
    return graph


def _quote_id(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "rnncirc"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _rank_groups(graph, levels: dict[int, list], prefix: str = "level") -> None:
    """One ``rank=same`` subgraph per level, holding exactly that level's nodes.

    A level lists node names (the nodes are defined elsewhere, e.g. in clusters) or
    ``pydot.Node`` objects (defined here, once).
    """
    import pydot

    for level in sorted(levels):
        group = pydot.Subgraph(f"{prefix}_{level}", rank="same")
        for node in levels[level]:
            group.add_node(node if isinstance(node, pydot.Node) else pydot.Node(node))
        graph.add_subgraph(group)


def rank_groups(graph) -> dict[int, list[str]]:
    """The ``level_<k>`` rank groups of a parsed or built graph: level -> node names."""
    found = {}
    stack = list(graph.get_subgraphs())
    while stack:
        sub = stack.pop()
        stack.extend(sub.get_subgraphs())
        name = sub.get_name().strip('"')
        if name.startswith("level_") and (sub.get_rank() or "").strip('"') == "same":
            found[int(name[len("level_"):])] = [n.get_name().strip('"') for n in sub.get_nodes()
                                                if n.get_name() not in ("node", "edge", "graph")]
    return found


# -- cell view ---------------------------------------------------------------------------------
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
    graph = _new_graph(f"{model.name}_cell", title)
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
        "h_t", label=_escape(f"h_t {_shape(cell.output.shape)}"), shape="invhouse",
        style="filled", fillcolor=_CELL_FILL["output"], penwidth="2")]
    edge = {"color": "#cc0000", "penwidth": "2.5"} if blocker else \
        {"color": "#3d85c6", "penwidth": "1.8"}
    graph.add_edge(pydot.Edge(f"n{rep[cell.output.id]}", "h_t", **edge))
    _rank_groups(graph, levels)
    return graph


def _shape(shape) -> str:
    return "(" + "x".join(str(s) for s in shape) + ")" if shape else "scalar"


def _cell_node_attrs(node, depends: bool, on_path: bool, is_blocker: bool, model) -> dict:
    label = node.label
    shape = "box"
    fill = "#ffffff"
    style = "rounded,filled"
    if node.op == "state":
        label, shape, fill = f"h_(t-1) {_shape(node.shape)}", "house", _CELL_FILL["state"]
    elif node.op == "input":
        what = f"symbol of {model.alphabet}, one-hot" if model.alphabet else _shape(node.shape)
        label, shape, fill = f"x_t {what}", "house", _CELL_FILL["input"]
    elif node.op == "const":
        value = np.asarray(node.arg)
        label = f"{float(value):.3g}" if value.size == 1 else f"const {_shape(node.shape)}"
        shape, fill = "box", _CELL_FILL["const"]
        style = "filled"
        return {"label": _escape(label), "shape": shape, "style": style, "fillcolor": fill,
                "fontsize": "8", "color": "#999999", "fontcolor": "#555555"}
    elif node.op == "gather":
        label, shape, style = "concat", "box", "rounded,dashed"
    elif node.op == "sum":
        axes = node.arg if node.arg is not None else ()
        label = f"sum axis {axes}" if axes != () else "sum"
    if node.op not in ("state", "input", "const"):
        label += f"\n{_shape(node.shape)}"
        if depends:
            fill = "#cfe2f3"
    attrs = {"label": _escape(label), "shape": shape, "style": style, "fillcolor": fill}
    if node.where:
        attrs["tooltip"] = _escape(f"{node.label} at {node.where}")
    if on_path:
        attrs.update(color="#cc0000", penwidth="2.5")
    if is_blocker:
        attrs.update(fillcolor="#f4cccc", label=_escape(label + "\nblocks parallelism"),
                     fontcolor="#990000")
    return attrs


# -- attribution of gates to leaves and combines ------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _step_ranges(op, a, b, c, arity, input_step, shared):
    """lo/hi: the smallest and largest step whose inputs the row depends on (lo > hi: none).

    Shared rows (built once for every step) count as constants."""
    rows = len(op)
    lo = np.full(rows, 2**30, dtype=np.int32)
    hi = np.full(rows, -1, dtype=np.int32)
    for i in range(rows):
        k = arity[op[i]]
        if shared[i]:
            continue
        if k == 0:
            if input_step[i] >= 0:
                lo[i] = input_step[i]
                hi[i] = input_step[i]
            continue
        lo[i] = lo[a[i]]
        hi[i] = hi[a[i]]
        if k >= 2:
            lo[i] = min(lo[i], lo[b[i]])
            hi[i] = max(hi[i], hi[b[i]])
        if k >= 3:
            lo[i] = min(lo[i], lo[c[i]])
            hi[i] = max(hi[i], hi[c[i]])
    return lo, hi


@numba.njit(cache=True, nogil=True)
def _spread_owner(owner, op, a, b, c, arity, step):
    """Gates without an owner take the owner of a consumer on the same level (backward)."""
    for i in range(len(op) - 1, -1, -1):
        k = arity[op[i]]
        if k == 0 or owner[i] < 0:
            continue
        for j in range(k):
            o = a[i] if j == 0 else (b[i] if j == 1 else c[i])
            if arity[op[o]] > 0 and owner[o] < 0 and step[o] == step[i]:
                owner[o] = owner[i]
    return owner


def attribute_gates(circuit, net) -> tuple[np.ndarray, np.ndarray]:
    """Owner of every row of a prefix-lowered circuit: leaf t -> t, combine k -> n + k.

    Returns ``(owner, gates)``: owner per row (-1: a leaf row or unattributed) and the gate
    count per value id (n leaves, then the combines in network order).
    """
    n = net.n
    input_step = np.full(circuit.num_nodes, -1, dtype=np.int32)
    input_step[circuit.inputs] = np.arange(n, dtype=np.int32)[:, None]
    shared = circuit.node == SHARED_NODE
    lo, hi = _step_ranges(circuit.op, circuit.a, circuit.b, circuit.c, ARITY, input_step, shared)
    gate = ARITY[circuit.op] > 0
    level = circuit.step.astype(np.int64)
    owner = np.full(circuit.num_nodes, -1, dtype=np.int64)
    leaf_gate = gate & (level == 0) & (lo == hi)
    owner[leaf_gate] = lo[leaf_gate]
    # built once with step 0's leaves, for every step: the shared rows and what is computed
    # from them alone (the identity's sort decisions)
    owner[gate & (level == 0) & (shared | (lo > hi))] = 0
    if net.levels:
        span = n + 1
        seg_level = np.concatenate([np.full(len(lv), k + 1) for k, lv in enumerate(net.levels)])
        seg_lo = np.concatenate([lv.left_lo for lv in net.levels])
        seg_hi = np.concatenate([lv.right_hi for lv in net.levels])
        keys = (seg_level * span + seg_lo) * span + seg_hi
        order = np.argsort(keys)
        combine_gate = gate & (level > 0) & (lo <= hi)
        rows = np.flatnonzero(combine_gate)
        row_keys = (level[rows] * span + lo[rows]) * span + hi[rows]
        pos = np.clip(np.searchsorted(keys[order], row_keys), 0, len(keys) - 1)
        hit = keys[order][pos] == row_keys
        owner[rows[hit]] = n + order[pos[hit]]
        # gates that read only one operand (a per-symbol permutation operand finishes its own
        # representation where it is used) belong to a combine of that level that uses it
        for side in ("right", "left"):
            rows, row_keys = rows[~hit], row_keys[~hit]
            side_lo = np.concatenate([getattr(lv, side + "_lo") for lv in net.levels])
            side_hi = np.concatenate([getattr(lv, side + "_hi") for lv in net.levels])
            side_keys = (seg_level * span + side_lo) * span + side_hi
            by_side = np.argsort(side_keys)
            pos = np.clip(np.searchsorted(side_keys[by_side], row_keys), 0, len(keys) - 1)
            hit = side_keys[by_side][pos] == row_keys
            owner[rows[hit]] = n + by_side[pos[hit]]
    owner = _spread_owner(owner, circuit.op, circuit.a, circuit.b, circuit.c, ARITY,
                          circuit.step)
    counts = np.bincount(owner[gate & (owner >= 0)], minlength=n + net.size)
    return owner, counts


# -- block view --------------------------------------------------------------------------------
def _block_nodes(circuit) -> int:
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
    nodes = _block_nodes(circuit)
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
    graph = _new_graph(f"{info.model}_block", title)
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
        levels[0].append(pydot.Node(name, label=_escape(label), **attrs))
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
            names.append((hi, pydot.Node(name, label=_escape(label), **attrs)))
            value += 1
        levels[depth] = [node for _, node in sorted(names, key=lambda item: item[0])]
    _rank_groups(graph, levels)
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
    graph = _new_graph(f"{info.model}_block", title, rankdir="LR")
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
        levels[t] = [pydot.Node(name, label=_escape(label), **attrs)]
    _rank_groups(graph, levels)
    return graph


# -- gate view ---------------------------------------------------------------------------------
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
    graph = _new_graph(f"{info.model}_gates", title)
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
        attrs["tooltip"] = _escape(f"row {row}: {OP_NAMES[op[row]]}, level {levels[row]}")
        node = pydot.Node(name, label=_escape(label), **attrs)
        key = int(cluster_of[row])
        if key not in clusters:
            clusters[key] = pydot.Cluster(f"c{key}", label=_escape(cluster_label(key)),
                                          style="rounded", color="#999999", fontsize="10")
        clusters[key].add_node(node)
        rank.setdefault(int(levels[row]), []).append(name)
    for key in sorted(clusters):
        graph.add_subgraph(clusters[key])
    for row in gate_rows:
        for column, need in ((a, 1), (b, 2), (c, 3)):
            if ARITY[op[row]] >= need and not is_const[column[row]]:
                graph.add_edge(pydot.Edge(f"g{column[row]}", f"g{row}"))
    _rank_groups(graph, rank)
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
