"""Fused trees: add/sub/mul gates folded into the one reader that consumes them.

Where this sits: the first pass of `build_schedule`, before placement (`tiling`): every
add/sub/mul gate whose only reader is another add/sub/mul is merged into that reader (a dot
product of a matmul: m products summed by a balanced adder tree; a scaled sum ``a*x + y``).
Only the root of such a tree is scheduled; it reads the tree's leaves (`gate_operands`) and
is evaluated at once, its inner values in scratch rows after the registers, with the
circuit's own association, so the numbers are bit for bit the circuit's. Why: a dot product
gate by gate writes every partial sum to a register and reads it back; as a tree its inner
values never leave L1 and take no register at all.

Products fold into the instruction that sums them (`rnncirc.eval.isa`): MULADD ``a*b + c``
and the balanced sums DOT2, DOT4. A tree of one MULADD is an ordinary gate of arity 3, any
other tree a *program*, whose instructions `registers` writes with `emit_program` once the
rows of its leaves are known; `grouping` then runs programs of one shape side by side.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.eval.isa import DOT2, DOT4, MAX_FOLD, MULADD, OUT, PROGRAM
from rnncirc.ir.kernel_cache import cached
from rnncirc.ir.ops import N_OPS, Op

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


@cached
@numba.njit(nogil=True)
def fuse_trees(op, a, b, c, arity, live, out_flat, max_need, max_size):
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


@cached
@numba.njit(nogil=True)
def emit_program(g, reg, sbase, op, a, b, absorbed, fold, need, fi, fi_op, at, stack):
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
def gate_operands(g, op, a, b, c, arity, absorbed, eop, out):
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
