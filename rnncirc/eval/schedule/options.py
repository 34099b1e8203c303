"""The scheduler's tuning choices, as one value passed down the pipeline.

Where this sits: `build_schedule(circuit, options=...)` hands these to every stage (placement
and tiles, fused trees, segments, groups of programs, input layout and prefetching), and
`rnncirc.eval.fast.Evaluator(circuit, options=...)` to the schedules it builds. They trade
one cost against another; none of them changes a number: every choice gives the same outputs
bit for bit (a schedule reorders gates and moves values between rows, it never changes an
operation). Facts the kernels rely on are not options: they are the instruction set,
`rnncirc.eval.isa`. The defaults were chosen with ``bench/schedule_ab.py``, which times a
schedule against variants of these fields (``--variant TILE_GATES=512``); bench/README.md
lists what was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from rnncirc.errors import OptionError


@dataclass(frozen=True)
class ScheduleOptions:
    """How `build_schedule` cuts, places and groups the work (hashable: schedules are cached
    per circuit and options)."""

    #: shortest run of gates whose rows are contiguous blocks that becomes one affine
    #: segment (a vector loop over the block); shorter runs stay indexed, because a segment
    #: costs a kernel call, about as much as 20-50 indexed gates
    min_affine: int = 16
    #: shortest run of gates whose rows move by constant strides that becomes one strided
    #: segment: higher than `min_affine`, since a strided gate still runs one vector at a time
    #: and only saves reading its indices
    min_strided: int = 64
    #: circuits whose widest level has more gates than this are evaluated in time tiles
    #: (`rnncirc.eval.schedule.tiling`); narrower levels stay in cache as they are, and
    #: tiles would only cut them into more, shorter segments
    tile_when_wider: int = 8192
    #: the first tile holds about this many gates per level: large enough that a tile's
    #: segments are long, small enough that a tile's values stay in L2
    tile_gates: int = 1024
    #: a tile is halved while a halving cuts the peak of live values by at least this many
    #: percent: smaller tiles keep the registers in L1 but cut the steps into more segments,
    #: which only pays while the registers shrink
    tile_halving_gain: int = 10
    #: ... and while the peak of live values is above this: 1024 rows are 32 KB, an L1 cache,
    #: at batch 8 in float32; below it smaller tiles cost segments and save nothing
    tile_registers: int = 1024
    #: the halving tries place only the last 1/tile_try_part of the time axis (at least 16
    #: tiles): the circuit of a recurrence repeats along time, so that part tells, and a try
    #: costs a few percent of a full placement
    tile_try_part: int = 16
    #: scratch rows a fused tree may use: its inner values stay in these few rows (in L1)
    #: instead of registers; a deeper tree is cut into several
    max_need: int = 8
    #: gates a fused tree may hold: bounds the scratch of a program and the size of its
    #: instruction list (a dot product of 256 terms and more is cut into several trees)
    max_tree: int = 256
    #: programs of one shape run interleaved in groups of up to this many, instruction-major:
    #: consecutive instructions are then independent (no store-to-load chains); each program
    #: of a group takes scratch rows of its own, so the scratch grows with it
    group: int = 32
    #: a group whose rows stop moving by constant strides is cut there once it has this many
    #: programs (a strided group reads no indices); a shorter regular start is not worth a
    #: group of its own
    min_strided_group: int = 4
    #: circuits with at least this many outputs store the outputs nothing reads back past the
    #: caches (2**16 rows are 2 MB at batch 8 in float32, 4x a core's L2); smaller outputs
    #: stay in cache, where the caller reads them next
    stream_outputs: int = 1 << 16
    #: tiled schedules ask for their input rows about this many gates before a step reads
    #: them (0: never): early enough to hide a DRAM miss, late enough to stay in cache
    prefetch_gates: int = 4096
    #: input slots are laid out in blocks of this many features, each block time-major (or
    #: half as many where that divides the features and this does not: `input_block`): one
    #: sequential stream per block for the prefetcher, few enough streams per thread
    input_block: int = 32

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise OptionError(f"schedule option {field.name} must be an int, got {value!r}")
            least = 0 if field.name in _MAY_BE_ZERO else 1
            if value < least:
                raise OptionError(f"schedule option {field.name} must be at least {least}, "
                                  f"got {value}")


#: options for which 0 means "always" or "never" (the others count something that exists)
_MAY_BE_ZERO = frozenset({"tile_when_wider", "tile_halving_gain", "tile_registers",
                          "stream_outputs", "prefetch_gates"})

#: the options `build_schedule` uses when given none
DEFAULT_OPTIONS = ScheduleOptions()
