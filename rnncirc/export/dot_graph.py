"""The pydot graph every DOT view builds on, and the limits of what the views draw.

Where this sits: under the views of `rnncirc.export.dot` (`dot_cell`, `dot_block`,
`dot_gate`, `program_dot`). Every view puts the nodes of each level in one ``rank=same``
subgraph named ``level_<k>`` (`add_rank_groups`; `rank_groups` reads them back);
``newrank=true`` lets a node sit in a cluster and in its level's rank at once. pydot is
imported only when a graph is made.
"""

from __future__ import annotations

import functools
import shutil

from rnncirc.errors import RnncircError

#: the gate view draws every gate; above this it refuses and points to the block view
GATE_LIMIT = 2000
#: block views with more combines than this are refused (Graphviz would take minutes)
BLOCK_LIMIT = 6000


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



def new_graph(name: str, label: str, rankdir: str = "TB"):
    graph = _dot_class()(_quote_id(name), graph_type="digraph", newrank="true",
                         rankdir=rankdir, labelloc="t", fontname="Helvetica", fontsize="14",
                         label=escape(label))
    graph.set_node_defaults(fontname="Helvetica", fontsize="10")
    graph.set_edge_defaults(arrowsize="0.5", color="#555555", fontname="Helvetica",
                            fontsize="9")
    return graph


def _quote_id(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name) or "rnncirc"


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def add_rank_groups(graph, levels: dict[int, list], prefix: str = "level") -> None:
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




def shape_text(shape) -> str:
    return "(" + "x".join(str(s) for s in shape) + ")" if shape else "scalar"
