"""`build_schedule`: the stages of the scheduler in order, and the `Schedule` they make.

Where this sits: the entry of `rnncirc.eval.schedule`, called once per circuit (and options)
by `rnncirc.eval.fast`, which caches the result and hands its arrays to the kernels. The
stages, each a module of this package and each linear in the circuit size:

1. `fusion`: add/sub/mul trees folded into their one reader;
2. `tiling`: the step of every scheduled gate (levels, late levels or time tiles);
3. `registers`: gates ordered within their steps, a row for every value;
4. `layout`: the input rows prefetched ahead of their steps (tiled schedules);
5. `segments`: steps cut into runs of one op, streamed outputs marked, indices compacted;
6. `grouping`: fused trees of one shape in groups, instruction-major.

The input layout (`layout.input_rows`) is fixed before all of them; `parts` cuts a circuit
into independent pieces that are scheduled one by one (``positions=``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from rnncirc.eval.isa import (
    DOT2,
    DOT4,
    EVAL_ARITY,
    GI_OP,
    GI_SCRATCH,
    GRP_FIRST,
    GRP_SIZE,
    INDEXED,
    MULADD,
    N_FIELDS,
    OUT,
    PROGRAMS,
    STREAMABLE,
)
from rnncirc.eval.schedule.fusion import fuse_trees
from rnncirc.eval.schedule.grouping import group_programs
from rnncirc.eval.schedule.layout import aligned_row, input_rows, prefetch_lists
from rnncirc.eval.schedule.options import DEFAULT_OPTIONS, ScheduleOptions
from rnncirc.eval.schedule.registers import allocate_registers
from rnncirc.eval.schedule.segments import (
    compact_segments,
    copy_blocks,
    cut_segments,
    stream_segments,
)
from rnncirc.eval.schedule.tiling import choose_tiles, late_levels, tile_size
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.levels import live_mask
from rnncirc.ir.ops import ARITY


@dataclass(frozen=True, eq=False)
class Schedule:
    """A circuit's live gates in steps, with rows and segments: the arrays the kernels walk
    (`rnncirc.eval.schedule` describes them; `rnncirc.eval.isa` their codes)."""

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
    placement: str = "levels"  # "levels", "late levels" or "tiles of T steps" (`tiling`)
    options: ScheduleOptions = DEFAULT_OPTIONS  # the options it was built with

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
        plain = self.run_kind != PROGRAMS
        rows = int(np.sum((per_gate * counts)[plain]))
        index = int(np.sum((4 * per_gate * counts)[self.run_kind == INDEXED]))
        gi = self.gi
        size = np.repeat(self.grp[:-1, GRP_SIZE], np.diff(self.grp[:, GRP_FIRST]))
        op = gi[:, GI_OP]
        operands = np.select([op == DOT4, op == DOT2, op == MULADD], [8, 4, 3], 2)
        fields = np.arange(N_FIELDS) < operands[:, None]
        fields[:, OUT] = True
        real = fields & ((gi[:, GI_SCRATCH:GI_SCRATCH + 1] >> np.arange(N_FIELDS)) & 1 == 0)
        rows += int(np.sum(real.sum(axis=1) * size))
        index += 4 * N_FIELDS * len(self.fi) + 4 * gi.shape[1] * len(gi)
        return rows, index

    def nbytes(self) -> int:
        """Memory the schedule itself takes (index arrays), independent of the batch."""
        return sum(getattr(self, name).nbytes for name in self.__dataclass_fields__
                   if isinstance(getattr(self, name), np.ndarray))


def build_schedule(circuit: Circuit, *, fuse: bool = True,
                   positions: np.ndarray | None = None, work_base: int | None = None,
                   options: ScheduleOptions = DEFAULT_OPTIONS) -> Schedule:
    """The schedule of `circuit` (see the module docstring). Linear in the circuit size.

    ``fuse=False`` schedules every gate on its own (no fused trees), as a baseline.
    `positions` (sorted flat indices into ``circuit.outputs``) schedules only those outputs
    and the gates they depend on; they still land in the circuit's own output rows, so the
    schedules of a partition (`output_parts`) fill one output region, each with registers
    of its own from row `work_base` on (by default right after the output rows). `options`
    are the tuning choices (`ScheduleOptions`); none of them changes an output.
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
    slot_row = input_rows(circuit.inputs.shape, options=options)
    out_base = n_inputs
    work_base = aligned_row(out_base + len(all_outputs) if work_base is None else work_base)
    level = circuit.levels
    live = live_mask(op, a, b, c, ARITY, out_flat)
    fused = fuse_trees(op, a, b, c, ARITY, live, out_flat, options.max_need,
                       options.max_tree if fuse else 1)
    n_levels = int(circuit.depth) + 1
    width = int(np.bincount(level[live], minlength=1)[1:].max(initial=0))
    n_steps, k = circuit.inputs.shape if circuit.inputs.ndim == 2 else (1, 0)
    tile = tile_size(n_steps, width, options)
    rows = (out_pos, n_levels, fused, out_base, work_base)
    if tile is not None:
        tile, steps, n_levels = choose_tiles(op, a, b, c, level, live, in_rows, max(k, 1),
                                             tile, options)
        built = allocate_registers(op, a, b, c, ARITY, steps, live, in_rows, slot_row,
                                   out_flat, out_pos, n_levels, fused, out_base, work_base)
        placement = f"tiles of {tile} steps"
    else:
        built = allocate_registers(op, a, b, c, ARITY, level, live, in_rows, slot_row,
                                   out_flat, *rows)
        placement = "levels"
        late = late_levels(op, a, b, c, ARITY, level, live, out_flat)
        if not np.array_equal(late, level):
            other = allocate_registers(op, a, b, c, ARITY, late, live, in_rows, slot_row,
                                       out_flat, *rows)
            if other[0] < built[0]:
                built, placement = other, "late levels"
    (n_regs, ga, gb, gc, go, gate_op, level_gate_ptr, copy_dst, copy_src, level_copy_ptr,
     const_reg, const_idx, level_work, prog_ptr, fi, fi_op, n_scratch, read_step,
     read_row, unread) = built
    if tile is None:  # (only tiles read their inputs in bursts, see `prefetch_lists`)
        read_step, read_row = read_step[:0], read_row[:0]
    pf_row, pf_len, level_pf_ptr = prefetch_lists(read_step, read_row, level_work,
                                                  options.prefetch_gates)
    sbase = work_base + int(n_regs)
    run_op, run_kind, run_ptr, level_run_ptr = cut_segments(
        ga, gb, gc, go, gate_op, EVAL_ARITY, level_gate_ptr, options.min_affine,
        options.min_strided)
    if len(all_outputs) >= options.stream_outputs:
        stream_segments(run_op, run_kind, run_ptr, unread, STREAMABLE)
    run_base, run_stride, run_idx, ga, gb, gc, go = compact_segments(ga, gb, gc, go, run_kind,
                                                                     run_ptr)
    run_ptr, run_idx, grp, gi, fi = group_programs(run_kind, run_ptr, run_idx, prog_ptr, fi,
                                                   fi_op, sbase, options.group,
                                                   options.min_strided_group)
    copy_dst, copy_src, copy_len, level_copy_ptr = copy_blocks(copy_dst, copy_src,
                                                               level_copy_ptr)
    gates = live & (ARITY[op] > 0)
    return Schedule(
        n_levels=n_levels, n_regs=int(n_regs), n_outputs=len(all_outputs),
        n_inputs=n_inputs, n_gates=int(level_work.sum()), work_base=int(work_base),
        slot_row=slot_row,
        ga=ga, gb=gb, gc=gc, go=go, run_op=run_op, run_kind=run_kind, run_ptr=run_ptr,
        run_idx=run_idx, run_base=run_base, run_stride=run_stride,
        level_run_ptr=level_run_ptr, grp=grp, gi=gi, fi=fi,
        n_scratch=int(n_scratch) * options.group,
        copy_dst=copy_dst, copy_src=copy_src, copy_len=copy_len,
        level_copy_ptr=level_copy_ptr, pf_row=pf_row, pf_len=pf_len,
        level_pf_ptr=level_pf_ptr, const_reg=const_reg,
        const_val=np.asarray(circuit.consts, dtype=np.float64)[const_idx],
        level_work=level_work, gate_ops=frozenset(np.unique(op[gates]).tolist()),
        num_nodes=circuit.num_nodes, placement=placement, options=options)
