"""Kernels of fused trees: the groups of programs of a PROGRAMS segment.

Where this sits: under `rnncirc.eval.kernels`, whose `_segment` calls `group_kernel` for a
PROGRAMS segment, a run of groups (`rnncirc.eval.schedule.grouping`): for each group
instruction, one loop over the group's G programs with the op tested once outside it,
registers computed from strides (`_strided_instr`) or read from index rows
(`_indexed_instr`). Instructions are ADD, SUB, MUL and the folded forms MULADD, DOT2 and DOT4
(`rnncirc.eval.isa`), each op rounded as in the circuit (no FMA contraction). A strided DOT4
whose operands on one side of every product stay put from program to program (a matmul row of
A shared by the programs C[i, 0], C[i, 1], ...; a vector shared by the rows of a
matrix-vector product) loads those four rows once per group (`vector_ops._shared_dot4`): half
its loads. In a wide step every task moves the scratch registers (those at or above
``sbase``) to rows of its own.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.eval.isa import (
    ADD,
    DOT2,
    DOT4,
    GI_FIRST,
    GI_INDEXED,
    GI_OP,
    GI_ROW,
    GI_SCRATCH,
    GI_STRIDE,
    GRP_FIRST,
    GRP_SIZE,
    MUL,
    MULADD,
    OUT,
)
from rnncirc.eval.segment_kernels import (
    block_kernel,
)
from rnncirc.eval.vector_ops import (
    vadd,
    vdot2,
    vdot4,
    vdot4_first_kept,
    vdot4_second_kept,
    vmul,
    vmuladd,
    vsub,
)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _mulmod(V, i, k, p):
    return (V[i] * V[k]) % p


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _addmod(x, y, p):
    s = x + y
    return s - p if s >= p else s


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _tree_op(op, V, r, p, lanes):
    """One instruction of a fused tree on W lanes: `r` holds the element offsets of its 8
    operands and (last) of its result. ADD, SUB, MUL, MULADD ``a*b + c``, DOT2 and DOT4
    (`rnncirc.eval.isa`); ``p > 0``: modulo p, lane by lane."""
    if p > 0:
        if op == DOT2 or op == DOT4:
            for j in range(len(lanes)):
                s = _addmod(_mulmod(V, r[0] + j, r[1] + j, p), _mulmod(V, r[2] + j, r[3] + j, p),
                            p)
                if op == DOT4:
                    s = _addmod(s, _addmod(_mulmod(V, r[4] + j, r[5] + j, p),
                                           _mulmod(V, r[6] + j, r[7] + j, p), p), p)
                V[r[OUT] + j] = s
        else:
            block_kernel(np.int64(op), np.int64(len(lanes)), r[OUT], r[0], r[1], r[2], V, p)
    elif op == DOT4:
        vdot4(V, r[OUT], r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], lanes)
    elif op == DOT2:
        vdot2(V, r[OUT], r[0], r[1], r[2], r[3], lanes)
    elif op == MULADD:
        vmuladd(V, r[OUT], r[0], r[1], r[2], p, lanes)
    elif op == ADD:
        vadd(V, r[OUT], r[0], r[1], 0, p, lanes)
    elif op == MUL:
        vmul(V, r[OUT], r[0], r[1], 0, p, lanes)
    else:
        vsub(V, r[OUT], r[0], r[1], 0, p, lanes)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _step(r, st):
    return (r[0] + st[0], r[1] + st[1], r[2] + st[2], r[3] + st[3], r[4] + st[4],
            r[5] + st[5], r[6] + st[6], r[7] + st[7], r[OUT] + st[OUT])


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _strided_instr(op, G, r, st, V, p, lanes):
    """One instruction of G programs whose registers move by constant strides `st` from `r`
    (element offsets); the op is tested once, outside the loop."""
    if p > 0:
        for _ in range(G):
            _tree_op(op, V, r, p, lanes)
            r = _step(r, st)
    elif op == DOT4:
        if st[0] == 0 and st[2] == 0 and st[4] == 0 and st[6] == 0:
            vdot4_first_kept(V, G, r, st, lanes)
        elif st[1] == 0 and st[3] == 0 and st[5] == 0 and st[7] == 0:
            vdot4_second_kept(V, G, r, st, lanes)
        else:
            for _ in range(G):
                vdot4(V, r[OUT], r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], lanes)
                r = _step(r, st)
    elif op == DOT2:
        for _ in range(G):
            vdot2(V, r[OUT], r[0], r[1], r[2], r[3], lanes)
            r = _step(r, st)
    elif op == MULADD:
        for _ in range(G):
            vmuladd(V, r[OUT], r[0], r[1], r[2], p, lanes)
            r = _step(r, st)
    elif op == ADD:
        for _ in range(G):
            vadd(V, r[OUT], r[0], r[1], 0, p, lanes)
            r = _step(r, st)
    elif op == MUL:
        for _ in range(G):
            vmul(V, r[OUT], r[0], r[1], 0, p, lanes)
            r = _step(r, st)
    else:
        for _ in range(G):
            vsub(V, r[OUT], r[0], r[1], 0, p, lanes)
            r = _step(r, st)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _at(r, sbase, shift, Bp, col):
    """Element offset of register r; scratch registers (>= sbase) moved by the task's shift."""
    return (r + shift if r >= sbase else r) * Bp + col


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def _indexed_instr(op, r0, G, col, V, Bp, fi, sbase, shift, p, lanes):
    """One instruction of G programs, registers from index rows r0..r0+G-1; the op is
    tested once, and each loop reads only the fields its op uses."""
    if p > 0 or op == DOT4:
        for i in range(r0, r0 + G):
            r = (_at(fi[i, 0], sbase, shift, Bp, col), _at(fi[i, 1], sbase, shift, Bp, col),
                 _at(fi[i, 2], sbase, shift, Bp, col), _at(fi[i, 3], sbase, shift, Bp, col),
                 _at(fi[i, 4], sbase, shift, Bp, col), _at(fi[i, 5], sbase, shift, Bp, col),
                 _at(fi[i, 6], sbase, shift, Bp, col), _at(fi[i, 7], sbase, shift, Bp, col),
                 _at(fi[i, OUT], sbase, shift, Bp, col))
            _tree_op(op, V, r, p, lanes)
    elif op == DOT2:
        for i in range(r0, r0 + G):
            vdot2(V, _at(fi[i, OUT], sbase, shift, Bp, col), _at(fi[i, 0], sbase, shift, Bp, col),
                   _at(fi[i, 1], sbase, shift, Bp, col), _at(fi[i, 2], sbase, shift, Bp, col),
                   _at(fi[i, 3], sbase, shift, Bp, col), lanes)
    elif op == MULADD:
        for i in range(r0, r0 + G):
            vmuladd(V, _at(fi[i, OUT], sbase, shift, Bp, col),
                     _at(fi[i, 0], sbase, shift, Bp, col), _at(fi[i, 1], sbase, shift, Bp, col),
                     _at(fi[i, 2], sbase, shift, Bp, col), p, lanes)
    else:
        for i in range(r0, r0 + G):
            ro = _at(fi[i, OUT], sbase, shift, Bp, col)
            ra = _at(fi[i, 0], sbase, shift, Bp, col)
            rb = _at(fi[i, 1], sbase, shift, Bp, col)
            if op == ADD:
                vadd(V, ro, ra, rb, 0, p, lanes)
            elif op == MUL:
                vmul(V, ro, ra, rb, 0, p, lanes)
            else:
                vsub(V, ro, ra, rb, 0, p, lanes)


@numba.njit(inline="always", nogil=True, error_model="numpy")
def _first(gi, m, f, shift, Bp, col):
    """Element offset of field f of group instruction m's first program."""
    return (gi[m, GI_FIRST + f] + (shift if (gi[m, GI_SCRATCH] >> f) & 1 else 0)) * Bp + col


@numba.njit(nogil=True, error_model="numpy", _nrt=False)
def group_kernel(k0, k1, col, V, Bp, grp, gi, fi, sbase, shift, p, lanes):
    """Groups k0..k1-1 of fused trees (see `rnncirc.eval.schedule.grouping`) on the
    W lanes at `col`, instruction-major within each group; `shift` moves the scratch rows
    (a task of a wide step has its own)."""
    for k in range(k0, k1):
        G = grp[k, GRP_SIZE]
        for m in range(grp[k, GRP_FIRST], grp[k + 1, GRP_FIRST]):
            op = gi[m, GI_OP]
            if gi[m, GI_INDEXED] != 0:
                _indexed_instr(np.int64(op), np.int64(gi[m, GI_ROW]), G, col, V, Bp, fi, sbase,
                               shift, p, lanes)
                continue
            r = (_first(gi, m, 0, shift, Bp, col), _first(gi, m, 1, shift, Bp, col),
                 _first(gi, m, 2, shift, Bp, col), _first(gi, m, 3, shift, Bp, col),
                 _first(gi, m, 4, shift, Bp, col), _first(gi, m, 5, shift, Bp, col),
                 _first(gi, m, 6, shift, Bp, col), _first(gi, m, 7, shift, Bp, col),
                 _first(gi, m, 8, shift, Bp, col))
            s0 = GI_STRIDE
            st = (gi[m, s0] * Bp, gi[m, s0 + 1] * Bp, gi[m, s0 + 2] * Bp, gi[m, s0 + 3] * Bp,
                  gi[m, s0 + 4] * Bp, gi[m, s0 + 5] * Bp, gi[m, s0 + 6] * Bp,
                  gi[m, s0 + 7] * Bp, gi[m, s0 + 8] * Bp)
            _strided_instr(np.int64(op), G, r, st, V, p, lanes)
