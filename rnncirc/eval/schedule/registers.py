"""Register allocation: a row of the buffer for every value, reused once the value dies.

Where this sits: after placement (`tiling`) has put every scheduled gate on a step and
`fusion` has made trees of the rest, `allocate_registers` orders the gates within each step,
gives every value a row and writes the schedule's flat arrays (operand and result rows per
gate, the instructions of fused trees, output copies, constants); `segments` then cuts the
steps into runs. All of it is one linear pass over the gates, compiled with Numba.

Rows: the kernels run in one buffer of rows (`rnncirc.eval.kernels`): input slot s is row
``slot_row[s]``, one of rows 0..n_inputs-1 (`layout.input_rows`), output position p is row
``out_base + p``, the registers follow from ``work_base`` and the scratch rows of fused
trees from ``sbase``. Gates read the input rows and a gate that is an output writes its
output row directly, so inputs and outputs are never copied. Every other value is *born* on
its step and *dies* on the step of its last reader. A linear-scan allocator walks the
steps, gives each newborn value a free register (lowest first, so neighbouring gates get
neighbouring registers and segments come out affine) and returns the registers of the
values that died on a step once the step is finished. The registers thus take ``n_regs``
rows, the widest set of simultaneously live values, not one row per circuit node.

Order within a step: gates sorted by ``(op, id)`` (two stable counting sorts) so a step cuts
into runs of one op; fused trees last, by their leftmost leaf, so the trees of a matmul row
share operands and their rows move by constant strides (`grouping`).

`allocate_registers` is compiled with `fusion.emit_program` and `fusion.gate_operands` in
it, so its on-disk cache is stamped by those files too (`rnncirc.ir.kernel_cache`).
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.eval.isa import MULADD, N_EVAL_OPS, N_FIELDS, PROGRAM
from rnncirc.eval.schedule.fusion import emit_program, gate_operands
from rnncirc.ir.kernel_cache import cached

_NEVER = np.iinfo(np.int32).max


@cached
@numba.njit(nogil=True)
def allocate_registers(op, a, b, c, arity, level, live, in_rows, slot_row, out_flat, out_pos,
                       n_levels, fused, out_base, work_base):
    """The gates of every step in order, with rows, in linear passes (see the module
    docstring); `fused` is what `fuse_trees` returned: absorbed gates are not scheduled, a
    fused tree reads its leaves. Output ``out_flat[p]`` goes to row ``out_base + out_pos[p]``;
    the registers start at row `work_base`."""
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
        k = gate_operands(g, op, a, b, c, arity, absorbed, eop, leaves)
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
            prog_ptr[m + 1] = emit_program(g, reg, sbase, op, a, b, absorbed, fold, need, fi,
                                           fi_op, prog_ptr[m], stack)
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
    # a gate nor an output copy (`segments.stream_segments`)
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
