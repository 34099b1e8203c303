"""Graphviz DOT export (pydot): three views of a model and its circuit.

Where this sits: at the end of the pipeline, next to JSON. ``to_dot`` checks the request,
compiles a model when a view needs a circuit, and writes the graph one of the views draws:

* ``cell`` (`dot_cell`): one step of the model, its traced CellGraph.
* ``block`` (`dot_block`): the scan, one node per leaf and combine of a prefix network (or per
  step of an unroll).
* ``gate`` (`dot_gate`): every gate, one rank per level.

A `Program` is drawn by `program_dot`. Writing ``.dot`` needs nothing else; ``.svg``, ``.png``
and ``.pdf`` run Graphviz's ``dot`` program.
"""

from __future__ import annotations

import os
import shutil

from rnncirc.errors import OptionError, RnncircError
from rnncirc.export.dot_block import block_graph, block_nodes
from rnncirc.export.dot_cell import cell_graph
from rnncirc.export.dot_gate import gate_graph
from rnncirc.export.dot_graph import BLOCK_LIMIT, GATE_LIMIT, DiagramTooLargeError

VIEWS = ("cell", "block", "gate")
#: notebooks draw objects inline (_repr_svg_) up to this many gates
REPR_LIMIT = 400
RENDER_FORMATS = ("svg", "png", "pdf")


class GraphvizNotFoundError(RnncircError):
    """Rendering .svg/.png/.pdf needs Graphviz's ``dot`` program, which is not installed."""


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
    if view == "block" and block_nodes(circuit) > BLOCK_LIMIT:
        raise DiagramTooLargeError(
            f"--dot: the circuit has {circuit.size:,} gates and its block view "
            f"{block_nodes(circuit):,} nodes, too many to draw; compile a shorter length "
            f"(block views read well up to a few hundred steps)")
    graph = gate_graph(circuit) if view == "gate" else block_graph(circuit)
    write(graph, path)
    return f"wrote the {view} view to {path}"
