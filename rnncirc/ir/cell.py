"""CellGraph: one RNN step as a small DAG of tensor operations.

The tracer (`rnncirc.frontend.tracer`) builds it once per model; classification and lowering
read it. Nodes are interned: building a node equal to an existing one returns that node, so
common subexpressions are shared for free and ``is`` means equal.

Tensor-level node kinds (``Node.op``):

=============  ===========================================================================
``"state"``    h_{t-1}, shape = state shape
``"input"``    x_t: a real vector, or for alphabet models the one-hot vector of the symbol
``"const"``    a numpy constant (``arg``)
``"gather"``   pure wiring: output element i is element ``arg[i]`` of the concatenated
               flattened operands (indexing, slicing, transpose, reshape, broadcast, concat)
``"sum"``      sum over the axes in ``arg`` (a balanced adder tree per output element)
an ``Op``      an elementwise gate op (ADD, TANH, SELECT, ...) on operands of equal shape
=============  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnncirc.errors import user_location
from rnncirc.ir.ops import OP_NAMES, Op


class Node:
    """One interned tensor operation. Create nodes only through `CellBuilder.node`."""

    __slots__ = ("op", "shape", "operands", "arg", "id", "where")

    def __init__(self, op, shape: tuple[int, ...], operands: tuple[Node, ...], arg, id: int,
                 where: str = ""):
        self.op = op
        self.shape = shape
        self.operands = operands
        self.arg = arg
        self.id = id
        #: "file.py:LINE" of the user code that created the node (for error messages)
        self.where = where

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def label(self) -> str:
        """Human name of the operation, as used in reports ("tanh", "sum", "gather")."""
        return OP_NAMES[self.op] if isinstance(self.op, Op) else str(self.op)

    def __repr__(self) -> str:
        ops = ",".join(str(o.id) for o in self.operands)
        return f"Node#{self.id}({self.label}, shape={self.shape}, operands=[{ops}])"


def _arg_key(arg):
    if isinstance(arg, np.ndarray):
        return (arg.dtype.str, arg.shape, arg.tobytes())
    return arg


class CellBuilder:
    """Creates interned nodes for one trace."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._interned: dict = {}

    def node(self, op, shape, operands=(), arg=None) -> Node:
        shape = tuple(int(s) for s in shape)
        key = (op, shape, tuple(o.id for o in operands), _arg_key(arg))
        found = self._interned.get(key)
        if found is not None:
            return found
        if isinstance(arg, np.ndarray):
            arg = arg.copy()
            arg.setflags(write=False)
        made = Node(op, shape, tuple(operands), arg, len(self.nodes), user_location())
        self.nodes.append(made)
        self._interned[key] = made
        return made

    def const(self, value) -> Node:
        value = np.asarray(value, dtype=np.float64)
        return self.node("const", value.shape, (), value)


@dataclass(frozen=True)
class CellGraph:
    """One traced step: nodes in topological order, the state/input leaves and the output.

    ``alphabet`` is the number of symbols for alphabet models (the input node is then the
    one-hot vector of the symbol), else None.
    """

    nodes: tuple[Node, ...]
    state: Node
    input: Node
    output: Node
    alphabet: int | None = None
    name: str = "rnn"

    @property
    def state_shape(self) -> tuple[int, ...]:
        return self.state.shape

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.input.shape

    def live_nodes(self) -> list[Node]:
        """Nodes the output depends on, in topological order."""
        live = np.zeros(len(self.nodes), dtype=bool)
        live[self.output.id] = True
        for node in reversed(self.nodes):
            if live[node.id]:
                for operand in node.operands:
                    live[operand.id] = True
        return [n for n in self.nodes if live[n.id]]

    def to_networkx(self):
        """The live part of the graph as a networkx DiGraph (node id -> attributes)."""
        import networkx as nx

        graph = nx.DiGraph()
        for node in self.live_nodes():
            graph.add_node(node.id, op=node.label, shape=node.shape)
            for operand in node.operands:
                graph.add_edge(operand.id, node.id)
        return graph
