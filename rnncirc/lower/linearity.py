"""Is h_t affine in h_{t-1}? An exact, structural check on the cell graph.

A node is *affine in the state* when it is the state, a function of x alone, or built from
affine nodes by additions, subtractions, negation, wiring (gathers), sums, multiplication or
division by a state-free value, or a select whose condition is state-free. Anything else on a
path from h_{t-1} to h_t (a nonlinear function, a product of two state-dependent values, a
comparison of the state) makes the model nonlinear; the first such node is reported with the
path it sits on. No probing: this decides linearity from the graph alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from rnncirc.ir.cell import CellGraph, Node
from rnncirc.ir.ops import Op

_LINEAR_OPS = (Op.ADD, Op.SUB, Op.NEG)


@dataclass(frozen=True)
class Blocker:
    """The first operation that makes a step nonlinear in its state."""

    node: Node
    why: str
    path: tuple[Node, ...]  # state -> ... -> node -> ... -> output

    def sentence(self, name: str) -> str:
        shown = [n.label for n in self.path[1:] if n.label != "gather"]  # wiring is noise here
        ops = " -> ".join(["h_{t-1}"] + shown + ["h_t"])
        where = f" at {self.node.where}" if self.node.where else ""
        return (f"{name} is nonlinear in its state: {self.why}{where}, on the path {ops}; "
                "rnncirc knows no associative combine for it, so it is unrolled (the paper "
                "places nonlinear RNNs in L with log precision and P with poly precision, and "
                "does not show that depth linear in n is needed)")


def state_dependence(cell: CellGraph) -> dict[int, bool]:
    """For every live node id: does it depend on h_{t-1}?"""
    dep: dict[int, bool] = {}
    for node in cell.live_nodes():
        dep[node.id] = node.op == "state" or any(dep[o.id] for o in node.operands)
    return dep


def find_blocker(cell: CellGraph) -> Blocker | None:
    """The first node (topological order) that is not affine in the state, or None."""
    dep = state_dependence(cell)
    for node in cell.live_nodes():
        if not dep[node.id] or node.op in ("state", "gather", "sum"):
            continue
        dependent = [o for o in node.operands if dep[o.id]]
        why = None
        if node.op in _LINEAR_OPS:
            continue
        if node.op == Op.MUL:
            if len(dependent) == 2:
                why = "the product (mul) of two values that both depend on the state"
        elif node.op == Op.DIV:
            if dep[node.operands[1].id]:
                why = "a division (div) by a value that depends on the state"
        elif node.op == Op.SELECT:
            if dep[node.operands[0].id]:
                why = "a where/select whose condition depends on the state"
        else:
            why = f"the {node.label} applied to a value that depends on the state"
        if why:
            return Blocker(node, why, _path_through(cell, node, dep))
    return None


def _path_through(cell: CellGraph, node: Node, dep: dict[int, bool]) -> tuple[Node, ...]:
    """A path state -> node (through dependent operands) and node -> output."""
    back = [node]
    while back[-1].op != "state":
        back.append(next(o for o in back[-1].operands if dep.get(o.id)))
    users: dict[int, Node] = {}
    for other in cell.live_nodes():
        for operand in other.operands:
            users.setdefault(operand.id, other)
    forward = [node]
    while forward[-1] is not cell.output:
        forward.append(users[forward[-1].id])
    return tuple(reversed(back)) + tuple(forward[1:])
