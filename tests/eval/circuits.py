"""Random circuits for the evaluator tests: a hypothesis strategy and an exact mod-p oracle."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from rnncirc.ir.circuit import Circuit, CircuitInfo
from rnncirc.ir.ops import ARITY, Op

GATE_OPS = [op for op in Op if ARITY[op] > 0]
MODP_OPS = [Op.ADD, Op.SUB, Op.MUL, Op.NEG]


def make_circuit(consts, n, k, gates, outputs) -> Circuit:
    """Rows: constants, then n*k inputs (slot order), then `gates` ``(op, a, b, c)``."""
    n_leaves = len(consts) + n * k
    rows = n_leaves + len(gates)
    op = np.empty(rows, dtype=np.uint8)
    a = np.full(rows, -1, dtype=np.int32)
    b = np.full(rows, -1, dtype=np.int32)
    c = np.full(rows, -1, dtype=np.int32)
    op[:len(consts)] = Op.CONST
    a[:len(consts)] = np.arange(len(consts))
    op[len(consts):n_leaves] = Op.INPUT
    a[len(consts):n_leaves] = np.arange(n * k)
    for i, (gop, ga, gb, gc) in enumerate(gates):
        row = n_leaves + i
        op[row] = gop
        a[row] = ga
        if ARITY[gop] >= 2:
            b[row] = gb
        if ARITY[gop] >= 3:
            c[row] = gc
    outputs = np.asarray(outputs, dtype=np.int32).reshape(1, -1)
    info = CircuitInfo(model="random", length=n, state_shape=(outputs.shape[1],),
                       input_size=k, alphabet=None, topology="sequential", outputs="last")
    circuit = Circuit(op=op, a=a, b=b, c=c, step=np.zeros(rows, np.int32),
                      node=np.full(rows, -1, np.int32), consts=np.asarray(consts, float),
                      inputs=np.arange(len(consts), n_leaves, dtype=np.int32).reshape(n, k),
                      outputs=outputs, info=info)
    circuit.verify()
    return circuit


@st.composite
def circuits(draw, ops=tuple(GATE_OPS), max_gates: int = 30, const_values=None):
    """A random topologically ordered circuit, its outputs any rows (leaves included)."""
    if const_values is None:
        const_values = st.floats(-3, 3, allow_nan=False, width=64)
    n = draw(st.integers(1, 3))
    k = draw(st.integers(0, 3))
    consts = draw(st.lists(const_values, min_size=0 if n * k else 1, max_size=3))
    n_leaves = len(consts) + n * k
    gates = []
    for _ in range(draw(st.integers(0, max_gates))):
        row = n_leaves + len(gates)
        gop = draw(st.sampled_from(ops))
        operand = st.integers(0, row - 1)
        gates.append((gop, draw(operand), draw(operand), draw(operand)))
    rows = n_leaves + len(gates)
    outputs = draw(st.lists(st.integers(0, rows - 1), min_size=1, max_size=6))
    return make_circuit(consts, n, k, gates, outputs)


def exact_oracle(circuit: Circuit, values: np.ndarray, p: int) -> np.ndarray:
    """Outputs mod p computed gate by gate with Python integers (independent of the
    evaluators); constants must be integers, values ``(batch, slots)`` integers."""
    batch = values.shape[0]
    rows = [None] * circuit.num_nodes
    for r in range(circuit.num_nodes):
        op = Op(int(circuit.op[r]))
        if op == Op.CONST:
            value = circuit.consts[circuit.a[r]]
            assert value == int(value)
            rows[r] = [int(value) % p] * batch
        elif op == Op.INPUT:
            rows[r] = [int(v) % p for v in values[:, circuit.a[r]]]
        else:
            x = rows[circuit.a[r]]
            y = rows[circuit.b[r]] if ARITY[op] >= 2 else None
            fn = {Op.ADD: lambda u, v: u + v, Op.SUB: lambda u, v: u - v,
                  Op.MUL: lambda u, v: u * v, Op.NEG: lambda u, v: -u}[op]
            rows[r] = [fn(x[j], y[j] if y else 0) % p for j in range(batch)]
    flat = circuit.outputs.reshape(-1)
    return np.array([[rows[o][j] for o in flat] for j in range(batch)], dtype=np.int64)
