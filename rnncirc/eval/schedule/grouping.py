"""Groups of programs: fused trees of one shape run side by side, instruction-major.

Where this sits: the last stage of `build_schedule`, after `segments` has made the fused
trees of each step one PROGRAMS segment (sorted by their leftmost leaf in `registers`, so
the trees of a matmul row sit together). Runs of up to ``options.group`` programs of one
shape (the same instructions on the same scratch slots) become a *group*: instruction j of
every program of the group, then instruction j + 1. Why: consecutive instructions are then
independent (no store-to-load chain through a scratch row) and of one op, so the kernel
tests the op once per group instruction (`rnncirc.eval.kernels.group_kernel`), and where a
group's rows move by constant strides from program to program it reads no indices at all.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.eval.isa import (
    GI_COLUMNS,
    GI_FIRST,
    GI_INDEXED,
    GI_OP,
    GI_ROW,
    GI_SCRATCH,
    GI_STRIDE,
    GRP_FIRST,
    GRP_SIZE,
    N_FIELDS,
    PROGRAMS,
)
from rnncirc.ir.kernel_cache import cached


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


@cached
@numba.njit(nogil=True)
def group_programs(run_kind, run_ptr, run_idx, prog_ptr, fi, fi_op, sbase, gmax, min_strided):
    """Runs of up to `gmax` same-shaped programs of a segment (a matmul's dot products) as
    *groups*, evaluated instruction-major: instruction j of every program of the group, then
    instruction j + 1. Each program has its own scratch rows (slot s of the g-th program is
    register ``sbase + s*G + g``), so consecutive instructions are independent (no
    store-to-load chains) and of one op. A group instruction whose registers all move by a
    constant stride from program to program reads no indices at all.

    Returns (run_ptr with a program segment counting its groups, run_idx: its first group,
    grp: per group its first group instruction and size G, gi: the group instructions, fi:
    the register rows of the indexed group instructions); `rnncirc.eval.isa` names the
    columns of grp and gi.
    """
    n_runs = len(run_kind)
    n_progs = len(prog_ptr) - 1
    first = np.zeros(n_progs + 1, dtype=np.bool_)  # program p starts a group
    for q in range(n_runs):
        if run_kind[q] == PROGRAMS:
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
    gi = np.zeros((n_gi, GI_COLUMNS), dtype=np.int32)
    rows = np.empty((len(fi_op), N_FIELDS), dtype=np.int32)  # indexed group instructions
    n_rows = 0
    m = 0
    for k in range(n_groups):
        p0 = group_prog[k]
        G = group_prog[k + 1] - p0
        grp[k, GRP_FIRST], grp[k, GRP_SIZE] = m, G
        for j in range(prog_ptr[p0 + 1] - prog_ptr[p0]):
            i0 = prog_ptr[p0] + j
            gi[m, GI_OP] = fi_op[i0]
            regular = True
            for f in range(N_FIELDS):
                r = fi[i0, f]
                if r >= sbase:  # scratch: slot (r - sbase) of each program, stride 1
                    gi[m, GI_SCRATCH] |= 1 << f
                    gi[m, GI_FIRST + f], gi[m, GI_STRIDE + f] = sbase + (r - sbase) * G, 1
                    continue
                step = fi[prog_ptr[p0 + 1] + j, f] - r if G > 1 else 0
                gi[m, GI_FIRST + f], gi[m, GI_STRIDE + f] = r, step
                for g in range(2, G):
                    if fi[prog_ptr[p0 + g] + j, f] != r + g * step:
                        regular = False
            if not regular:
                gi[m, GI_INDEXED], gi[m, GI_ROW] = 1, n_rows
                for g in range(G):
                    for f in range(N_FIELDS):
                        r = fi[prog_ptr[p0 + g] + j, f]
                        rows[n_rows, f] = sbase + (r - sbase) * G + g if r >= sbase else r
                    n_rows += 1
            m += 1
    grp[n_groups, GRP_FIRST] = m
    new_ptr = np.empty(n_runs + 1, dtype=np.int64)
    new_idx = run_idx.copy()
    new_ptr[0] = 0
    for q in range(n_runs):
        units = run_ptr[q + 1] - run_ptr[q]
        if run_kind[q] == PROGRAMS:
            g0 = group_of[run_idx[q]]
            units = group_of[run_idx[q] + units] - g0
            new_idx[q] = g0
        new_ptr[q + 1] = new_ptr[q] + units
    return new_ptr, new_idx, grp, gi, rows[:n_rows].copy()
