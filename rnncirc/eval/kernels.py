"""The evaluator's compiled entry point: `run` walks a `Schedule` step by step over a batch.

Where this sits: in `eval`, between `fast.Evaluator` (which plans a batch and calls `run`)
and the leaf kernels it calls once per segment: `segment_kernels` (affine, streamed, indexed
and strided segments of gates), `tree_kernels` (fused trees), on the intrinsics of
`vector_ops` and the scalar forms of `scalar_ops`. The kernels import the instruction set
(`rnncirc.eval.isa`), never the scheduler.

Data layout
-----------
The buffer ``V`` is one flat C array of rows: row ``r`` is ``V[r*Bp : (r+1)*Bp]``, ``Bp``
lanes (the batch, padded to a multiple of the vector width ``W``), so every gate reads and
writes contiguous memory. The input slots take rows 0..n_in-1 (in blocks of features,
`rnncirc.eval.schedule.layout.input_rows`), output position p row ``n_in + p``, the
registers come after them (`rnncirc.eval.schedule.registers`): a gate reads its inputs and
writes its output where they are, so evaluating moves no data besides the gates' own reads
and writes. When the batch is split over threads each thread has a buffer of its own and copies
its lanes of the caller's inputs ``X`` in and of the outputs ``O`` out, flat buffers with
element strides ``(s0, s1)``: slot ``s`` of batch lane ``j`` is ``X[s*s0 + j*s1]``. Tiled
schedules prefetch their input rows at an even rate before each step
(`rnncirc.eval.schedule.layout.prefetch_lists`).

Compilation
-----------
`run` is the one cached entry point: compiled once per (dtype, W) and reused across
processes; `fill_rows` is cached the same way. Both are the only functions of this module
cached on disk, through `kernel_cache.cached`, whose stamp covers every file they are
compiled from (the leaf kernels live in other files, and Numba's own stamp covers only this
one). `run` takes the schedule's arrays as one `ScheduleArrays` and hands that one value down
to every function that walks the schedule.
The leaf kernels called once per segment, group or group instruction (`group_kernel`,
`_strided_instr`, `_indexed_instr`, `gates_kernel`, `block_kernel` and their per-op
bodies) take arrays but never allocate or slice, so they are compiled without NRT
(``_nrt=False``): no atomic incref/decref of their array arguments on every call. A dense
prefix circuit runs hundreds of thousands of group instructions per evaluation, and those
atomics would cost more than the instructions themselves.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from rnncirc.eval.isa import (
    AFFINE,
    INDEXED,
    PROGRAMS,
    SEG_A,
    SEG_B,
    SEG_C,
    SEG_OUT,
    STREAMED,
)
from rnncirc.eval.segment_kernels import block_kernel, gates_kernel, stream_kernel
from rnncirc.eval.tree_kernels import group_kernel
from rnncirc.eval.vector_ops import prefetch_line, vcopy_from
from rnncirc.ir.kernel_cache import cached


# -- copies between the caller's arrays and the registers -----------------------------------------
@numba.njit(inline="always", nogil=True, error_model="numpy")
def _load(V, ro, X, so, xs1, k0, k1, nb, vec, lanes):
    """Register row at `ro` <- input slot whose first element is at `so` (lanes k0..k1)."""
    W = len(lanes)
    if vec:
        for col in range(k0 * W, k1 * W, W):
            vcopy_from(V, ro + col, X, so + col, lanes)
    else:
        c1 = min(k1 * W, nb)
        for j in range(k0 * W, c1):
            V[ro + j] = X[so + j * xs1]
        for j in range(max(c1, k0 * W), k1 * W):  # padding lanes: a copy of lane 0
            V[ro + j] = X[so]


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _store(O, po, os1, V, ro, k0, k1, nb, vec, lanes):
    W = len(lanes)
    if vec:
        for col in range(k0 * W, k1 * W, W):
            vcopy_from(O, po + col, V, ro + col, lanes)
    else:
        for j in range(k0 * W, min(k1 * W, nb)):
            O[po + j * os1] = V[ro + j]


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _copy_block(D, od, S, os, n):
    d, s = np.uint64(od), np.uint64(os)
    for j in range(n):
        u = np.uint64(j)
        D[d + u] = S[s + u]


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _copies(lo, hi, k0, k1, V, Bp, copy_dst, copy_src, copy_len, full, lanes):
    """Copy blocks lo..hi-1 (consecutive rows to consecutive rows): one contiguous copy
    when the lanes are whole rows, else vector by vector over lane chunks k0..k1-1."""
    W = len(lanes)
    for i in range(lo, hi):
        n = copy_len[i]
        if full:
            _copy_block(V, copy_dst[i] * Bp, V, copy_src[i] * Bp, n * Bp)
        else:
            for m in range(n):
                for col in range(k0 * W, k1 * W, W):
                    vcopy_from(V, (copy_dst[i] + m) * Bp + col, V,
                                (copy_src[i] + m) * Bp + col, lanes)


class ScheduleArrays(NamedTuple):
    """What the kernels read of a schedule (`rnncirc.eval.schedule.Schedule`, whose docstring
    describes each array): one value handed down from `run` to every function that walks
    the schedule, instead of two dozen positional arguments five calls deep. `run` takes it
    as a plain tuple in this field order (`from_schedule` makes one), which Numba's dispatcher
    types without calling back into Python, and names its fields inside."""

    slot_row: np.ndarray
    n_in: int
    n_out: int
    ga: np.ndarray
    gb: np.ndarray
    gc: np.ndarray
    go: np.ndarray
    run_op: np.ndarray
    run_kind: np.ndarray
    run_ptr: np.ndarray
    run_idx: np.ndarray
    run_base: np.ndarray
    run_stride: np.ndarray
    level_run_ptr: np.ndarray
    grp: np.ndarray
    gi: np.ndarray
    fi: np.ndarray
    sbase: int
    nscr: int  # scratch rows per task (a task of a wide step moves its scratch by t * nscr)
    copy_dst: np.ndarray
    copy_src: np.ndarray
    copy_len: np.ndarray
    level_copy_ptr: np.ndarray
    pf_row: np.ndarray
    pf_len: np.ndarray
    level_pf_ptr: np.ndarray  # (all zeros: no prefetching)

    @classmethod
    def from_schedule(cls, schedule, prefetch: bool = True) -> tuple:
        """The plain tuple `run` takes for `schedule` (without its prefetch lists unless
        `prefetch`)."""
        s = schedule
        return tuple(cls(
            slot_row=s.slot_row, n_in=s.n_inputs, n_out=s.n_outputs, ga=s.ga, gb=s.gb,
            gc=s.gc, go=s.go, run_op=s.run_op, run_kind=s.run_kind, run_ptr=s.run_ptr,
            run_idx=s.run_idx, run_base=s.run_base, run_stride=s.run_stride,
            level_run_ptr=s.level_run_ptr, grp=s.grp, gi=s.gi, fi=s.fi, sbase=s.sbase,
            nscr=s.n_scratch, copy_dst=s.copy_dst, copy_src=s.copy_src, copy_len=s.copy_len,
            level_copy_ptr=s.level_copy_ptr, pf_row=s.pf_row, pf_len=s.pf_len,
            level_pf_ptr=s.level_pf_ptr if prefetch else s.no_prefetch_ptr))


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _segment(q, a, e, k0, k1, full, V, Bp, p, shift, lanes, s):
    """Gates a..e-1 (of the step order) of segment q of the schedule arrays `s`: an affine
    segment as one block loop when the lanes are whole rows (results stored past the caches
    when STREAMED), a strided one gate by gate with computed registers, an indexed one gate
    by gate with registers from the index arrays, a program segment fused tree by fused
    tree (scratch registers moved by `shift`)."""
    W = len(lanes)
    off = a - s.run_ptr[q]
    kind = s.run_kind[q]
    op = np.int64(s.run_op[q])
    if kind == PROGRAMS:
        g0 = s.run_idx[q] + off
        for col in range(k0 * W, k1 * W, W):
            group_kernel(g0, g0 + e - a, col, V, Bp, s.grp, s.gi, s.fi, s.sbase, shift, p, lanes)
        return
    if kind == INDEXED:
        i0 = s.run_idx[q] + off
        zero = np.int64(0)  # (typed like the strided tuple: one compiled gates_kernel)
        st = (zero, zero, zero, zero, zero, zero, zero, zero, zero)
        for col in range(k0 * W, k1 * W, W):
            gates_kernel(op, i0, i0 + e - a, col, V, Bp, s.ga, s.gb, s.gc, s.go, st, p, lanes)
        return
    # (scalar reads: a row view run_base[q] would cost reference counting per segment)
    base = s.run_base
    if kind == STREAMED and full and W > 1 and p == 0:  # (non-temporal stores: float vectors)
        stream_kernel(op, (e - a) * Bp, (base[q, SEG_OUT] + off) * Bp,
                      (base[q, SEG_A] + off) * Bp, (base[q, SEG_B] + off) * Bp,
                      (base[q, SEG_C] + off) * Bp, V, p, lanes)
        return
    if (kind == AFFINE or kind == STREAMED) and full:
        block_kernel(op, (e - a) * Bp, (base[q, SEG_OUT] + off) * Bp,
                     (base[q, SEG_A] + off) * Bp, (base[q, SEG_B] + off) * Bp,
                     (base[q, SEG_C] + off) * Bp, V, p)
        return
    stride = s.run_stride
    st = (np.int64(base[q, SEG_A]), np.int64(stride[q, SEG_A]), np.int64(base[q, SEG_B]),
          np.int64(stride[q, SEG_B]), np.int64(base[q, SEG_C]), np.int64(stride[q, SEG_C]),
          np.int64(base[q, SEG_OUT]), np.int64(stride[q, SEG_OUT]), np.int64(1))
    for col in range(k0 * W, k1 * W, W):
        gates_kernel(op, off, off + e - a, col, V, Bp, s.ga, s.gb, s.gc, s.go, st, p, lanes)


# (`_levels` and `_share` are compiled without NRT too: `_segment` is inlined into them, and
# with NRT every inlined call increfs and decrefs each of its arrays, atomics that can cost
# more than a short affine segment itself)
@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _levels(l0, l1, k0, k1, V, Bp, p, lanes, s):
    """Steps l0..l1-1 of the schedule arrays `s` on lane chunks k0..k1-1, serially; before
    each step, the cache lines of the rows it prefetches
    (`rnncirc.eval.schedule.layout.prefetch_lists`)."""
    W = len(lanes)
    full = k0 == 0 and k1 * W == Bp
    line = 64 // V.itemsize
    for lv in range(l0, l1):
        for i in range(s.level_pf_ptr[lv], s.level_pf_ptr[lv + 1]):
            for off in range(s.pf_row[i] * Bp, (s.pf_row[i] + s.pf_len[i]) * Bp, line):
                prefetch_line(V, off)
        for q in range(s.level_run_ptr[lv], s.level_run_ptr[lv + 1]):
            _segment(q, s.run_ptr[q], s.run_ptr[q + 1], k0, k1, full, V, Bp, p, np.int64(0),
                     lanes, s)
        _copies(s.level_copy_ptr[lv], s.level_copy_ptr[lv + 1], k0, k1, V, Bp, s.copy_dst,
                s.copy_src, s.copy_len, full, lanes)


@cached
@numba.njit(nogil=True, error_model="numpy")
def fill_rows(src, dst, row, slot_row, c0, c1):
    """``dst[slot_row[s]*row + j] = src[j, s]`` for slots c0..c1-1 (with a cast): the
    caller's ``(batch, slots)`` array into the input rows of a buffer (rows of `row`
    elements, slot s in row ``slot_row[s]``). Slot by slot, so the writes are whole rows and
    the reads `batch` sequential streams (unsigned offsets: no wraparound checks)."""
    rows = src.shape[0]
    for c in range(c0, c1):
        o = np.uint64(slot_row[c] * row)
        for j in range(rows):
            dst[o + np.uint64(j)] = src[j, c]


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _share(lv, t, n_tasks, V, Bp, p, lanes, s):
    """Task t's share of the gates of step lv (a wide step), with its own scratch rows."""
    q_lo = s.level_run_ptr[lv]
    q_hi = s.level_run_ptr[lv + 1]
    g_lo = s.run_ptr[q_lo]
    n = s.run_ptr[q_hi] - g_lo
    a = g_lo + n * t // n_tasks
    b = g_lo + n * (t + 1) // n_tasks
    if a >= b:
        return
    q = q_lo
    while s.run_ptr[q + 1] <= a and q < q_hi - 1:  # the segment holding gate a
        q += 1
    while a < b:
        e = min(s.run_ptr[q + 1], b)
        _segment(q, a, e, 0, Bp // len(lanes), True, V, Bp, p, t * s.nscr, lanes, s)
        a = e
        q += 1


#: how `run` splits the work over threads
SERIAL, LANES, WIDE = 0, 1, 2


@numba.njit(nogil=True, error_model="numpy")
def _task(mode, step, t, n_tasks, l0, l1, bounds, V, Bp, X, xs0, xs1, O, os0, os1, p, lanes,
          s):
    """Task t of a parallel step (see `run`); in a wide step each task has its own
    scratch registers."""
    W = len(lanes)
    chunks = Bp // W
    if mode == LANES:  # lanes bounds[t]..bounds[t+1]-1, in the t-th buffer
        size = len(V) // n_tasks
        Vt = V[t * size:(t + 1) * size]
        lo = bounds[t]
        m = bounds[t + 1] - lo
        vec_in = xs1 == 1 and m == Bp
        # (in when the first step runs, out after the last: a run cut into chunks for
        # progress reports calls this once per chunk)
        for i in range(s.n_in if l0 == 0 else 0):
            _load(Vt, s.slot_row[i] * Bp, X, i * xs0 + lo * xs1, xs1, np.int64(0), chunks, m,
                  vec_in, lanes)
        _levels(l0, l1, np.int64(0), chunks, Vt, Bp, p, lanes, s)
        vec_out = os1 == 1 and m == Bp
        for i in range(s.n_out if l1 == len(s.level_run_ptr) - 1 else 0):
            _store(O, i * os0 + lo * os1, os1, Vt, (s.n_in + i) * Bp, np.int64(0), chunks, m,
                   vec_out, lanes)
        return
    lv = l0 + step // 2
    if step % 2 == 0:
        _share(lv, t, n_tasks, V, Bp, p, lanes, s)
    else:
        lo = s.level_copy_ptr[lv]
        n = s.level_copy_ptr[lv + 1] - lo
        _copies(lo + n * t // n_tasks, lo + n * (t + 1) // n_tasks, 0, chunks, V, Bp,
                s.copy_dst, s.copy_src, s.copy_len, True, lanes)


@cached
@numba.njit(nogil=True, parallel=True, error_model="numpy")
def run(mode, l0, l1, n_tasks, bounds, V, Bp, X, xs0, xs1, O, os0, os1, p, lanes, arrays):
    """Evaluate steps l0..l1-1 of the schedule whose `ScheduleArrays` are `arrays` (a plain
    tuple, `ScheduleArrays.from_schedule`): the one compiled entry point (per dtype and
    width W).

    `V` is the buffer: input slot s in row ``slot_row[s]`` (rows 0..n_in-1), output
    position p in row ``n_in + p``, the registers after them
    (`rnncirc.eval.schedule.registers`), ``Bp`` lanes a row.

    * SERIAL: one thread walks the steps over all lanes of `V`.
    * LANES: `V` holds `n_tasks` buffers of ``Bp`` lanes each; thread t copies batch lanes
      ``bounds[t]..bounds[t+1]-1`` of the inputs `X` into its buffer, walks the steps and
      copies its outputs to `O` (flat arrays with element strides ``(s0, s1)``: slot s of
      lane j is ``X[s*s0 + j*s1]``). The lanes of a batch are independent, so threads
      never wait for each other or share a cache line.
    * WIDE: every step's gates and copies are each split over `n_tasks` tasks (a task's
      share of an affine segment is still affine).
    """
    s = ScheduleArrays(*arrays)
    if mode == SERIAL:
        _levels(l0, l1, np.int64(0), Bp // len(lanes), V, Bp, p, lanes, s)
        return
    n_steps = 1 if mode == LANES else 2 * (l1 - l0)
    for step in range(n_steps):
        for t in prange(n_tasks):
            _task(mode, step, np.int64(t), n_tasks, l0, l1, bounds, V, Bp, X, xs0, xs1, O,
                  os0, os1, p, lanes, s)
