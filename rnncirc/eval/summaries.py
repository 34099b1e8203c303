"""Chunk summaries of sequence sharding, in their kind's compact form, and their scan.

Where this sits: the eval layer, used by `sequence.ShardedScan`. Phase 1 of the three-phase
scan (a task per chunk) ends in `compress`, which turns the chunk's affine map
h -> A_k h + b_k, as the worker measured it, into the form it travels in; phase 2
(`scan_summaries`, on the client) composes the P summaries in that form into the state
leaving every chunk.

The forms, per sequence (m = state size; bytes in float64, as `summary_bytes` counts them):

=====================  ==============================================  ============
form                   what travels                                    bytes
=====================  ==============================================  ============
diagonal               a (m), b (m): A_k = diag(a)                     16 m
permutation-diagonal   index (m, int32), coef (m), b (m)               20 m
dense                  A (m x m), b (m)                                8 m^2 + 8 m
=====================  ==============================================  ============

A product of permutation-diagonal factors is one (`lower.combine_permutation.PermutationAlgebra`,
`ScatterAlgebra`, `FunctionAlgebra`): row j of A_k reads r[index[j]] with weight coef[j]
("row" orientation), or column q moves to row index[q] ("column": a DFA's resets). A DPLR
factor's rank adds up over a chunk: the in-circuit combine (`lower.combine.DplrAlgebra`)
goes dense once it passes max(r, m/2), which a chunk of more than max(1, m / 2r) steps does,
so DPLR summaries travel dense.

Diagonal and dense summaries are scanned by an rnncirc circuit of the P-step recurrence
c_k = A_k c_(k-1) + b_k (`summary_scan_model`, topology "auto"). A permutation's index is
data, not wiring, so permutation-diagonal summaries are scanned here in numpy by a
Kogge–Stone network over the P chunks, each level one vectorized compose of the compact
form; its depth is that network's (2 per level: a product, then a sum; a column form's sum
joins up to m + 1 terms).
"""

from __future__ import annotations

import math

import numpy as np

from rnncirc.frontend.model import RNN, rnn

#: kinds whose chunk summary is kept diagonal (m numbers instead of m x m)
DIAGONAL_KINDS = ("scalar", "diagonal")


def summary_form(kind: str) -> str:
    """The form a chunk summary of a `kind` recurrence travels in."""
    if kind in DIAGONAL_KINDS:
        return "diagonal"
    if kind == "permutation-diagonal":
        return "permutation-diagonal"
    return "dense"


def summary_bytes(form: str, m: int, itemsize: int = 8) -> int:
    """Bytes of one sequence's chunk summary in `form` (the module docstring's table)."""
    if form == "diagonal":
        return 2 * m * itemsize
    if form == "permutation-diagonal":
        return m * (2 * itemsize + 4)
    return (m * m + m) * itemsize


def probes(form: str, m: int) -> np.ndarray:
    """The carry-ins a chunk is evaluated with in phase 1: zero (b_k), then ones (a diagonal
    A_k e = a) or each unit vector (A_k's columns)."""
    return np.vstack([np.zeros(m), np.ones(m) if form == "diagonal" else np.eye(m)])


def compress(a: np.ndarray, form: str, orient: str):
    """A_k from the probes' differences ``(B, probes - 1, m)`` (row i: A_k's column i, or
    the diagonal) in `form`: ``(B, m)``; ``(index, coef)`` for a permutation; ``(B, m, m)``.

    A permutation-diagonal A_k has at most one nonzero in each row (each column, for the
    column orientation); a row of zeros reads position 0 with weight 0."""
    if form == "diagonal":
        return a[:, 0]
    matrix = np.swapaxes(a, 1, 2)  # (B, row, column)
    if form == "dense":
        return matrix
    lines = matrix if orient == "row" else np.swapaxes(matrix, 1, 2)
    index = np.argmax(lines != 0, axis=2)
    coef = np.take_along_axis(lines, index[:, :, None], axis=2)[:, :, 0]
    return index.astype(np.int32), coef


def summary_scan_model(m: int, diagonal: bool) -> RNN:
    """The recurrence of the chunk summaries, c_k = A_k c_(k-1) + b_k, over inputs
    ``(a, b)`` (diagonal: 2m numbers) or ``(A row-major, b)`` (m^2 + m)."""
    if diagonal:
        def carry(h, z):
            return z[:m] * h + z[m:]

        return rnn(state=m, inputs=2 * m, name="summary_scan")(carry)

    def carry_dense(h, z):
        return z[:m * m].reshape(m, m) @ h + z[m * m:]

    return rnn(state=m, inputs=m * m + m, name="summary_scan")(carry_dense)


def scan_summaries(first: np.ndarray, summaries: list, form: str, orient: str,
                   topology: str, dtype: str, modulus: int | None) -> tuple[np.ndarray, int]:
    """Phase 2: the state leaving every chunk ``(B, P, m)`` from chunk 0's last state
    `first` ``(B, m)`` and the other chunks' ``(A_k, b_k)``; and the depth of the scan."""
    if not summaries:
        return first[:, None], 0
    if form == "permutation-diagonal":
        return _scan_permutations(first, summaries, orient, modulus)
    return _scan_circuit(first, summaries, form == "diagonal", topology, dtype, modulus)


def _scan_circuit(first, summaries, diagonal: bool, topology: str, dtype: str,
                  modulus: int | None) -> tuple[np.ndarray, int]:
    from rnncirc.compiler import compile_model

    b, m = first.shape
    p = len(summaries) + 1
    width = m if diagonal else m * m
    steps = np.zeros((b, p, width + m))  # chunk 0: A = 0, b = its last state
    steps[:, 0, width:] = first
    for k, (a, offset) in enumerate(summaries, start=1):
        steps[:, k, :width] = a.reshape(b, width)
        steps[:, k, width:] = offset
    scan = compile_model(summary_scan_model(m, diagonal), p,
                         topology="sequential" if topology == "sequential" else "auto").circuit
    if modulus is not None:
        steps = steps.astype(np.int64)  # residues already: exact as integers
    return np.asarray(scan.evaluate(steps, dtype=dtype, modulus=modulus)), scan.depth


def _scan_permutations(first, summaries, orient: str,
                       modulus: int | None) -> tuple[np.ndarray, int]:
    """Kogge–Stone over the chunks: after the level of stride s, entry k holds the map of
    chunks k - 2s + 1 .. k; chunk 0's map is (0, its last state), so b is the carry."""
    ring = (lambda v: np.mod(v, modulus)) if modulus is not None else (lambda v: v)
    index = np.stack([np.zeros_like(summaries[0][0][0])] +
                     [a[0] for a, _ in summaries], axis=1).astype(np.int64)
    coef = np.stack([np.zeros_like(first)] + [a[1] for a, _ in summaries], axis=1)
    offset = np.stack([first] + [b for _, b in summaries], axis=1)
    p, m = offset.shape[1:]
    stride = 1
    while stride < p:
        right, left = slice(stride, p), slice(0, p - stride)
        idx_r, coef_r = index[:, right], coef[:, right]
        idx_l, coef_l, b_l = index[:, left], coef[:, left], offset[:, left]
        if orient == "row":  # (A2 A1)[j] = coef2[j] coef1[i2[j]] reads i1[i2[j]]
            moved = ring(coef_r * np.take_along_axis(b_l, idx_r, axis=2))
            new_b = ring(moved + offset[:, right])
            new_coef = ring(coef_r * np.take_along_axis(coef_l, idx_r, axis=2))
            new_index = np.take_along_axis(idx_l, idx_r, axis=2)
        else:  # column q moves to i2[i1[q]] with weight coef2[i1[q]] coef1[q]
            new_b = _scatter_add(offset[:, right].copy(), idx_r, ring(coef_r * b_l), ring)
            new_coef = ring(np.take_along_axis(coef_r, idx_l, axis=2) * coef_l)
            new_index = np.take_along_axis(idx_r, idx_l, axis=2)
        offset, coef, index = offset.copy(), coef.copy(), index.copy()
        offset[:, right], coef[:, right], index[:, right] = new_b, new_coef, new_index
        stride *= 2
    levels = math.ceil(math.log2(p))
    per_level = 2 if orient == "row" else 1 + math.ceil(math.log2(m + 1))
    return offset, levels * per_level


def _scatter_add(out: np.ndarray, index: np.ndarray, values: np.ndarray, ring) -> np.ndarray:
    """out[..., index[..., q]] += values[..., q] over every leading position at once."""
    lead = np.arange(out.size // out.shape[-1]).reshape(out.shape[:-1] + (1,))
    flat = out.reshape(-1)
    np.add.at(flat, (lead * out.shape[-1] + index).ravel(), values.ravel())
    return ring(flat.reshape(out.shape))
