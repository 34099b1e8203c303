"""The evaluation schedule: a circuit's live gates in steps, with registers assigned.

Computed once per circuit (and cached by `rnncirc.eval.fast`) in linear passes compiled with
Numba; nothing runs per gate in Python.

Steps
-----
Gates reachable from an output are grouped into *steps*; the gates of one step are
independent, so a kernel may run them in any order or in parallel. Three placements:

* ``levels``: step = the gate's level (ASAP), the circuit's own level structure;
* ``late levels``: every gate that is not an output moved to just before its first reader,
  used when it needs fewer registers (input-only work such as ``W @ x`` of an unrolled RNN
  is then not computed for all steps at once at the start);
* ``tiles of T steps``: for circuits with a level wider than `TILE_WHEN_WIDER` gates, the
  time axis is cut into tiles of T input steps; a gate belongs to the tile of the last time
  step it depends on and tiles run in order, each level by level (`_tile_levels`). On a
  prefix network this keeps each step's working set in cache instead of streaming whole
  levels of the circuit through memory.

Within a step gates are sorted by ``(op, id)`` (two stable counting sorts) and cut into
*segments* of one op (`_segments`): strided segments (`MIN_STRIDED` or more gates whose
registers move by a constant stride per operand: the kernel computes the registers, reading
no indices), affine ones (`MIN_AFFINE` or more gates, all strides 1: operands and results
are contiguous blocks, one long vector loop), and indexed segments (each gate reads its
registers from the index arrays).

Arrays (CSR pointers have one entry per step plus one)
-------------------------------------------------------
* segments: ``run_op``, ``run_kind`` (0 indexed, 1 affine, 2 strided), ``run_ptr`` (CSR over
  the gates in step order), ``level_run_ptr`` (CSR of the segments of each step); a strided
  or affine segment keeps its first gate's registers (a, b, c, out) in ``run_base`` and
  their strides in ``run_stride``, an indexed one the offset ``run_idx`` of its gates in
* ``ga, gb, gc, go`` (int32, one per gate of an indexed segment): operand and result
  **registers**, not row ids. Strided gates cost no index memory at all.
* ``load_slot``, ``load_reg``, ``load_len``, ``level_load_ptr``: blocks of input slots
  copied into consecutive registers just before a step, namely the inputs whose first reader
  is on that step (step 0 when only an output reads them); inputs are never all resident.
* ``store_pos``, ``store_reg``, ``store_len``, ``level_store_ptr``: after a step, blocks of
  output positions (flat index into ``circuit.outputs``) written from registers computed on
  it.
* ``const_reg``, ``const_val``: registers filled with constants once, never recycled.

Registers and liveness
----------------------
A value is *born* on its step (an input: on the step that first reads it) and *dies* on the
step of its last reader (an output: on its own step, right after it is stored). A linear-scan
allocator walks the steps, gives each newborn value a free register (lowest first, so
neighbouring gates get neighbouring registers and segments come out affine) and returns the
registers of the values that died on a step once the step is finished. The register file
thus holds ``n_regs`` rows, the widest set of simultaneously live values, not one row per
circuit node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from rnncirc.analyze.levels import live_mask
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.ops import ARITY, N_OPS

_NEVER = np.iinfo(np.int32).max
#: shortest runs of gates made affine / strided segments (shorter ones stay indexed: a
#: segment costs a kernel call, about as much as 20-50 indexed gates)
MIN_AFFINE = 16
MIN_STRIDED = 64
#: circuits whose widest level has more gates than this are evaluated in time tiles ...
TILE_WHEN_WIDER = 8192
#: ... of about this many gates per level and tile
TILE_GATES = 1024


@dataclass(frozen=True, eq=False)
class Schedule:
    """Level-contiguous gate order with registers; see the module docstring."""

    n_levels: int
    n_regs: int
    n_outputs: int
    n_inputs: int
    n_gates: int
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
    load_slot: np.ndarray
    load_reg: np.ndarray
    load_len: np.ndarray
    level_load_ptr: np.ndarray
    store_reg: np.ndarray
    store_pos: np.ndarray
    store_len: np.ndarray
    level_store_ptr: np.ndarray
    const_reg: np.ndarray
    const_val: np.ndarray
    level_work: np.ndarray
    gate_ops: frozenset
    num_nodes: int
    placement: str = "levels"

    @property
    def n_runs(self) -> int:
        return len(self.run_op)

    @property
    def max_width(self) -> int:
        """Gates on the widest level."""
        return int(self.level_work.max(initial=0))

    def nbytes(self) -> int:
        """Memory the schedule itself takes (index arrays), independent of the batch."""
        return sum(getattr(self, name).nbytes for name in self.__dataclass_fields__
                   if isinstance(getattr(self, name), np.ndarray))


@numba.njit(cache=True, nogil=True)
def _late_levels(op, a, b, c, arity, level, live, out_flat):
    """Levels with every gate moved as late as its readers allow, outputs kept early.

    One backward pass: an output gate stays on its ASAP level (storing it early lets its
    operands die early); any other gate goes to one level before its earliest reader. Gates
    fed only by inputs and constants (``W @ x`` in an unrolled RNN) are then computed just
    before they are needed instead of all at the start, which keeps them from being live
    across the whole circuit.
    """
    n = len(op)
    is_out = np.zeros(n, dtype=np.bool_)
    for r in out_flat:
        is_out[r] = True
    first_reader = np.full(n, _NEVER, dtype=np.int32)
    late = level.copy()
    for g in range(n - 1, -1, -1):
        k = arity[op[g]]
        if k == 0 or not live[g]:
            continue
        lv = level[g] if is_out[g] else first_reader[g] - 1
        late[g] = lv
        for which in range(k):
            u = a[g] if which == 0 else (b[g] if which == 1 else c[g])
            if lv < first_reader[u]:
                first_reader[u] = lv
    return late


@numba.njit(cache=True, nogil=True)
def _tile_levels(op, a, b, c, arity, level, live, in_rows, k, tile):
    """Evaluation steps that walk the time axis in tiles of `tile` steps.

    A gate belongs to the tile of the *last* time step it depends on (through its inputs),
    and tiles run in time order, each one level by level; values carried from one tile to
    the next (a running prefix) stay live, everything else is recycled within the tile.
    That is a topological order (a gate's operands end no later than it does), and on a
    wide circuit such as a prefix network it keeps the working set of each step in cache
    instead of streaming whole levels of the circuit through memory. Only the levels present
    in a tile become steps. Returns (step of each row, number of steps); leaves are on step 0.
    """
    n = len(op)
    last = np.full(n, -1, dtype=np.int64)
    for i in range(len(in_rows)):
        last[in_rows[i]] = i // k
    for g in range(n):
        na = arity[op[g]]
        if na == 0:
            continue
        m = last[a[g]]
        if na >= 2 and last[b[g]] > m:
            m = last[b[g]]
        if na >= 3 and last[c[g]] > m:
            m = last[c[g]]
        last[g] = m
    # gates by tile (counting sort), then the levels present in each tile, in order
    n_tiles = 1
    n_levels = 1
    for g in range(n):
        if live[g] and arity[op[g]] > 0:
            n_tiles = max(n_tiles, max(last[g], 0) // tile + 1)
            n_levels = max(n_levels, level[g] + 1)
    ptr = np.zeros(n_tiles + 1, dtype=np.int64)
    for g in range(n):
        if live[g] and arity[op[g]] > 0:
            ptr[max(last[g], 0) // tile + 1] += 1
    for t in range(n_tiles):
        ptr[t + 1] += ptr[t]
    by_tile = np.empty(ptr[n_tiles], dtype=np.int64)
    fill = ptr[:-1].copy()
    for g in range(n):
        if live[g] and arity[op[g]] > 0:
            t = max(last[g], 0) // tile
            by_tile[fill[t]] = g
            fill[t] += 1
    rank = np.full(n_levels, -1, dtype=np.int64)  # step of each level within the tile
    step = np.zeros(n, dtype=np.int32)
    total = 1  # step 0: the leaves
    for t in range(n_tiles):
        lo, hi = ptr[t], ptr[t + 1]
        if hi == lo:
            continue
        present = np.empty(hi - lo, dtype=np.int64)
        m = 0
        for i in range(lo, hi):
            lv = level[by_tile[i]]
            if rank[lv] < 0:
                rank[lv] = 0
                present[m] = lv
                m += 1
        present = np.sort(present[:m])
        for i in range(m):
            rank[present[i]] = total + i
        for i in range(lo, hi):
            g = by_tile[i]
            step[g] = rank[level[g]]
        for i in range(m):
            rank[present[i]] = -1
        total += m
    return step, total


@numba.njit(cache=True, nogil=True)
def _build(op, a, b, c, arity, level, live, in_rows, out_flat, n_levels, n_ops):
    """Everything of the schedule in linear passes (see the module docstring)."""
    n = len(op)
    # first / last level on which each row is read by a live gate
    first = np.full(n, _NEVER, dtype=np.int32)
    last = np.full(n, -1, dtype=np.int32)
    level_gate_ptr = np.zeros(n_levels + 1, dtype=np.int64)
    for g in range(n):
        k = arity[op[g]]
        if k == 0 or not live[g]:
            continue
        lv = level[g]
        level_gate_ptr[lv + 1] += 1
        for which in range(k):
            u = a[g] if which == 0 else (b[g] if which == 1 else c[g])
            if lv < first[u]:
                first[u] = lv
            if lv > last[u]:
                last[u] = lv
    for i in range(n_levels):
        level_gate_ptr[i + 1] += level_gate_ptr[i]
    n_gates = level_gate_ptr[n_levels]

    # gates by (level, op, id): bucket by level, then a small counting sort by op per level
    gates = np.empty(n_gates, dtype=np.int32)
    fill = level_gate_ptr[:-1].copy()
    for g in range(n):
        if live[g] and arity[op[g]] > 0:
            gates[fill[level[g]]] = g
            fill[level[g]] += 1
    tmp = np.empty(n_gates, dtype=np.int32)
    counts = np.zeros(n_ops + 1, dtype=np.int64)
    for lv in range(n_levels):
        lo, hi = level_gate_ptr[lv], level_gate_ptr[lv + 1]
        if hi - lo < 2:
            continue
        counts[:] = 0
        for i in range(lo, hi):
            counts[op[gates[i]] + 1] += 1
        for k in range(n_ops):
            counts[k + 1] += counts[k]
        for i in range(lo, hi):
            g = gates[i]
            tmp[lo + counts[op[g]]] = g
            counts[op[g]] += 1
        gates[lo:hi] = tmp[lo:hi]

    # inputs: born on the level of their first reader (0 if only an output reads them)
    birth = np.empty(n, dtype=np.int32)
    for i in range(n):
        birth[i] = level[i]
    n_loads = 0
    level_load_ptr = np.zeros(n_levels + 1, dtype=np.int64)
    for r in in_rows:
        if live[r]:
            birth[r] = 0 if first[r] == _NEVER else first[r]
            level_load_ptr[birth[r] + 1] += 1
            n_loads += 1
    for i in range(n_levels):
        level_load_ptr[i + 1] += level_load_ptr[i]
    load_rows = np.empty(n_loads, dtype=np.int32)
    fill = level_load_ptr[:-1].copy()
    for r in in_rows:
        if live[r]:
            load_rows[fill[birth[r]]] = r
            fill[birth[r]] += 1

    # death: the level after which the register can be reused
    n_dying = np.zeros(n_levels + 1, dtype=np.int64)
    for r in load_rows:
        last[r] = max(last[r], birth[r])
        n_dying[last[r] + 1] += 1
    for r in gates:
        last[r] = max(last[r], birth[r])
        n_dying[last[r] + 1] += 1
    for i in range(n_levels):
        n_dying[i + 1] += n_dying[i]
    dying = np.empty(n_loads + n_gates, dtype=np.int32)
    fill = n_dying[:-1].copy()
    for r in load_rows:
        dying[fill[last[r]]] = r
        fill[last[r]] += 1
    for r in gates:
        dying[fill[last[r]]] = r
        fill[last[r]] += 1

    # linear-scan register allocation; constants are resident for good
    reg = first  # reuse the memory: `first` is no longer needed
    reg[:] = -1
    n_consts = 0
    for r in range(n):
        if live[r] and arity[op[r]] == 0 and birth[r] == 0 and op[r] == 0:
            reg[r] = n_consts
            n_consts += 1
    const_rows = np.empty(n_consts, dtype=np.int32)
    for r in range(n):
        if reg[r] >= 0:
            const_rows[reg[r]] = r
    free = np.empty(n_loads + n_gates + 1, dtype=np.int32)
    n_free = 0
    next_reg = n_consts
    for lv in range(n_levels):
        for i in range(level_load_ptr[lv], level_load_ptr[lv + 1]):
            r = load_rows[i]
            if n_free > 0:
                n_free -= 1
                reg[r] = free[n_free]
            else:
                reg[r] = next_reg
                next_reg += 1
        for i in range(level_gate_ptr[lv], level_gate_ptr[lv + 1]):
            r = gates[i]
            if n_free > 0:
                n_free -= 1
                reg[r] = free[n_free]
            else:
                reg[r] = next_reg
                next_reg += 1
        lo, hi = n_dying[lv], n_dying[lv + 1]
        if hi > lo:
            base = n_free
            for i in range(lo, hi):
                free[n_free] = reg[dying[i]]
                n_free += 1
            # hand the freed registers out lowest first: neighbouring gates then get
            # neighbouring registers
            # (merge sort: Numba's quicksort is quadratic on the sawtooth orders seen here)
            part = free[base:n_free]
            part[:] = part[np.argsort(part, kind="mergesort")]
            m = n_free - base
            for i in range(m // 2):
                t = part[i]
                part[i] = part[m - 1 - i]
                part[m - 1 - i] = t

    # the schedule arrays, in registers
    ga = np.zeros(n_gates, dtype=np.int32)
    gb = np.zeros(n_gates, dtype=np.int32)
    gc = np.zeros(n_gates, dtype=np.int32)
    go = np.empty(n_gates, dtype=np.int32)
    gate_op = np.empty(n_gates, dtype=np.uint8)
    for i in range(n_gates):
        g = gates[i]
        k = arity[op[g]]
        gate_op[i] = op[g]
        go[i] = reg[g]
        ga[i] = reg[a[g]]
        if k >= 2:
            gb[i] = reg[b[g]]
        if k >= 3:
            gc[i] = reg[c[g]]
    load_slot = np.empty(n_loads, dtype=np.int32)
    load_reg = np.empty(n_loads, dtype=np.int32)
    for i in range(n_loads):
        load_slot[i] = a[load_rows[i]]
        load_reg[i] = reg[load_rows[i]]
    n_out = len(out_flat)
    level_store_ptr = np.zeros(n_levels + 1, dtype=np.int64)
    for p in range(n_out):
        level_store_ptr[birth[out_flat[p]] + 1] += 1
    for i in range(n_levels):
        level_store_ptr[i + 1] += level_store_ptr[i]
    store_pos = np.empty(n_out, dtype=np.int32)
    store_reg = np.empty(n_out, dtype=np.int32)
    fill = level_store_ptr[:-1].copy()
    for p in range(n_out):
        lv = birth[out_flat[p]]
        store_pos[fill[lv]] = p
        store_reg[fill[lv]] = reg[out_flat[p]]
        fill[lv] += 1
    const_reg = np.arange(n_consts).astype(np.int32)
    const_idx = np.empty(n_consts, dtype=np.int32)
    for i in range(n_consts):
        const_idx[i] = a[const_rows[i]]
    return (next_reg, ga, gb, gc, go, gate_op, level_gate_ptr, load_slot, load_reg,
            level_load_ptr, store_reg, store_pos, level_store_ptr, const_reg, const_idx)


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def _segments(ga, gb, gc, go, gate_op, arity, level_gate_ptr, min_affine, min_strided):
    """Cut each step into runs of one op, and runs into segments of three kinds.

    A *strided* segment (at least `min_strided` gates) has every register move by a constant
    stride per operand from one gate to the next (a stride 0 operand is one register shared
    by all, as a matrix entry times a row), so a kernel computes the registers instead of
    reading them; when all used strides are 1 it is *affine* (at least `min_affine` gates):
    operands and results are contiguous blocks of the register file, one long vector loop.
    The gates in between form *indexed* segments. (Each segment costs a kernel call, so
    short stretches are cheaper left indexed.) Returns (op, kind: 0 indexed / 1 affine /
    2 strided, CSR over gates, CSR of the segments of each step).
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
                            seg_op[q], seg_kind[q], seg_ptr[q] = gate_op[r0], 0, start
                        q += 1
                    if not count_only:
                        seg_op[q], seg_ptr[q] = gate_op[r0], i
                        seg_kind[q] = 1 if affine else 2
                    q += 1
                    start = i = j
                if start < r1:
                    if not count_only:
                        seg_op[q], seg_kind[q], seg_ptr[q] = gate_op[r0], 0, start
                    q += 1
                r0 = r1
        level_seg_ptr[n_levels] = q
        if count_only:
            seg_op = np.empty(q, dtype=np.uint8)
            seg_kind = np.empty(q, dtype=np.uint8)
            seg_ptr = np.empty(q + 1, dtype=np.int64)
    seg_ptr[len(seg_op)] = len(go)
    return seg_op, seg_kind, seg_ptr, level_seg_ptr


@numba.njit(cache=True, nogil=True)
def _copy_blocks(x, y, level_ptr):
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


@numba.njit(cache=True, nogil=True)
def _compact(ga, gb, gc, go, run_kind, run_ptr):
    """Per segment: first registers and strides (affine, strided) or the offset of its
    indices (indexed); the index arrays keep only the gates of indexed segments."""
    n_runs = len(run_kind)
    base = np.zeros((n_runs, 4), dtype=np.int32)  # a, b, c, o of the first gate
    stride = np.zeros((n_runs, 4), dtype=np.int32)
    run_idx = np.full(n_runs, -1, dtype=np.int64)
    n_indexed = 0
    for q in range(n_runs):
        if run_kind[q] == 0:
            n_indexed += run_ptr[q + 1] - run_ptr[q]
    ia = np.empty(n_indexed, dtype=np.int32)
    ib = np.empty(n_indexed, dtype=np.int32)
    ic = np.empty(n_indexed, dtype=np.int32)
    io = np.empty(n_indexed, dtype=np.int32)
    k = 0
    for q in range(n_runs):
        g0, g1 = run_ptr[q], run_ptr[q + 1]
        if run_kind[q] != 0:
            base[q, 0], base[q, 1], base[q, 2], base[q, 3] = ga[g0], gb[g0], gc[g0], go[g0]
            if g1 - g0 > 1:
                stride[q, 0], stride[q, 1] = ga[g0 + 1] - ga[g0], gb[g0 + 1] - gb[g0]
                stride[q, 2], stride[q, 3] = gc[g0 + 1] - gc[g0], go[g0 + 1] - go[g0]
        else:
            run_idx[q] = k
            for g in range(g0, g1):
                ia[k], ib[k], ic[k], io[k] = ga[g], gb[g], gc[g], go[g]
                k += 1
    return base, stride, run_idx, ia, ib, ic, io


def build_schedule(circuit: Circuit) -> Schedule:
    """The schedule of `circuit` (see the module docstring). Linear in the circuit size."""
    op, a, b, c = circuit.op, circuit.a, circuit.b, circuit.c
    out_flat = np.ascontiguousarray(circuit.outputs.reshape(-1), dtype=np.int32)
    in_rows = np.ascontiguousarray(circuit.inputs.reshape(-1), dtype=np.int32)
    level = circuit.levels
    live = live_mask(op, a, b, c, ARITY, out_flat)
    n_levels = int(circuit.depth) + 1
    width = int(np.bincount(level[live], minlength=1)[1:].max(initial=0))
    n_steps, k = circuit.inputs.shape if circuit.inputs.ndim == 2 else (1, 0)
    tile = tile_size(n_steps, width)
    if tile is not None:
        steps, n_levels = _tile_levels(op, a, b, c, ARITY, level, live, in_rows, max(k, 1),
                                       tile)
        built = _build(op, a, b, c, ARITY, steps, live, in_rows, out_flat, n_levels, N_OPS)
        placement = f"tiles of {tile} steps"
    else:
        built = _build(op, a, b, c, ARITY, level, live, in_rows, out_flat, n_levels, N_OPS)
        placement = "levels"
        late = _late_levels(op, a, b, c, ARITY, level, live, out_flat)
        if not np.array_equal(late, level):
            other = _build(op, a, b, c, ARITY, late, live, in_rows, out_flat, n_levels, N_OPS)
            if other[0] < built[0]:
                built, placement = other, "late levels"
    (n_regs, ga, gb, gc, go, gate_op, level_gate_ptr, load_slot, load_reg, level_load_ptr,
     store_reg, store_pos, level_store_ptr, const_reg, const_idx) = built
    run_op, run_kind, run_ptr, level_run_ptr = _segments(ga, gb, gc, go, gate_op, ARITY,
                                                         level_gate_ptr, MIN_AFFINE,
                                                         MIN_STRIDED)
    run_base, run_stride, run_idx, ga, gb, gc, go = _compact(ga, gb, gc, go, run_kind,
                                                             run_ptr)
    load_slot, load_reg, load_len, level_load_ptr = _copy_blocks(load_slot, load_reg,
                                                                 level_load_ptr)
    store_pos, store_reg, store_len, level_store_ptr = _copy_blocks(store_pos, store_reg,
                                                                    level_store_ptr)
    return Schedule(
        n_levels=n_levels, n_regs=int(n_regs), n_outputs=len(out_flat),
        n_inputs=int(circuit.inputs.size), n_gates=int(level_gate_ptr[-1]),
        ga=ga, gb=gb, gc=gc, go=go, run_op=run_op, run_kind=run_kind, run_ptr=run_ptr,
        run_idx=run_idx, run_base=run_base, run_stride=run_stride,
        level_run_ptr=level_run_ptr,
        load_slot=load_slot, load_reg=load_reg, load_len=load_len,
        level_load_ptr=level_load_ptr, store_reg=store_reg, store_pos=store_pos,
        store_len=store_len, level_store_ptr=level_store_ptr, const_reg=const_reg,
        const_val=np.asarray(circuit.consts, dtype=np.float64)[const_idx],
        level_work=np.diff(level_gate_ptr), gate_ops=frozenset(np.unique(run_op).tolist()),
        num_nodes=circuit.num_nodes, placement=placement)


def tile_size(n_steps: int, width: int) -> int | None:
    """Time steps per tile for a circuit whose widest level has `width` gates, or None when
    levels are narrow enough to stay in cache as they are (see `_tile_levels`)."""
    if width < TILE_WHEN_WIDER or n_steps < 2:
        return None
    tile = 2 ** round(math.log2(max(1.0, n_steps * TILE_GATES / width)))
    return tile if tile < n_steps else None
