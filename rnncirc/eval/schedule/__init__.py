"""The evaluation schedule: a circuit's live gates in steps, with registers assigned.

Where this sits: between the compiled circuit (`rnncirc.ir`) and the kernels that evaluate
it (`rnncirc.eval.kernels`); `rnncirc.eval.fast` builds a schedule once per circuit, caches
it and runs it. A schedule is computed in linear passes compiled with Numba; nothing runs
per gate in Python. One module per stage (`build` runs them in order):

* `fusion`: add/sub/mul trees folded into their one reader, evaluated as one op;
* `tiling`: the step each gate runs on (levels, late levels, or tiles along time);
* `registers`: the order of the gates within a step and a buffer row for every value;
* `segments`: each step cut into runs of one op (indexed, affine, strided, programs);
* `grouping`: fused trees of one shape in groups, run instruction-major;
* `layout`: where the input slots live, and the input rows prefetched ahead of a step;
* `parts`: a circuit that falls apart, cut into pieces scheduled one by one;
* `options`: the tuning choices of all of them (`ScheduleOptions`).

The codes in the arrays (ops beyond the gate ops, segment kinds, instruction fields) are the
instruction set, `rnncirc.eval.isa`, shared with the kernels.

Arrays of a `Schedule` (CSR pointers have one entry per step plus one)
--------------------------------------------------------------------
* segments: ``run_op``, ``run_kind`` (`isa` INDEXED, AFFINE, STRIDED, PROGRAMS, STREAMED),
  ``run_ptr`` (CSR over the gates in step order; over groups for programs),
  ``level_run_ptr`` (CSR of the segments of each step); a strided or affine segment keeps
  its first gate's rows in ``run_base`` and their strides in ``run_stride`` (columns
  `isa.SEG_A` ... `isa.SEG_OUT`), a program segment its first group in ``run_idx``, an
  indexed one the offset ``run_idx`` of its gates in
* ``ga, gb, gc, go`` (int32, one per gate of an indexed segment): operand and result
  **rows**, not node ids. Strided gates cost no index memory at all.
* ``copy_dst``, ``copy_src``, ``copy_len``, ``level_copy_ptr``: after a step, blocks of rows
  copied to output rows: outputs that are inputs or constants, or a value named by more
  than one output position.
* ``const_reg``, ``const_val``: rows filled with constants once, never recycled.
* ``grp``, ``gi``, ``fi``: groups of programs, their instructions and index rows
  (`grouping`); ``n_scratch`` scratch rows per task after the ``n_regs`` registers.
* ``pf_row``, ``pf_len``, ``level_pf_ptr``: blocks of input rows to prefetch before each
  step (`layout.prefetch_lists`).
* ``slot_row``: the row of each input slot (`layout.input_rows`); output position p is row
  ``out_base + p``, the registers start at ``work_base``, the scratch rows at ``sbase``.
"""

from rnncirc.eval.schedule.build import Schedule, build_schedule
from rnncirc.eval.schedule.layout import input_block, input_rows
from rnncirc.eval.schedule.options import DEFAULT_OPTIONS, ScheduleOptions
from rnncirc.eval.schedule.parts import output_parts
from rnncirc.eval.schedule.tiling import tile_size

__all__ = ["DEFAULT_OPTIONS", "Schedule", "ScheduleOptions", "build_schedule", "input_block",
           "input_rows", "output_parts", "tile_size"]
