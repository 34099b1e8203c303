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
  levels of the circuit through memory. T starts at about `TILE_GATES` gates per level
  and tile and is halved while that shrinks the registers toward an L1 cache (`_tiles`).

Fused trees
-----------
Before placement, `_fuse` merges every add/sub/mul gate whose only reader is another
add/sub/mul into that reader (a dot product of a matmul: m products summed by a balanced
adder tree; a scaled sum ``a*x + y``). Only the root of such a tree is scheduled; it reads
the tree's leaves and is evaluated at once, its inner values in scratch rows after the
registers, with the circuit's own association (bit for bit the same numbers). Products fold
into the instruction that sums them: MULADD ``a*b + c`` and the balanced sums DOT2, DOT4;
a tree of one MULADD is an ordinary gate of arity 3, any other tree a *program*. Programs of
one shape sit together in their step (sorted by their leftmost leaf, so the trees of a matmul
row share operands) and run in groups, instruction-major (`_group_programs`).

Within a step gates are sorted by ``(op, id)`` (two stable counting sorts) and cut into
*segments* of one op (`_segments`): strided segments (`MIN_STRIDED` or more gates whose
registers move by a constant stride per operand: the kernel computes the registers, reading
no indices), affine ones (`MIN_AFFINE` or more gates, all strides 1: operands and results
are contiguous blocks, one long vector loop), and indexed segments (each gate reads its
registers from the index arrays). The programs of a step form one more kind of segment,
a run of groups.

Arrays (CSR pointers have one entry per step plus one)
-------------------------------------------------------
* segments: ``run_op``, ``run_kind`` (0 indexed, 1 affine, 2 strided, 3 programs, 4 affine
  with results that are outputs nothing reads back, stored past the caches in circuits of
  `STREAM_OUTPUTS` outputs or more: `_stream_segments`),
  ``run_ptr`` (CSR over the gates in step order; over groups for programs),
  ``level_run_ptr`` (CSR of the segments of each step); a strided or affine segment keeps
  its first gate's registers (a, b, c, out) in ``run_base`` and their strides in
  ``run_stride``, a program segment its first group in ``run_idx``, an indexed one the
  offset ``run_idx`` of its gates in
* ``ga, gb, gc, go`` (int32, one per gate of an indexed segment): operand and result
  **rows**, not node ids. Strided gates cost no index memory at all.
* ``copy_dst``, ``copy_src``, ``copy_len``, ``level_copy_ptr``: after a step, blocks of rows
  copied to output rows: outputs that are inputs or constants, or a value named by more
  than one output position.
* ``const_reg``, ``const_val``: rows filled with constants once, never recycled.
* ``grp``, ``gi``, ``fi``: groups of programs, their instructions and index rows
  (`_group_programs`); ``n_scratch`` scratch rows per task after the ``n_regs`` registers.

Memory traffic
--------------
A tiled schedule reads a tile's inputs in a burst at its first step and then computes for a
dozen steps without touching memory; it lists, per step, blocks of input rows the kernel
prefetches at an even rate ahead of their use (``pf_row``, ``pf_len``, ``level_pf_ptr``:
`_prefetch_lists`). Outputs that nothing reads back (the states of a scan, once written)
are stored past the caches by affine segments of kind 4 (`_stream_segments`).

Parts
-----
`output_parts` cuts the outputs of a circuit that falls apart into independent pieces (the
d scans of a diagonal recurrence) into balanced sets that share no gate (union-find over
the gate edges; shared inputs and constants do not join), and ``build_schedule(circuit,
positions=...)`` schedules one such set, storing at the circuit's own output positions:
`rnncirc.eval.fast` runs the part schedules on separate threads.

Rows and liveness
-----------------
The kernels run in one buffer of rows (`rnncirc.eval.kernels`): input slot s is row
``slot_row[s]``, one of rows 0..n_inputs-1 (`input_rows`: time-major blocks of features), output
position p is row ``n_inputs + p`` (``out_base``), the registers follow from ``work_base``
and the scratch rows of fused trees from ``sbase``. Gates read the input rows and a gate that
is an output writes its output row directly, so inputs and outputs are never copied. Every
other value is *born* on its step and *dies* on the step of its last reader. A linear-scan
allocator walks the steps, gives each newborn value a free register (lowest first, so
neighbouring gates get neighbouring registers and segments come out affine) and returns the
registers of the values that died on a step once the step is finished. The registers thus
take ``n_regs`` rows, the widest set of simultaneously live values, not one row per circuit
node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np

from rnncirc.ir.circuit import Circuit
from rnncirc.ir.levels import live_mask
from rnncirc.ir.ops import ARITY, N_OPS, Op

_NEVER = np.iinfo(np.int32).max
#: shortest runs of gates made affine / strided segments (shorter ones stay indexed: a
#: segment costs a kernel call, about as much as 20-50 indexed gates)
MIN_AFFINE = 16
MIN_STRIDED = 64
#: circuits whose widest level has more gates than this are evaluated in time tiles ...
TILE_WHEN_WIDER = 8192
#: ... of about this many gates per level and tile, halved while a halving cuts the peak
#: of live values by this many percent (`_tiles`)
TILE_GATES = 1024
TILE_HALVING_GAIN = 10
#: ... and the peak is above this many values (32 KB, an L1 cache, at batch 8 in float32)
TILE_REGISTERS = 1024
#: ... as counted on the last 1/TILE_TRY_PART of the time axis
TILE_TRY_PART = 16
#: fused trees use at most this many scratch rows ...
MAX_NEED = 8
#: ... and hold at most this many gates; up to GROUP trees of one shape run interleaved
MAX_TREE = 256
GROUP = 32
#: a group of trees is cut where its strides break once it has this many
MIN_STRIDED_GROUP = 4
#: circuits with at least this many outputs store those that nothing reads back past the
#: caches (2 MB at batch 8 in float32, 4x a core's L2; smaller ones stay in cache for the
#: caller)
STREAM_OUTPUTS = 1 << 16


@dataclass(frozen=True, eq=False)
class Schedule:
    """Level-contiguous gate order with registers; see the module docstring."""

    n_levels: int
    n_regs: int
    n_outputs: int
    n_inputs: int
    n_gates: int
    work_base: int
    slot_row: np.ndarray  # the row of each input slot (`input_rows`)
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
    n_scratch: int
    copy_dst: np.ndarray
    copy_src: np.ndarray
    copy_len: np.ndarray
    level_copy_ptr: np.ndarray
    pf_row: np.ndarray
    pf_len: np.ndarray
    level_pf_ptr: np.ndarray
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
    def out_base(self) -> int:
        """Row of output position 0 (the input rows come before it)."""
        return self.n_inputs

    @property
    def sbase(self) -> int:
        """Row of the first scratch register, right after the registers."""
        return self.work_base + self.n_regs

    @cached_property
    def no_prefetch_ptr(self) -> np.ndarray:
        """A `level_pf_ptr` with no prefetching on any step (for dtypes that run without)."""
        return np.zeros_like(self.level_pf_ptr)

    def n_rows(self, tasks: int = 1) -> int:
        """Rows a buffer needs for this schedule run by `tasks` tasks (scratch per task)."""
        return self.sbase + self.n_scratch * tasks

    @property
    def max_width(self) -> int:
        """Gates on the widest level."""
        return int(self.level_work.max(initial=0))

    def register_traffic(self) -> tuple[int, int]:
        """(register rows read or written, index bytes read) by one pass over the schedule.

        A gate moves its operand rows and its result row (a MULADD gate: three and one); a
        fused tree moves the rows its instructions read from registers and its result row,
        not the scratch rows in between (they stay in L1). Indices: 4 bytes per row of an
        indexed gate, 36 per instruction of an indexed group instruction, 88 per group
        instruction.
        """
        counts = np.diff(self.run_ptr)
        per_gate = EVAL_ARITY[self.run_op].astype(np.int64) + 1
        plain = self.run_kind != 3
        rows = int(np.sum((per_gate * counts)[plain]))
        index = int(np.sum((4 * per_gate * counts)[self.run_kind == 0]))
        gi = self.gi
        size = np.repeat(self.grp[:-1, 1], np.diff(self.grp[:, 0]))
        operands = np.select([gi[:, 0] == DOT4, gi[:, 0] == DOT2, gi[:, 0] == MULADD],
                             [8, 4, 3], 2)
        fields = np.arange(N_FIELDS) < operands[:, None]
        fields[:, OUT] = True
        real = fields & ((gi[:, 2:3] >> np.arange(N_FIELDS)) & 1 == 0)
        rows += int(np.sum(real.sum(axis=1) * size))
        index += 4 * N_FIELDS * len(self.fi) + 4 * gi.shape[1] * len(gi)
        return rows, index

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
def _last_time(op, a, b, c, arity, in_rows, k):
    """The last time step each row depends on through its inputs (-1: none), for inputs
    of `k` slots a step."""
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
    return last


@numba.njit(cache=True, nogil=True)
def _tile_levels(op, arity, level, live, last, tile):
    """Evaluation steps that walk the time axis in tiles of `tile` steps.

    A gate belongs to the tile of the *last* time step it depends on (`_last_time`),
    and tiles run in time order, each one level by level; values carried from one tile to
    the next (a running prefix) stay live, everything else is recycled within the tile.
    That is a topological order (a gate's operands end no later than it does), and on a
    wide circuit such as a prefix network it keeps the working set of each step in cache
    instead of streaming whole levels of the circuit through memory. Only the levels present
    in a tile become steps. Returns (step of each row, number of steps); leaves are on step 0.
    """
    n = len(op)
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
def _peak_live(op, a, b, c, arity, step, placed, live, n_steps):
    """The most gate values live at once when the `placed` gates run on `step` (a value
    lives from its own step to its last reader's): the registers a placement needs, before
    fused trees. A `live` gate that is not placed but read by a placed one is a value
    carried in: live from step 0."""
    n = len(op)
    last = np.full(n, -1, dtype=np.int32)
    for g in range(n):
        k = arity[op[g]]
        if k == 0 or not placed[g]:
            continue
        last[g] = max(last[g], step[g])
        for which in range(k):
            u = a[g] if which == 0 else (b[g] if which == 1 else c[g])
            if live[u] and arity[op[u]] > 0 and step[g] > last[u]:
                last[u] = step[g]
    delta = np.zeros(n_steps + 1, dtype=np.int64)
    for g in range(n):
        if last[g] >= 0:
            born = step[g] if placed[g] else 0
            delta[born] += 1
            delta[last[g] + 1] -= 1
    peak = 0
    alive = 0
    for i in range(n_steps):
        alive += delta[i]
        peak = max(peak, alive)
    return peak


def _tiles(op, a, b, c, level, live, in_rows, k, tile):
    """(tile, step of each row, number of steps): tiles of `tile` steps (`tile_size`), halved
    while the peak of live values is above `TILE_REGISTERS` and each halving cuts it by
    `TILE_HALVING_GAIN` percent or more. The tries count the live values of the gates in
    the last 1/`TILE_TRY_PART` of the time axis only (at least 16 tiles), with the values
    carried into it from earlier gates (a prefix network carries the most there): the
    circuit of a recurrence repeats along time, and a try then costs a few percent of a
    full placement.

    Small tiles keep the registers of a tile in L1: a diagonal scan in float32 ran 1.17-1.23x
    faster in tiles of 4 steps than of 32 (1,728 registers instead of 3,712; float64
    0.98x). Below the budget smaller tiles only cut the steps into more, shorter segments
    (a permutation-diagonal scan: 0.71x in tiles of 4 instead of 128), and where the
    registers hold carried state that does not shrink with the tile (a DPLR scan: 2,399 in
    tiles of 4, 2,351 of 1) they do the same (0.87-0.90x), so halving stops there too.
    """
    last = _last_time(op, a, b, c, ARITY, in_rows, k)
    n_time = len(in_rows) // max(k, 1)
    window = live & (last >= n_time - max(n_time // TILE_TRY_PART, 16 * tile))

    def peak_at(tile):
        steps, n_steps = _tile_levels(op, ARITY, level, window, last, tile)
        return _peak_live(op, a, b, c, ARITY, steps, window, live, n_steps)

    peak = peak_at(tile)
    while tile > 1 and peak > TILE_REGISTERS:
        half = peak_at(tile // 2)
        if 100 * (peak - half) < TILE_HALVING_GAIN * peak:
            break
        tile, peak = tile // 2, half
    steps, n_steps = _tile_levels(op, ARITY, level, live, last, tile)
    return tile, steps, n_steps


#: pseudo-ops of the evaluator, after the circuit's own ops: ``MULADD`` is a fused tree of one
#: instruction ``a*b + c`` (a gate of arity 3 that can sit in affine/strided segments),
#: ``PROGRAM`` a fused tree of several instructions (see `_fuse`)
MULADD = N_OPS
PROGRAM = N_OPS + 1
N_EVAL_OPS = N_OPS + 2
#: arity of every op the schedule holds, pseudo-ops included (a program reads its own list)
EVAL_ARITY = np.concatenate([ARITY, np.array([3, 0], dtype=ARITY.dtype)])
#: ops of affine segments that may store past the caches (kind 4, `_stream_segments`)
_STREAMABLE = np.zeros(N_EVAL_OPS, dtype=np.bool_)
_STREAMABLE[[int(Op.ADD), int(Op.SUB), int(Op.MUL), MULADD]] = True
#: program instructions (`fi_op`): the tree ops themselves, MULADD, and the balanced sums of
#: products DOT2 ``a*b + c*d`` and DOT4 ``(a*b + c*d) + (e*f + g*h)``
DOT2 = N_OPS + 2
DOT4 = N_OPS + 3
#: fields of an instruction: up to 8 operand registers, then the result's (`OUT`)
N_FIELDS = 9
OUT = 8
#: the deepest balanced sum of products one instruction evaluates (fold 3: DOT4, 4 products)
MAX_FOLD = 3
_ADD, _SUB, _MUL = int(Op.ADD), int(Op.SUB), int(Op.MUL)


@numba.njit(inline="always")
def _tree_op(o):
    return o == _ADD or o == _SUB or o == _MUL


@numba.njit(inline="always")
def _need2(nx, ny):
    """Scratch slots of a node whose computed children need nx, ny (0: not computed):
    Sethi-Ullman, the child needing more goes first and its slot takes the result."""
    if nx == 0 and ny == 0:
        return 1
    if nx == 0 or ny == 0:
        return nx + ny
    return max(nx, ny) if nx != ny else nx + 1


@numba.njit(cache=True, nogil=True)
def _fuse(op, a, b, c, arity, live, out_flat, max_need, max_size):
    """Fuse add/sub/mul trees whose inner values have one reader into one evaluator op.

    A gate is *absorbed* into its reader when both are add, sub or mul, it is live, not an
    output, and that reader is its only one (a dot product of a matmul: m products summed by
    a balanced adder tree, or a scaled sum ``a*x + y``). The tree is then evaluated at once
    where its root sits, its inner values in a few scratch rows that stay in L1 instead of
    registers; its association is kept, so the result is bit for bit the circuit's.

    Folding: ``fold[g] = 1`` for a product of two unfused values, ``k + 1`` for an add of two
    absorbed nodes of fold k (a balanced sum of 2^k products, up to `MAX_FOLD`): such a
    node is one instruction (DOT2, DOT4) that reads its products' operands directly. An add
    with one product of fold 1 is a MULADD. Trees are cut so that they need at most
    `max_need` scratch rows (Sethi-Ullman order) and hold at most `max_size` gates.

    Returns (absorbed, eop: the op each kept gate is scheduled as, fold, need, size: circuit
    gates of each tree, n_instr: instructions of each tree).
    """
    n = len(op)
    readers = np.zeros(n, dtype=np.int32)
    for g in range(n):
        k = arity[op[g]]
        if k == 0 or not live[g]:
            continue
        readers[a[g]] += 1
        if k >= 2:
            readers[b[g]] += 1
        if k >= 3:
            readers[c[g]] += 1
    for r in out_flat:
        readers[r] += 2  # an output (its own row): never absorbed
    absorbed = np.zeros(n, dtype=np.bool_)
    fold = np.zeros(n, dtype=np.int8)
    need = np.zeros(n, dtype=np.int32)
    size = np.ones(n, dtype=np.int32)
    n_instr = np.ones(n, dtype=np.int32)
    eop = op.copy()
    for g in range(n):
        if not live[g] or not _tree_op(op[g]):
            continue
        x, y = a[g], b[g]
        is_add = op[g] == _ADD
        can_x = _tree_op(op[x]) and readers[x] == 1
        can_y = _tree_op(op[y]) and readers[y] == 1
        if is_add and can_x and can_y and fold[x] == fold[y] and 1 <= fold[x] < MAX_FOLD \
                and size[x] + size[y] < max_size:  # a balanced sum of products
            absorbed[x] = absorbed[y] = True
            fold[g] = fold[x] + 1
            need[g] = 1
            size[g] = 1 + size[x] + size[y]
            continue
        # needs of the children if absorbed (0: a product folded into this instruction)
        nx = 0 if is_add and fold[x] == 1 else need[x]
        ny = 0 if is_add and fold[y] == 1 else need[y]
        best = -1
        for choice in range(4):  # both, x only, y only, none
            tx = can_x and (choice == 0 or choice == 1)
            ty = can_y and (choice == 0 or choice == 2)
            if (choice == 0 and not (can_x and can_y)) or (choice == 1 and not can_x) or \
                    (choice == 2 and not can_y):
                continue
            s = 1 + (size[x] if tx else 0) + (size[y] if ty else 0)
            if _need2(nx if tx else 0, ny if ty else 0) <= max_need and s <= max_size:
                best = choice
                break
        tx = best == 0 or best == 1
        ty = best == 0 or best == 2
        absorbed[x] = absorbed[x] or tx
        absorbed[y] = absorbed[y] or ty
        need[g] = _need2(nx if tx else 0, ny if ty else 0)
        size[g] = 1 + (size[x] if tx else 0) + (size[y] if ty else 0)
        fold[g] = 1 if op[g] == _MUL and not tx and not ty else 0
        n_instr[g] = 1 + (n_instr[x] if tx and not (is_add and fold[x] == 1) else 0) + \
            (n_instr[y] if ty and not (is_add and fold[y] == 1) else 0)
    for g in range(n):
        if live[g] and _tree_op(op[g]) and not absorbed[g] and size[g] > 1:
            x, y = a[g], b[g]
            fx = absorbed[x] and fold[x] == 1
            fy = absorbed[y] and fold[y] == 1
            one = op[g] == _ADD and n_instr[g] == 1 and fold[g] == 0 and (fx != fy)
            eop[g] = MULADD if one else PROGRAM
    return absorbed, eop, fold, need, size, n_instr


@numba.njit(cache=True, nogil=True)
def _emit(g, reg, sbase, op, a, b, absorbed, fold, need, fi, fi_op, at, stack):
    """Instructions of the tree rooted at g into fi/fi_op from row `at`; returns the next row.

    A depth-first walk with an explicit stack of frames (node, destination register, first
    free scratch slot, state): the child needing more scratch is computed first into the
    node's destination, the other one into the next scratch slot, then the node's own
    instruction combines them (products folded into it and unfused values are read in
    place). A balanced sum of products is one DOT instruction over its leaves, in order.
    Scratch slot s is register ``sbase + s``.
    """
    top = 0
    stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = g, reg[g], 0, 0
    while top >= 0:
        node, dst, free, state = stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3]
        x, y = a[node], b[node]
        fi[at, :] = 0
        fi[at, OUT] = dst
        if fold[node] >= 2:  # DOT2 / DOT4: the leaves of its products, left to right
            fi_op[at] = DOT2 if fold[node] == 2 else DOT4
            k = 0
            for half in (x, y):
                if fold[node] == 2:
                    fi[at, k], fi[at, k + 1] = reg[a[half]], reg[b[half]]
                    k += 2
                else:
                    for m in (a[half], b[half]):
                        fi[at, k], fi[at, k + 1] = reg[a[m]], reg[b[m]]
                        k += 2
            at += 1
            top -= 1
            continue
        is_add = op[node] == _ADD
        fx = is_add and absorbed[x] and fold[x] == 1  # products folded into this one
        fy = is_add and absorbed[y] and fold[y] == 1
        sx = absorbed[x] and not fx  # computed subtrees
        sy = absorbed[y] and not fy
        first, second = (x, y) if need[x] >= need[y] else (y, x)
        if sx and sy and state < 2:
            stack[top, 3] = state + 1
            child = first if state == 0 else second
            cdst = dst if state == 0 else sbase + free
            cfree = free if state == 0 else free + 1
            top += 1
            stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = child, cdst, cfree, 0
            continue
        if (sx or sy) and not (sx and sy) and state == 0:
            stack[top, 3] = 1
            top += 1
            stack[top, 0], stack[top, 1], stack[top, 2], stack[top, 3] = \
                x if sx else y, dst, free, 0
            continue
        # the node's own instruction: where each child's value is
        vx = reg[x]
        vy = reg[y]
        if sx and sy:
            vx = dst if first == x else sbase + free
            vy = dst if first == y else sbase + free
        elif sx:
            vx = dst
        elif sy:
            vy = dst
        if fx and fy:
            fi_op[at] = DOT2
            fi[at, 0], fi[at, 1], fi[at, 2], fi[at, 3] = reg[a[x]], reg[b[x]], reg[a[y]], reg[b[y]]
        elif fx or fy:
            m, other = (x, vy) if fx else (y, vx)
            fi_op[at] = MULADD
            fi[at, 0], fi[at, 1], fi[at, 2] = reg[a[m]], reg[b[m]], other
        else:
            fi_op[at] = op[node]
            fi[at, 0], fi[at, 1] = vx, vy
        at += 1
        top -= 1
    return at


@numba.njit(inline="always")
def _operands(g, op, a, b, c, arity, absorbed, eop, out):
    """Rows gate g reads into `out` (a fused tree: its leaves); returns how many."""
    if eop[g] < N_OPS:
        k = arity[op[g]]
        out[0] = a[g]
        if k >= 2:
            out[1] = b[g]
        if k >= 3:
            out[2] = c[g]
        return k
    # walk the tree: operands of absorbed gates are inner nodes, the rest are leaves
    k = 0
    top = 1
    out[len(out) - 1] = g  # the walk's stack grows down from the end of `out`
    while top > 0:
        node = out[len(out) - top]
        top -= 1
        for u in (a[node], b[node]):
            if absorbed[u]:
                top += 1
                out[len(out) - top] = u
            else:
                out[k] = u
                k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _build(op, a, b, c, arity, level, live, in_rows, slot_row, out_flat, out_pos, n_levels,
           fused, out_base, work_base):
    """Everything of the schedule in linear passes (see the module docstring); `fused` is
    what `_fuse` returned: absorbed gates are not scheduled, a fused tree reads its leaves.
    Output ``out_flat[p]`` goes to row ``out_base + out_pos[p]``; the registers start at
    row `work_base`."""
    absorbed, eop, fold, need, size, n_instr = fused
    n = len(op)
    biggest = 1  # gates of the largest tree
    for g in range(n):
        biggest = max(biggest, size[g])
    leaves = np.empty(biggest + 3, dtype=np.int32)
    # last level on which each row is read by a live gate, and the first (for inputs)
    last = np.full(n, -1, dtype=np.int32)
    first = np.full(n, _NEVER, dtype=np.int32)
    level_gate_ptr = np.zeros(n_levels + 1, dtype=np.int64)
    level_work = np.zeros(n_levels, dtype=np.int64)
    for g in range(n):
        k = arity[op[g]]
        if k == 0 or not live[g] or absorbed[g]:
            continue
        lv = level[g]
        level_gate_ptr[lv + 1] += 1
        level_work[lv] += size[g]
        k = _operands(g, op, a, b, c, arity, absorbed, eop, leaves)
        for which in range(k):
            u = leaves[which]
            if lv > last[u]:
                last[u] = lv
            if lv < first[u]:
                first[u] = lv
    for i in range(n_levels):
        level_gate_ptr[i + 1] += level_gate_ptr[i]
    n_gates = level_gate_ptr[n_levels]

    # gates by (level, op, id): bucket by level, then a small counting sort by op per level
    gates = np.empty(n_gates, dtype=np.int32)
    fill = level_gate_ptr[:-1].copy()
    for g in range(n):
        if live[g] and arity[op[g]] > 0 and not absorbed[g]:
            gates[fill[level[g]]] = g
            fill[level[g]] += 1
    tmp = np.empty(n_gates, dtype=np.int32)
    n_ops = N_EVAL_OPS
    counts = np.zeros(n_ops + 1, dtype=np.int64)
    for lv in range(n_levels):
        lo, hi = level_gate_ptr[lv], level_gate_ptr[lv + 1]
        if hi - lo < 2:
            continue
        counts[:] = 0
        for i in range(lo, hi):
            counts[eop[gates[i]] + 1] += 1
        for k in range(n_ops):
            counts[k + 1] += counts[k]
        for i in range(lo, hi):
            g = gates[i]
            tmp[lo + counts[eop[g]]] = g
            counts[eop[g]] += 1
        gates[lo:hi] = tmp[lo:hi]
        # fused trees (last in the step) by their leftmost leaf: trees that share operands
        # sit together (a row of a matmul), so their registers move by constant strides
        p0 = hi - (counts[PROGRAM] - counts[PROGRAM - 1])
        if hi - p0 > 1:
            key = np.empty(hi - p0, dtype=np.int64)
            for i in range(p0, hi):
                u = gates[i]
                while absorbed[a[u]]:
                    u = a[u]
                key[i - p0] = a[u]
            gates[p0:hi] = gates[p0:hi][np.argsort(key, kind="mergesort")]

    # rows of their own: input slot s is row slot_row[s], output position p is row out_base + p, a
    # gate that is an output is computed straight into its row (the first position that
    # names it); every other output position is a copy after the step its value is made
    reg = np.full(n, -1, dtype=np.int32)
    for r in in_rows:
        if live[r]:
            reg[r] = slot_row[a[r]]
    n_out = len(out_flat)
    copied = np.zeros(n_out, dtype=np.bool_)
    for p in range(n_out):
        g = out_flat[p]
        if arity[op[g]] > 0 and reg[g] < 0:
            reg[g] = out_base + out_pos[p]
        else:
            copied[p] = True

    # death of the other gates: the level after which their register can be reused
    n_dying = np.zeros(n_levels + 1, dtype=np.int64)
    n_temps = 0
    for r in gates:
        if reg[r] < 0:
            last[r] = max(last[r], level[r])
            n_dying[last[r] + 1] += 1
            n_temps += 1
    for i in range(n_levels):
        n_dying[i + 1] += n_dying[i]
    dying = np.empty(n_temps, dtype=np.int32)
    fill = n_dying[:-1].copy()
    for r in gates:
        if reg[r] < 0:
            dying[fill[last[r]]] = r
            fill[last[r]] += 1

    # linear-scan register allocation from work_base; constants are resident for good
    n_consts = 0
    for r in range(n):
        if live[r] and op[r] == 0:
            reg[r] = work_base + n_consts
            n_consts += 1
    const_rows = np.empty(n_consts, dtype=np.int32)
    for r in range(n):
        if live[r] and op[r] == 0:
            const_rows[reg[r] - work_base] = r
    free = np.empty(n_temps + 1, dtype=np.int32)
    n_free = 0
    next_reg = work_base + n_consts
    for lv in range(n_levels):
        for i in range(level_gate_ptr[lv], level_gate_ptr[lv + 1]):
            r = gates[i]
            if reg[r] >= 0:  # an output's row
                continue
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

    # the schedule arrays, in registers; fused trees as programs after the registers
    ga = np.zeros(n_gates, dtype=np.int32)
    gb = np.zeros(n_gates, dtype=np.int32)
    gc = np.zeros(n_gates, dtype=np.int32)
    go = np.empty(n_gates, dtype=np.int32)
    gate_op = np.empty(n_gates, dtype=np.uint8)
    n_progs = 0
    n_fi = 0
    max_need = 1
    for i in range(n_gates):
        g = gates[i]
        if eop[g] == PROGRAM:
            n_progs += 1
            n_fi += n_instr[g]
            max_need = max(max_need, need[g])
    prog_ptr = np.zeros(n_progs + 1, dtype=np.int64)
    fi = np.zeros((n_fi, N_FIELDS), dtype=np.int32)  # operand registers, then the result's
    fi_op = np.empty(n_fi, dtype=np.uint8)
    stack = np.empty((biggest + 1, 4), dtype=np.int32)
    sbase = next_reg
    m = 0
    for i in range(n_gates):
        g = gates[i]
        k = arity[op[g]]
        gate_op[i] = eop[g]
        go[i] = reg[g]
        if eop[g] == PROGRAM:
            prog_ptr[m + 1] = _emit(g, reg, sbase, op, a, b, absorbed, fold, need, fi, fi_op,
                                    prog_ptr[m], stack)
            m += 1
        elif eop[g] == MULADD:  # m*other, the product folded
            x, y = a[g], b[g]
            mul, other = (x, y) if absorbed[x] else (y, x)
            ga[i], gb[i], gc[i] = reg[a[mul]], reg[b[mul]], reg[other]
        else:
            ga[i] = reg[a[g]]
            if k >= 2:
                gb[i] = reg[b[g]]
            if k >= 3:
                gc[i] = reg[c[g]]
    level_copy_ptr = np.zeros(n_levels + 1, dtype=np.int64)
    for p in range(n_out):
        if copied[p]:
            g = out_flat[p]
            level_copy_ptr[(level[g] if arity[op[g]] > 0 else 0) + 1] += 1
    for i in range(n_levels):
        level_copy_ptr[i + 1] += level_copy_ptr[i]
    copy_dst = np.empty(level_copy_ptr[n_levels], dtype=np.int32)
    copy_src = np.empty(level_copy_ptr[n_levels], dtype=np.int32)
    fill = level_copy_ptr[:-1].copy()
    for p in range(n_out):
        if copied[p]:
            g = out_flat[p]
            lv = level[g] if arity[op[g]] > 0 else 0
            copy_dst[fill[lv]] = out_base + out_pos[p]
            copy_src[fill[lv]] = reg[g]
            fill[lv] += 1
    const_reg = (work_base + np.arange(n_consts)).astype(np.int32)
    const_idx = np.empty(n_consts, dtype=np.int32)
    for i in range(n_consts):
        const_idx[i] = a[const_rows[i]]
    # gates (in step order) whose result is an output row that nothing reads back, neither
    # a gate nor an output copy (`_stream_segments`)
    read_back = last >= 0
    for p in range(n_out):
        if copied[p]:
            read_back[out_flat[p]] = True
    unread = np.zeros(n_gates, dtype=np.bool_)
    for i in range(n_gates):
        g = gates[i]
        unread[i] = out_base <= reg[g] < work_base and not read_back[g]
    # the input rows that are read, with the step that first reads each (for prefetching)
    n_read = 0
    for r in in_rows:
        if live[r] and first[r] != _NEVER:
            n_read += 1
    read_step = np.empty(n_read, dtype=np.int32)
    read_row = np.empty(n_read, dtype=np.int32)
    m = 0
    for r in in_rows:
        if live[r] and first[r] != _NEVER:
            read_step[m], read_row[m] = first[r], reg[r]
            m += 1
    return (next_reg - work_base, ga, gb, gc, go, gate_op, level_gate_ptr, copy_dst,
            copy_src, level_copy_ptr, const_reg, const_idx,
            level_work, prog_ptr, fi, fi_op, max_need - 1, read_step, read_row, unread)


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
                if gate_op[r0] == PROGRAM:  # programs: one segment of their own
                    if not count_only:
                        seg_op[q], seg_kind[q], seg_ptr[q] = PROGRAM, 3, r0
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
def _stream_segments(run_op, run_kind, run_ptr, unread, streamable):
    """Affine segments of a `streamable` op whose every result is an output that nothing
    reads back become kind 4: their results are stored past the caches (non-temporal
    stores, `rnncirc.eval.kernels.stream_kernel`). In place."""
    for q in range(len(run_kind)):
        if run_kind[q] != 1 or not streamable[run_op[q]]:
            continue
        streamed = True
        for i in range(run_ptr[q], run_ptr[q + 1]):
            streamed = streamed and unread[i]
        if streamed:
            run_kind[q] = 4


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
    n_progs = 0
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
        if run_kind[q] == 3:  # programs: the index of the first one
            run_idx[q] = n_progs
            n_progs += g1 - g0
        elif run_kind[q] != 0:
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


@numba.njit(inline="always")
def _same_shape(p, q, prog_ptr, fi, fi_op, sbase):
    """Programs p and q run the same instructions on the same scratch slots."""
    n = prog_ptr[p + 1] - prog_ptr[p]
    if prog_ptr[q + 1] - prog_ptr[q] != n:
        return False
    for j in range(n):
        i, k = prog_ptr[p] + j, prog_ptr[q] + j
        if fi_op[i] != fi_op[k]:
            return False
        for f in range(N_FIELDS):
            if (fi[i, f] >= sbase or fi[k, f] >= sbase) and fi[i, f] != fi[k, f]:
                return False
    return True


@numba.njit(inline="always")
def _continues(p, prog_ptr, fi):
    """Program p moves every register by the same stride from p - 1 as p - 1 from p - 2
    (programs of one shape)."""
    for j in range(prog_ptr[p + 1] - prog_ptr[p]):
        i, h, k = prog_ptr[p] + j, prog_ptr[p - 1] + j, prog_ptr[p - 2] + j
        for f in range(N_FIELDS):
            if fi[i, f] - fi[h, f] != fi[h, f] - fi[k, f]:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def _group_programs(run_kind, run_ptr, run_idx, prog_ptr, fi, fi_op, sbase, gmax, min_strided):
    """Runs of up to `gmax` same-shaped programs of a segment (a matmul's dot products) as
    *groups*, evaluated instruction-major: instruction j of every program of the group, then
    instruction j + 1. Each program has its own scratch rows (slot s of the g-th program is
    register ``sbase + s*G + g``), so consecutive instructions are independent (no
    store-to-load chains) and of one op. A group instruction whose registers all move by a
    constant stride from program to program reads no indices at all.

    Returns (run_ptr with a program segment counting its groups, run_idx: its first group,
    grp: per group its first group instruction and size G, gi: per group instruction
    ``(op, indexed, scratch-field bits, first index row, N_FIELDS first registers, N_FIELDS
    strides)``, fi: the register rows of the indexed group instructions).
    """
    n_runs = len(run_kind)
    n_progs = len(prog_ptr) - 1
    first = np.zeros(n_progs + 1, dtype=np.bool_)  # program p starts a group
    for q in range(n_runs):
        if run_kind[q] == 3:
            first[run_idx[q]] = True
    # a group grows while its registers keep moving by constant strides; one that is
    # irregular from the start (fewer than `min_strided` programs regular) just grows
    size = 0
    regular = True
    n_groups = 0
    n_gi = 0
    for p in range(n_progs):
        cut = first[p] or size == gmax or not _same_shape(p - 1, p, prog_ptr, fi, fi_op, sbase)
        if not cut and size >= 2 and regular and not _continues(p, prog_ptr, fi):
            regular = False
            cut = size >= min_strided
        if cut:
            first[p] = True
            size = 0
            regular = True
            n_groups += 1
            n_gi += prog_ptr[p + 1] - prog_ptr[p]
        size += 1
    group_of = np.empty(n_progs + 1, dtype=np.int64)  # group of each program (and the end)
    group_prog = np.empty(n_groups + 1, dtype=np.int64)  # first program of each group
    k = -1
    for p in range(n_progs):
        if first[p]:
            k += 1
            group_prog[k] = p
        group_of[p] = k
    group_of[n_progs] = n_groups
    group_prog[n_groups] = n_progs
    grp = np.zeros((n_groups + 1, 2), dtype=np.int64)
    gi = np.zeros((n_gi, 4 + 2 * N_FIELDS), dtype=np.int32)
    rows = np.empty((len(fi_op), N_FIELDS), dtype=np.int32)  # indexed group instructions
    n_rows = 0
    m = 0
    for k in range(n_groups):
        p0 = group_prog[k]
        G = group_prog[k + 1] - p0
        grp[k, 0], grp[k, 1] = m, G
        for j in range(prog_ptr[p0 + 1] - prog_ptr[p0]):
            i0 = prog_ptr[p0] + j
            gi[m, 0] = fi_op[i0]
            regular = True
            for f in range(N_FIELDS):
                r = fi[i0, f]
                if r >= sbase:  # scratch: slot (r - sbase) of each program, stride 1
                    gi[m, 2] |= 1 << f
                    gi[m, 4 + f], gi[m, 4 + N_FIELDS + f] = sbase + (r - sbase) * G, 1
                    continue
                step = fi[prog_ptr[p0 + 1] + j, f] - r if G > 1 else 0
                gi[m, 4 + f], gi[m, 4 + N_FIELDS + f] = r, step
                for g in range(2, G):
                    if fi[prog_ptr[p0 + g] + j, f] != r + g * step:
                        regular = False
            if not regular:
                gi[m, 1], gi[m, 3] = 1, n_rows
                for g in range(G):
                    for f in range(N_FIELDS):
                        r = fi[prog_ptr[p0 + g] + j, f]
                        rows[n_rows, f] = sbase + (r - sbase) * G + g if r >= sbase else r
                    n_rows += 1
            m += 1
    grp[n_groups, 0] = m
    new_ptr = np.empty(n_runs + 1, dtype=np.int64)
    new_idx = run_idx.copy()
    new_ptr[0] = 0
    for q in range(n_runs):
        units = run_ptr[q + 1] - run_ptr[q]
        if run_kind[q] == 3:
            g0 = group_of[run_idx[q]]
            units = group_of[run_idx[q] + units] - g0
            new_idx[q] = g0
        new_ptr[q + 1] = new_ptr[q] + units
    return new_ptr, new_idx, grp, gi, rows[:n_rows].copy()

def build_schedule(circuit: Circuit, *, fuse: bool = True,
                   positions: np.ndarray | None = None, work_base: int | None = None
                   ) -> Schedule:
    """The schedule of `circuit` (see the module docstring). Linear in the circuit size.

    ``fuse=False`` schedules every gate on its own (no fused trees), as a baseline.
    `positions` (sorted flat indices into ``circuit.outputs``) schedules only those outputs
    and the gates they depend on; they still land in the circuit's own output rows, so the
    schedules of a partition (`output_parts`) fill one output region, each with registers
    of its own from row `work_base` on (by default right after the output rows).
    """
    op, a, b, c = circuit.op, circuit.a, circuit.b, circuit.c
    all_outputs = np.ascontiguousarray(circuit.outputs.reshape(-1), dtype=np.int32)
    if positions is None:
        out_flat, out_pos = all_outputs, np.arange(len(all_outputs), dtype=np.int32)
    else:
        out_pos = np.ascontiguousarray(positions, dtype=np.int32)
        out_flat = np.ascontiguousarray(all_outputs[out_pos])
    in_rows = np.ascontiguousarray(circuit.inputs.reshape(-1), dtype=np.int32)
    n_inputs = int(circuit.inputs.size)
    slot_row = input_rows(circuit.inputs.shape)
    out_base = n_inputs
    work_base = _aligned(out_base + len(all_outputs) if work_base is None else work_base)
    level = circuit.levels
    live = live_mask(op, a, b, c, ARITY, out_flat)
    fused = _fuse(op, a, b, c, ARITY, live, out_flat, MAX_NEED, MAX_TREE if fuse else 1)
    n_levels = int(circuit.depth) + 1
    width = int(np.bincount(level[live], minlength=1)[1:].max(initial=0))
    n_steps, k = circuit.inputs.shape if circuit.inputs.ndim == 2 else (1, 0)
    tile = tile_size(n_steps, width)
    rows = (out_pos, n_levels, fused, out_base, work_base)
    if tile is not None:
        tile, steps, n_levels = _tiles(op, a, b, c, level, live, in_rows, max(k, 1), tile)
        built = _build(op, a, b, c, ARITY, steps, live, in_rows, slot_row, out_flat, out_pos,
                       n_levels, fused, out_base, work_base)
        placement = f"tiles of {tile} steps"
    else:
        built = _build(op, a, b, c, ARITY, level, live, in_rows, slot_row, out_flat, *rows)
        placement = "levels"
        late = _late_levels(op, a, b, c, ARITY, level, live, out_flat)
        if not np.array_equal(late, level):
            other = _build(op, a, b, c, ARITY, late, live, in_rows, slot_row, out_flat, *rows)
            if other[0] < built[0]:
                built, placement = other, "late levels"
    (n_regs, ga, gb, gc, go, gate_op, level_gate_ptr, copy_dst, copy_src, level_copy_ptr,
     const_reg, const_idx, level_work, prog_ptr, fi, fi_op, n_scratch, read_step,
     read_row, unread) = built
    if tile is None:  # (only tiles read their inputs in bursts, see `_prefetch_lists`)
        read_step, read_row = read_step[:0], read_row[:0]
    pf_row, pf_len, level_pf_ptr = _prefetch_lists(read_step, read_row, level_work,
                                                   PREFETCH_GATES)
    sbase = work_base + int(n_regs)
    run_op, run_kind, run_ptr, level_run_ptr = _segments(ga, gb, gc, go, gate_op, EVAL_ARITY,
                                                         level_gate_ptr, MIN_AFFINE,
                                                         MIN_STRIDED)
    if len(all_outputs) >= STREAM_OUTPUTS:
        _stream_segments(run_op, run_kind, run_ptr, unread, _STREAMABLE)
    run_base, run_stride, run_idx, ga, gb, gc, go = _compact(ga, gb, gc, go, run_kind,
                                                             run_ptr)
    run_ptr, run_idx, grp, gi, fi = _group_programs(run_kind, run_ptr, run_idx, prog_ptr, fi,
                                                    fi_op, sbase, GROUP, MIN_STRIDED_GROUP)
    copy_dst, copy_src, copy_len, level_copy_ptr = _copy_blocks(copy_dst, copy_src,
                                                                level_copy_ptr)
    gates = live & (ARITY[op] > 0)
    return Schedule(
        n_levels=n_levels, n_regs=int(n_regs), n_outputs=len(all_outputs),
        n_inputs=n_inputs, n_gates=int(level_work.sum()), work_base=int(work_base),
        slot_row=slot_row,
        ga=ga, gb=gb, gc=gc, go=go, run_op=run_op, run_kind=run_kind, run_ptr=run_ptr,
        run_idx=run_idx, run_base=run_base, run_stride=run_stride,
        level_run_ptr=level_run_ptr, grp=grp, gi=gi, fi=fi,
        n_scratch=int(n_scratch) * GROUP,
        copy_dst=copy_dst, copy_src=copy_src, copy_len=copy_len,
        level_copy_ptr=level_copy_ptr, pf_row=pf_row, pf_len=pf_len,
        level_pf_ptr=level_pf_ptr, const_reg=const_reg,
        const_val=np.asarray(circuit.consts, dtype=np.float64)[const_idx],
        level_work=level_work, gate_ops=frozenset(np.unique(op[gates]).tolist()),
        num_nodes=circuit.num_nodes, placement=placement)


#: tiled schedules prefetch input rows about this many gates ahead (0: no prefetching)
PREFETCH_GATES = 4096


def _prefetch_lists(read_step, read_row, level_work, ahead):
    """What to prefetch before each step: blocks of consecutive input rows, as
    (first rows, lengths, CSR pointers over the steps).

    A tile of a prefix network reads its inputs in a burst at its first step and then
    computes for a dozen steps without touching memory, so the hardware prefetcher, which
    follows the reads, is idle most of the time and the burst waits on DRAM (~40 % of a
    diagonal scan's time in float32). Asking for the rows ahead of time overlaps that wait
    with the arithmetic, but only at an even rate: the i-th of N rows (in the order they
    are first read) is asked for when i/N of the gates have run, minus `ahead` gates, and
    at the latest `ahead`/4 gates before its step. Asking for a whole tile's rows at once
    stalls on the core's few outstanding-miss buffers instead.
    """
    n_steps = len(level_work)
    if ahead <= 0 or len(read_row) == 0:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, np.zeros(n_steps + 1, dtype=np.int64)
    order = np.lexsort((read_row, read_step))
    step, row = read_step[order], read_row[order].astype(np.int64)
    before = np.concatenate([[0], np.cumsum(level_work)])  # gates before each step
    total = float(before[-1])
    even = np.arange(len(row)) * (total / len(row))
    at_gate = np.minimum(even - ahead, before[step] - ahead / 4)
    at = np.clip(np.searchsorted(before, at_gate, side="right") - 1, 0, n_steps - 1)
    # consecutive rows asked for on one step become one block
    order = np.lexsort((row, at))
    at, row = at[order], row[order]
    starts = np.flatnonzero(np.concatenate([[True], (at[1:] != at[:-1])
                                            | (row[1:] != row[:-1] + 1)]))
    lengths = np.diff(np.append(starts, len(row)))
    ptr = np.searchsorted(at[starts], np.arange(n_steps + 1), side="left")
    return row[starts].astype(np.int32), lengths.astype(np.int32), ptr.astype(np.int64)


#: input slots are laid out in blocks of this many features, each block time-major (or half
#: as many, see `input_block`)
INPUT_BLOCK = 32


def input_block(K: int) -> int:
    """Features per block for K input features a step: `INPUT_BLOCK`, or half of it when K
    is a multiple of the half but not of it.

    Inputs come in groups (the rows of a matrix, a vector): a block size that divides the
    group keeps the entries of a matrix column a constant number of rows apart, so the dot
    products of a matmul on the inputs read them with a stride (no index arrays) and a row
    they share is loaded once (`rnncirc.eval.kernels`). A 16x16 matrix and a 16-vector a step
    (272 = 17 x 16 features) ran 1.45-1.5x faster in blocks of 16 than of 32, where every
    block held two matrix rows; a diagonal scan's 128 features 0.88x as fast in blocks of 16
    (more streams per thread), so 32 stays where it divides K (bench/schedule_ab.py).
    """
    half = INPUT_BLOCK // 2
    return half if K % INPUT_BLOCK and half and K % half == 0 else INPUT_BLOCK


def input_rows(shape: tuple, block: int | None = None) -> np.ndarray:
    """The buffer row of each input slot of a circuit whose inputs have `shape` (n, K).

    Features are cut into blocks of `block` (`input_block`), and each block holds its
    features for all n steps, time-major: row ``b*n*block + t*width_b + (k - b*block)`` for
    feature k of step t in block b = k // block. A run of gates that reads the same features
    on successive steps then reads one sequential stream per block; with all K features of a
    step side by side (the slot order) the x and the b of ``a*h + b`` alternate within each
    page, which halved the speed of a diagonal scan in float32 (the hardware prefetcher
    follows sequential streams, not interleaved ones).
    """
    if len(shape) != 2:
        return np.arange(int(np.prod(shape)), dtype=np.int32)
    n, K = shape
    block = input_block(K) if block is None else block
    t = np.arange(n, dtype=np.int64)[:, None]
    k = np.arange(K, dtype=np.int64)[None, :]
    b = k // block
    width = np.minimum(block, K - b * block)
    return (b * n * block + t * width + k % block).reshape(-1).astype(np.int32)


def _aligned(row: int) -> int:
    """`row` rounded up to a multiple of 8 rows: a region starting there starts on a cache
    line whatever the lanes and dtype, so threads writing different regions never share one."""
    return -(-row // 8) * 8


@numba.njit(cache=True, nogil=True)
def _find(parent, x):
    while parent[x] != x:  # path halving
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def _output_components(op, a, b, c, arity, live, out_flat):
    """(component root of each output, live gates per root): two outputs are in one
    component when a path of gates joins them; shared inputs and constants do not join."""
    n = len(op)
    parent = np.arange(n, dtype=np.int32)
    for g in range(n):
        k = arity[op[g]]
        if k == 0 or not live[g]:
            continue
        for j in range(k):
            x = a[g] if j == 0 else b[g] if j == 1 else c[g]
            if x >= 0 and arity[op[x]] > 0:
                rg, rx = _find(parent, g), _find(parent, x)
                if rg != rx:
                    parent[max(rg, rx)] = min(rg, rx)
    weight = np.zeros(n, dtype=np.int32)  # (8 bytes per node in all, next to the circuit's 25)
    for g in range(n):
        if live[g] and arity[op[g]] > 0:
            weight[_find(parent, g)] += 1
    roots = np.empty(len(out_flat), dtype=np.int32)
    for p in range(len(out_flat)):
        roots[p] = _find(parent, out_flat[p])
    return roots, weight


def output_parts(circuit: Circuit, n_parts: int) -> list[np.ndarray] | None:
    """The circuit's outputs cut into at most `n_parts` sets of positions that share no
    gate, balanced by gate count, or None when it does not split that evenly (one component,
    or one that holds more than 3/4 of the gates).

    A diagonal recurrence (Mamba, RetNet, S4D) is d independent scans: each set can then be
    scheduled (`build_schedule(positions=...)`) and run by its own thread with its own
    registers, without any synchronization.
    """
    if n_parts < 2 or circuit.outputs.size < n_parts:
        return None
    op, a, b, c = circuit.op, circuit.a, circuit.b, circuit.c
    out_flat = np.ascontiguousarray(circuit.outputs.reshape(-1), dtype=np.int32)
    live = live_mask(op, a, b, c, ARITY, out_flat)
    roots, weight = _output_components(op, a, b, c, ARITY, live, out_flat)
    unique, which = np.unique(roots, return_inverse=True)
    if len(unique) < n_parts:
        return None
    gates = weight[unique]
    # components in the order of their first output, cut into runs of about equal gate
    # counts: each part then owns contiguous ranges of outputs and input slots (channels
    # 0..31 and 32..63 of a diagonal scan), so the rows it reads and writes stay whole runs
    first = np.full(len(unique), len(roots), dtype=np.int64)
    np.minimum.at(first, which, np.arange(len(roots)))
    order = np.argsort(first, kind="stable")
    before = np.cumsum(gates[order]) - gates[order]
    part_of_root = np.empty(len(unique), dtype=np.int64)
    part_of_root[order] = np.minimum(n_parts - 1, before * n_parts // max(1, gates.sum()))
    loads = np.bincount(part_of_root, weights=gates, minlength=n_parts)
    if loads.max() > 0.75 * max(1, loads.sum()):
        return None
    part = part_of_root[which]
    # (a component bigger than a share can leave a part empty: fewer parts then)
    parts = [positions for k in range(n_parts) if len(positions := np.flatnonzero(part == k))]
    return parts if len(parts) >= 2 else None


def tile_size(n_steps: int, width: int) -> int | None:
    """Time steps per tile for a circuit whose widest level has `width` gates, or None when
    levels are narrow enough to stay in cache as they are (see `_tile_levels`)."""
    if width < TILE_WHEN_WIDER or n_steps < 2:
        return None
    tile = 2 ** round(math.log2(max(1.0, n_steps * TILE_GATES / width)))
    return tile if tile < n_steps else None
