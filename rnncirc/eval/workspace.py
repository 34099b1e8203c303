"""What one evaluation holds and reports: its `Workspace` (the one buffer of input rows,
output rows and registers) and its `EvalStats`, and the vector width a batch is padded to.

Where this sits: in `eval`, under `fast.Evaluator`, which plans a batch (serial, lanes,
parts or levels), allocates its workspace and runs the kernels in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EvalStats:
    """What one evaluation used: the register file against one row per circuit node."""

    batch: int
    lanes: int  # batch padded to the vector width
    width: int  # vector width W
    dtype: str
    n_regs: int
    peak_bytes: int  # register file: n_regs x lanes x itemsize
    io_bytes: int  # the input and output rows next to it: (slots + outputs) x lanes x itemsize
    naive_bytes: int  # one value per circuit node and batch element (the reference evaluator)
    schedule_bytes: int
    threads: int
    mode: str  # "serial", "lanes", "parts" or "levels"

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True, eq=False)
class Workspace:
    """The memory of evaluations of one batch size (`Evaluator.workspace`)."""

    batch: int
    lanes: int  # lanes a row (the batch, or a thread's share of it, padded to the width)
    width: int  # vector width W
    mode: str  # how the work is split over threads (`Evaluator.plan`)
    threads: int
    segments: list
    V: np.ndarray  # the flat buffer: input rows, output rows, registers (per thread: lanes)
    inputs: np.ndarray | None  # lanes mode: the (input slots, batch) array the threads read
    outputs: np.ndarray  # (output positions, batch)
    bounds: np.ndarray  # lanes mode: the batch lanes of each thread
    parts: list | None  # parts mode: the part schedules


def vector_width(batch: int) -> int:
    """Lanes per vector for a batch: 1 or 8 (the batch is padded to a multiple of 8).

    Each width is one compiled kernel per dtype (about a minute of JIT on first use), so the
    choice is kept small: a width of 4 would suit batches of 2-4 better, but not by enough
    to pay for another compile (bench/README.md).
    """
    return 1 if batch <= 1 else 8
