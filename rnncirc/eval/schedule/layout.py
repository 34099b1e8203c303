"""Memory layout of the inputs, and prefetching them ahead of the steps that read them.

Where this sits: beside the pipeline of `build_schedule`. `input_rows` fixes, before any
gate is placed, which buffer row holds each input slot (the rows the gates of `registers`
read in place, and that `rnncirc.eval.fast.Evaluator.fill` writes); `prefetch_lists` runs
after `registers` and lists, per step of a tiled schedule, the input rows the kernels ask
the cache for ahead of time. Why both: a prefix network reads every input once, so the
evaluator's speed on long sequences is how well those reads stream from memory.
"""

from __future__ import annotations

import numpy as np

from rnncirc.eval.schedule.options import DEFAULT_OPTIONS, ScheduleOptions


def prefetch_lists(read_step, read_row, level_work, ahead):
    """What to prefetch before each step: blocks of consecutive input rows, as
    (first rows, lengths, CSR pointers over the steps).

    A tile of a prefix network reads its inputs in a burst at its first step and then
    computes for a dozen steps without touching memory, so the hardware prefetcher, which
    follows the reads, is idle most of the time and the burst waits on DRAM. Asking for the
    rows ahead of time overlaps that wait with the arithmetic, but only at an even rate: the
    i-th of N rows (in the order they are first read) is asked for when i/N of the gates
    have run, minus `ahead` gates, and at the latest `ahead`/4 gates before its step.
    Asking for a whole tile's rows at once stalls on the core's few outstanding-miss
    buffers instead.
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


def input_block(K: int, options: ScheduleOptions = DEFAULT_OPTIONS) -> int:
    """Features per block for K input features a step: ``options.input_block``, or half of
    it when K is a multiple of the half but not of it.

    Inputs come in groups (the rows of a matrix, a vector): a block size that divides the
    group keeps the entries of a matrix column a constant number of rows apart, so the dot
    products of a matmul on the inputs read them with a stride (no index arrays) and a row
    they share is loaded once (`rnncirc.eval.kernels`). A 16x16 matrix and a 16-vector a
    step (272 = 17 x 16 features) in blocks of 32 would put two matrix rows in every block;
    smaller blocks everywhere would mean more streams per thread, so the full size stays
    where it divides K (bench/README.md has the A/B).
    """
    full = options.input_block
    half = full // 2
    return half if K % full and half and K % half == 0 else full


def input_rows(shape: tuple, block: int | None = None,
               options: ScheduleOptions = DEFAULT_OPTIONS) -> np.ndarray:
    """The buffer row of each input slot of a circuit whose inputs have `shape` (n, K).

    Features are cut into blocks of `block` (by default `input_block`), and each block holds
    its features for all n steps, time-major: row ``b*n*block + t*width_b + (k - b*block)``
    for feature k of step t in block b = k // block. A run of gates that reads the same
    features on successive steps then reads one sequential stream per block. With all K
    features of a step side by side (the slot order) the x and the b of ``a*h + b`` would
    alternate within each page, and the hardware prefetcher follows sequential streams, not
    interleaved ones.
    """
    if len(shape) != 2:
        return np.arange(int(np.prod(shape)), dtype=np.int32)
    n, K = shape
    block = input_block(K, options) if block is None else block
    t = np.arange(n, dtype=np.int64)[:, None]
    k = np.arange(K, dtype=np.int64)[None, :]
    b = k // block
    width = np.minimum(block, K - b * block)
    return (b * n * block + t * width + k % block).reshape(-1).astype(np.int32)


def aligned_row(row: int) -> int:
    """`row` rounded up to a multiple of 8 rows: a region starting there starts on a cache
    line whatever the lanes and dtype, so threads writing different regions never share one."""
    return -(-row // 8) * 8
