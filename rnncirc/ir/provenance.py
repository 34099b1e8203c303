"""Which layer of a program each row of its circuit comes from, read from the rows' `node`.

Where this sits: beside `Circuit`, for circuits of programs (`lower.program`), whose
``info.extra["layers"]`` lists the layers and position-wise blocks in order. A row's `node` is
a program node (below ``extra["program_nodes"]``; ``extra["block_of_node"]`` maps it to its
block) or a label inside one layer's block ``labels = [lo, hi)``.
"""

from __future__ import annotations

import numpy as np


def _owner(circuit) -> np.ndarray:
    """Block index per provenance label (-1: none), with one slot for "no node" at the end."""
    extra = circuit.info.extra
    owner = np.full(len(circuit.info.cell_labels) + 1, -1, dtype=np.int64)
    owner[:extra["program_nodes"]] = extra["block_of_node"]
    for index, block in enumerate(extra["layers"]):
        if block["labels"] is not None:
            lo, hi = block["labels"]
            owner[lo:hi] = index
    return owner


def is_program_circuit(circuit) -> bool:
    return "layers" in circuit.info.extra


def layer_gates(circuit) -> list[int]:
    """Gates of each entry of ``extra["layers"]``, read from the rows' provenance."""
    blocks = circuit.info.extra["layers"]
    owner = _owner(circuit)
    node = circuit.node[circuit.is_gate]
    node = node[node >= 0]
    counts = np.bincount(owner[node] + 1, minlength=len(blocks) + 1)
    return [int(c) for c in counts[1:]]


def block_of_rows(circuit, rows: np.ndarray) -> list[str | None]:
    """The name of the layer or block each row comes from (None: a leaf or shared row)."""
    blocks = circuit.info.extra["layers"]
    owner = _owner(circuit)
    node = circuit.node[np.asarray(rows, dtype=np.int64)]
    index = np.where(node >= 0, owner[np.maximum(node, 0)], -1)
    return [blocks[i]["name"] if i >= 0 else None for i in index.tolist()]
