"""Reference evaluator: plain numpy, level by level, over a batch. The oracle for fast paths.

Where this sits: in `ir`, so that every layer may check its work against it (classification
evaluates the step template with it; `eval` is tested against it).

Values are held as ``(rows, batch)`` float64, so each gate reads and writes one contiguous
batch row. Within a level every gate is independent; gates of one op on one level are
evaluated with a single numpy call.
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.circuit import Circuit
from rnncirc.ir.ops import ARITY, Op, apply_op


def evaluate_reference(circuit: Circuit, inputs: np.ndarray) -> np.ndarray:
    """Outputs for input-slot values `inputs` ``(batch, slots)``: ``(batch, *outputs.shape)``."""
    batch = inputs.shape[0]
    values = np.empty((circuit.num_nodes, batch))
    const_rows = np.flatnonzero(circuit.op == Op.CONST)
    values[const_rows] = circuit.consts[circuit.a[const_rows]][:, None]
    values[circuit.inputs.ravel()] = inputs.T
    gates = np.flatnonzero(ARITY[circuit.op] > 0)
    order = gates[np.lexsort((circuit.op[gates], circuit.levels[gates]))]
    key = circuit.levels[order].astype(np.int64) * 256 + circuit.op[order]
    bounds = np.flatnonzero(np.diff(key)) + 1
    with np.errstate(all="ignore"):
        for group in np.split(order, bounds):
            if len(group) == 0:
                continue
            op = Op(int(circuit.op[group[0]]))
            operands = [values[circuit.a[group]]]
            if ARITY[op] >= 2:
                operands.append(values[circuit.b[group]])
            if ARITY[op] == 3:
                operands.append(values[circuit.c[group]])
            values[group] = apply_op(op, *operands)
    out = values[circuit.outputs.reshape(-1)]
    return out.T.reshape((batch,) + circuit.outputs.shape)


def evaluate_rows(rows: dict, consts: np.ndarray, inputs: np.ndarray,
                  wanted: np.ndarray) -> np.ndarray:
    """Evaluate builder rows (before tiling) on input-slot values ``(batch, slots)``.

    Used on small one-step templates, e.g. to evaluate A(s) for every symbol of an alphabet.
    Returns ``(batch, len(wanted))``.
    """
    op, a, b, c = rows["op"], rows["a"], rows["b"], rows["c"]
    values = np.zeros((len(op), inputs.shape[0]))
    leaf_const, leaf_input = op == Op.CONST, op == Op.INPUT
    values[leaf_const] = consts[a[leaf_const]][:, None]
    values[leaf_input] = inputs.T[a[leaf_input]]
    with np.errstate(all="ignore"):
        for i in np.flatnonzero(ARITY[op] > 0):  # template-sized, not circuit-sized
            operands = [values[a[i]]] + ([values[b[i]]] if ARITY[op[i]] >= 2 else []) + \
                ([values[c[i]]] if ARITY[op[i]] == 3 else [])
            values[i] = apply_op(Op(int(op[i])), *operands)
    return values[np.asarray(wanted)].T
