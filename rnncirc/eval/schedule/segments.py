"""Segments: each step cut into runs of one op that a kernel call evaluates at once.

Where this sits: after `registers` has given every gate its rows, in step order; the cuts
made here decide how the kernels (`rnncirc.eval.kernels`) walk a step, and `grouping` then
cuts the program segments into groups. Why segments: a kernel call per gate would cost more
than the gate, and a run whose rows follow a pattern needs no index arrays at all.

Within a step gates are sorted by ``(op, id)`` and cut into segments of one op
(`cut_segments`, kinds of `rnncirc.eval.isa`): STRIDED segments (``min_strided`` or more
gates whose rows move by a constant stride per operand: the kernel computes the rows,
reading no indices), AFFINE ones (``min_affine`` or more gates, all strides 1: operands and
results are contiguous blocks, one long vector loop), INDEXED segments (each gate reads its
rows from the index arrays) and one PROGRAMS segment of the step's fused trees. Affine
segments whose results are outputs nothing reads back become STREAMED (`stream_segments`).
`compact_segments` then keeps the index arrays of indexed segments only: a strided gate
costs no index memory. Output copies (values named by several outputs, outputs that are
inputs or constants) are grouped into blocks of consecutive rows (`copy_blocks`).
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.eval.isa import (
    AFFINE,
    INDEXED,
    PROGRAM,
    PROGRAMS,
    SEG_A,
    SEG_B,
    SEG_C,
    SEG_OUT,
    STREAMED,
    STRIDED,
)
from rnncirc.ir.kernel_cache import cached


@cached
@numba.njit(nogil=True)
def _stride_end(ga, gb, gc, go, i, end):
    """The end j of the longest stretch i..j-1 whose registers all move by a constant stride
    (one per operand) from gate to gate."""
    if i + 1 >= end:
        return end
    da, db, dc, do = ga[i + 1] - ga[i], gb[i + 1] - gb[i], gc[i + 1] - gc[i], go[i + 1] - go[i]
    j = i + 2
    while j < end and ga[j] - ga[j - 1] == da and gb[j] - gb[j - 1] == db and \
            gc[j] - gc[j - 1] == dc and go[j] - go[j - 1] == do:
        j += 1
    return j


@cached
@numba.njit(nogil=True)
def cut_segments(ga, gb, gc, go, gate_op, arity, level_gate_ptr, min_affine, min_strided):
    """Cut each step into runs of one op, and runs into segments of three kinds.

    A *strided* segment (at least `min_strided` gates) has every register move by a constant
    stride per operand from one gate to the next (a stride 0 operand is one register shared
    by all, as a matrix entry times a row), so a kernel computes the registers instead of
    reading them; when all used strides are 1 it is *affine* (at least `min_affine` gates):
    operands and results are contiguous blocks of the register file, one long vector loop.
    The gates in between form *indexed* segments. (Each segment costs a kernel call, so
    short stretches are cheaper left indexed.) Returns (op, kind: INDEXED, AFFINE, STRIDED
    or PROGRAMS, CSR over gates, CSR of the segments of each step).
    """
    n_levels = len(level_gate_ptr) - 1
    for count_only in (True, False):
        if count_only:
            seg_op = np.empty(0, dtype=np.uint8)
            seg_kind = np.empty(0, dtype=np.uint8)
            seg_ptr = np.empty(1, dtype=np.int64)
        level_seg_ptr = np.zeros(n_levels + 1, dtype=np.int64)
        q = 0
        for lv in range(n_levels):
            level_seg_ptr[lv] = q
            r0 = level_gate_ptr[lv]
            end = level_gate_ptr[lv + 1]
            while r0 < end:
                r1 = r0 + 1  # the run of one op: [r0, r1)
                while r1 < end and gate_op[r1] == gate_op[r0]:
                    r1 += 1
                k = arity[gate_op[r0]]
                if gate_op[r0] == PROGRAM:  # programs: one segment of their own
                    if not count_only:
                        seg_op[q], seg_kind[q], seg_ptr[q] = PROGRAM, PROGRAMS, r0
                    q += 1
                    r0 = r1
                    continue
                start = r0  # of the pending indexed stretch
                i = r0
                while i < r1:
                    j = _stride_end(ga, gb, gc, go, i, r1)
                    affine = j - i > 1 and go[i + 1] - go[i] == 1 and ga[i + 1] - ga[i] == 1 \
                        and (k < 2 or gb[i + 1] - gb[i] == 1) and (k < 3 or gc[i + 1] - gc[i] == 1)
                    if j - i < (min_affine if affine else min_strided):
                        i += 1
                        continue
                    if start < i:
                        if not count_only:
                            seg_op[q], seg_kind[q], seg_ptr[q] = gate_op[r0], INDEXED, start
                        q += 1
                    if not count_only:
                        seg_op[q], seg_ptr[q] = gate_op[r0], i
                        seg_kind[q] = AFFINE if affine else STRIDED
                    q += 1
                    start = i = j
                if start < r1:
                    if not count_only:
                        seg_op[q], seg_kind[q], seg_ptr[q] = gate_op[r0], INDEXED, start
                    q += 1
                r0 = r1
        level_seg_ptr[n_levels] = q
        if count_only:
            seg_op = np.empty(q, dtype=np.uint8)
            seg_kind = np.empty(q, dtype=np.uint8)
            seg_ptr = np.empty(q + 1, dtype=np.int64)
    seg_ptr[len(seg_op)] = len(go)
    return seg_op, seg_kind, seg_ptr, level_seg_ptr


@cached
@numba.njit(nogil=True)
def stream_segments(run_op, run_kind, run_ptr, unread, streamable):
    """Affine segments of a `streamable` op whose every result is an output that nothing
    reads back become STREAMED: their results are stored past the caches (non-temporal
    stores, `rnncirc.eval.kernels.stream_kernel`). In place."""
    for q in range(len(run_kind)):
        if run_kind[q] != AFFINE or not streamable[run_op[q]]:
            continue
        streamed = True
        for i in range(run_ptr[q], run_ptr[q + 1]):
            streamed = streamed and unread[i]
        if streamed:
            run_kind[q] = STREAMED


@cached
@numba.njit(nogil=True)
def copy_blocks(x, y, level_ptr):
    """Copies i: x[i] <-> y[i], grouped into blocks where both count up by one (within a
    step). Returns (x start, y start, length) per block and the CSR of blocks per step."""
    n_levels = len(level_ptr) - 1
    for count_only in (True, False):
        if count_only:
            bx = np.empty(0, dtype=np.int32)
            by = np.empty(0, dtype=np.int32)
            bn = np.empty(0, dtype=np.int32)
        ptr = np.zeros(n_levels + 1, dtype=np.int64)
        q = 0
        for lv in range(n_levels):
            ptr[lv] = q
            i = level_ptr[lv]
            while i < level_ptr[lv + 1]:
                j = i + 1
                while j < level_ptr[lv + 1] and x[j] == x[j - 1] + 1 and y[j] == y[j - 1] + 1:
                    j += 1
                if not count_only:
                    bx[q], by[q], bn[q] = x[i], y[i], j - i
                q += 1
                i = j
        ptr[n_levels] = q
        if count_only:
            bx = np.empty(q, dtype=np.int32)
            by = np.empty(q, dtype=np.int32)
            bn = np.empty(q, dtype=np.int32)
    return bx, by, bn, ptr


@cached
@numba.njit(nogil=True)
def compact_segments(ga, gb, gc, go, run_kind, run_ptr):
    """Per segment: first registers and strides (affine, strided) or the offset of its
    indices (indexed); the index arrays keep only the gates of indexed segments."""
    n_runs = len(run_kind)
    base = np.zeros((n_runs, 4), dtype=np.int32)  # rows of the first gate (SEG_A ... SEG_OUT)
    stride = np.zeros((n_runs, 4), dtype=np.int32)
    run_idx = np.full(n_runs, -1, dtype=np.int64)
    n_progs = 0
    n_indexed = 0
    for q in range(n_runs):
        if run_kind[q] == INDEXED:
            n_indexed += run_ptr[q + 1] - run_ptr[q]
    ia = np.empty(n_indexed, dtype=np.int32)
    ib = np.empty(n_indexed, dtype=np.int32)
    ic = np.empty(n_indexed, dtype=np.int32)
    io = np.empty(n_indexed, dtype=np.int32)
    k = 0
    for q in range(n_runs):
        g0, g1 = run_ptr[q], run_ptr[q + 1]
        if run_kind[q] == PROGRAMS:  # programs: the index of the first one
            run_idx[q] = n_progs
            n_progs += g1 - g0
        elif run_kind[q] != INDEXED:
            base[q, SEG_A], base[q, SEG_B] = ga[g0], gb[g0]
            base[q, SEG_C], base[q, SEG_OUT] = gc[g0], go[g0]
            if g1 - g0 > 1:
                stride[q, SEG_A], stride[q, SEG_B] = ga[g0 + 1] - ga[g0], gb[g0 + 1] - gb[g0]
                stride[q, SEG_C], stride[q, SEG_OUT] = gc[g0 + 1] - gc[g0], go[g0 + 1] - go[g0]
        else:
            run_idx[q] = k
            for g in range(g0, g1):
                ia[k], ib[k], ic[k], io[k] = ga[g], gb[g], gc[g], go[g]
                k += 1
    return base, stride, run_idx, ia, ib, ic, io
