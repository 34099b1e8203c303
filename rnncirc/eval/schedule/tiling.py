"""Placement: on which step each gate runs, by levels or in tiles along the time axis.

Where this sits: the first stage of `build_schedule`, after `fusion` has decided which gates
are scheduled at all; `registers` then walks the steps chosen here. The gates of one step
are independent, so a kernel may run them in any order or in parallel. Three placements:

* ``levels``: step = the gate's level (ASAP), the circuit's own level structure;
* ``late levels``: every gate that is not an output moved to just before its first reader
  (`late_levels`), used when it needs fewer registers: input-only work such as ``W @ x``
  of an unrolled RNN is then not computed for all steps at once at the start;
* ``tiles of T steps``: for circuits with a level wider than
  `ScheduleOptions.tile_when_wider` gates, the time axis is cut into tiles of T input steps;
  a gate belongs to the tile of the last time step it depends on and tiles run in order,
  each level by level (`tile_levels`). On a prefix network this keeps each step's working
  set in cache instead of streaming whole levels of the circuit through memory. T starts at
  about `ScheduleOptions.tile_gates` gates per level and tile (`tile_size`) and is halved
  while that shrinks the registers toward an L1 cache (`choose_tiles`).

Why the choice is made by counting: the registers a placement needs are the most values
live at once (`peak_live`), which one linear pass counts without allocating anything.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from rnncirc.eval.schedule.options import DEFAULT_OPTIONS, ScheduleOptions
from rnncirc.ir.ops import ARITY

_NEVER = np.iinfo(np.int32).max


@numba.njit(cache=True, nogil=True)
def late_levels(op, a, b, c, arity, level, live, out_flat):
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
def last_time(op, a, b, c, arity, in_rows, k):
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
def tile_levels(op, arity, level, live, last, tile):
    """Evaluation steps that walk the time axis in tiles of `tile` steps.

    A gate belongs to the tile of the *last* time step it depends on (`last_time`),
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
def peak_live(op, a, b, c, arity, step, placed, live, n_steps):
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


def choose_tiles(op, a, b, c, level, live, in_rows, k, tile,
                 options: ScheduleOptions = DEFAULT_OPTIONS):
    """(tile, step of each row, number of steps): tiles of `tile` steps (`tile_size`), halved
    while the peak of live values is above ``options.tile_registers`` and each halving cuts
    it by ``options.tile_halving_gain`` percent or more. The tries count the live values of
    the gates in the last 1/``options.tile_try_part`` of the time axis only (at least 16
    tiles), with the values carried into it from earlier gates (a prefix network carries the
    most there): the circuit of a recurrence repeats along time, and a try then costs a few
    percent of a full placement.

    Small tiles keep the registers of a tile in L1. Below that budget smaller tiles only cut
    the steps into more, shorter segments, and where the registers hold carried state that
    does not shrink with the tile (a DPLR scan) halving gains nothing either, so it stops
    there too (bench/README.md has the measurements).
    """
    last = last_time(op, a, b, c, ARITY, in_rows, k)
    n_time = len(in_rows) // max(k, 1)
    window = live & (last >= n_time - max(n_time // options.tile_try_part, 16 * tile))

    def peak_at(tile):
        steps, n_steps = tile_levels(op, ARITY, level, window, last, tile)
        return peak_live(op, a, b, c, ARITY, steps, window, live, n_steps)

    peak = peak_at(tile)
    while tile > 1 and peak > options.tile_registers:
        half = peak_at(tile // 2)
        if 100 * (peak - half) < options.tile_halving_gain * peak:
            break
        tile, peak = tile // 2, half
    steps, n_steps = tile_levels(op, ARITY, level, live, last, tile)
    return tile, steps, n_steps


def tile_size(n_steps: int, width: int, options: ScheduleOptions = DEFAULT_OPTIONS
              ) -> int | None:
    """Time steps per tile for a circuit whose widest level has `width` gates, or None when
    levels are narrow enough to stay in cache as they are (see `tile_levels`)."""
    if width < options.tile_when_wider or n_steps < 2:
        return None
    tile = 2 ** round(math.log2(max(1.0, n_steps * options.tile_gates / width)))
    return tile if tile < n_steps else None
