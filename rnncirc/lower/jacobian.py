"""Extract A(x) and b(x) of an affine step, keeping the structure of A.

The step of a linear model is replayed on the tensor level twice: once with the state set to
zero, which gives b(x) (and every state-free value, shared through hash-consing), and once in
forward mode, which gives the Jacobian A(x) = dh_t/dh_{t-1}. The Jacobian is not formed as a
dense tensor; it is kept as a sum of *terms* whose shape says what A is:

- `Select(coef, idx)`: element e of a node depends on state element idx[e] with coefficient
  coef[e] (a diagonal when idx is the identity, a permutation-diagonal when idx permutes);
- `Outer(u, v)`: the node is u * (v . h), a rank-one term (DeltaNet's beta k (k . h));
- `Dense(jac)`: anything else, as an explicit tensor of shape node.shape + (m,).

The state is seen through a *reduced* variable r of size m: for a vector state r is h itself;
for a matrix state S whose rows evolve separately by a shared transition (S_t = S A + B, the
"right" side) r is one row and S is replayed as rows that all equal r; likewise columns for
the "left" side (S_t = A S + B). Then A is m x m, not (pq) x (pq).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rnncirc.frontend.tracer import Sym, broadcast_to, elementwise, gather
from rnncirc.frontend.tracer_arrays import reduce_sum
from rnncirc.ir.cell import CellBuilder, CellGraph, Node
from rnncirc.ir.ops import Op


@dataclass(frozen=True, eq=False)  # identity, not symbolic equality
class Select:
    coef: Sym | None  # None: all ones
    idx: np.ndarray


@dataclass(frozen=True, eq=False)
class Outer:
    u: Sym | None  # None: all ones
    v: Sym


@dataclass(frozen=True, eq=False)
class Dense:
    jac: Sym


@dataclass(frozen=True)
class AffineStep:
    """h_t = A(x) h_{t-1} + b(x), with A as structured terms over the reduced state."""

    builder: CellBuilder
    input: Sym  # the replayed input leaf
    offset: Sym  # b(x), full state shape
    terms: tuple  # Jacobian terms of the output w.r.t. r, output-shaped
    side: str  # "vector", "left", "right" or "flat"
    m: int  # size of the reduced state
    #: one-step leaf templates already scalarized for this step (lowering reuses them)
    templates: dict = field(default_factory=dict, compare=False, repr=False)


def _ones(builder: CellBuilder, shape) -> Sym:
    return Sym(builder.const(np.ones(shape)), builder)


def _scale(term, factor: Sym):
    """Multiply a term by a state-free factor of the node's shape."""
    if isinstance(term, Select):
        coef = factor if term.coef is None else term.coef * factor
        return Select(coef, term.idx)
    if isinstance(term, Outer):
        return Outer(factor if term.u is None else term.u * factor, term.v)
    return Dense(term.jac * factor.reshape(factor.shape + (1,)))


def _gather_term(term, picked: np.ndarray, inside: np.ndarray, builder: CellBuilder,
                 m: int, size: int):
    """Term of a gather output; positions not taken from this operand get zero."""
    mask = None if inside.all() else Sym(builder.const(inside.astype(float)), builder)
    if isinstance(term, Select):
        idx = term.idx.ravel()[picked]
        coef = gather([term.coef], picked) if term.coef is not None else None
        if mask is not None:
            coef = mask if coef is None else coef * mask
        return Select(coef, idx)
    if isinstance(term, Outer):
        u = gather([term.u if term.u is not None else _ones(builder, (size,))], picked)
        return Outer(u if mask is None else u * mask, term.v)
    rows = term.jac.reshape(size, m)
    index = (picked[..., None] * m + np.arange(m)).reshape(picked.shape + (m,))
    jac = gather([rows], index)
    return Dense(jac if mask is None else jac * mask.reshape(mask.shape + (1,)))


def _constant_along(sym: Sym | None, keep_axes: tuple[int, ...]) -> bool:
    """True when `sym`'s value provably does not vary along `keep_axes` (by its wiring)."""
    if sym is None or not keep_axes:
        return True
    classes = _value_classes(sym.node, {})
    for axis in keep_axes:
        first = np.take(classes, [0], axis=axis)
        if not np.array_equal(np.broadcast_to(first, classes.shape), classes):
            return False
    return True


def _value_classes(node: Node, memo: dict) -> np.ndarray:
    """Integer labels of `node`'s elements, equal labels only where values are provably equal.

    Followed through wiring and elementwise ops, so a value broadcast, reshaped and multiplied
    by another broadcast value is still seen as constant along the broadcast axes.
    """
    if node.id in memo:
        return memo[node.id]
    if node.op == "const":
        labels = np.unique(node.arg.ravel(), return_inverse=True)[1].reshape(node.shape)
    elif node.op == "gather":
        flat = [_value_classes(o, memo).ravel() for o in node.operands]
        offsets = np.cumsum([0] + [f.max(initial=-1) + 1 for f in flat])[:-1]
        labels = np.concatenate([f + off for f, off in zip(flat, offsets, strict=True)])
        labels = labels[node.arg]
    elif isinstance(node.op, Op) and node.operands:  # elementwise: operands of node's shape
        rows = np.stack([_value_classes(o, memo).ravel() for o in node.operands], axis=1)
        labels = np.unique(rows, axis=0, return_inverse=True)[1].reshape(node.shape)
    else:
        labels = np.arange(int(np.prod(node.shape, dtype=np.int64))).reshape(node.shape)
    memo[node.id] = labels
    return labels


def _sum_term(term, axes: tuple[int, ...], in_shape, builder: CellBuilder, m: int) -> list:
    keep = tuple(a for a in range(len(in_shape)) if a not in axes)
    out_shape = tuple(in_shape[a] for a in keep)
    if isinstance(term, Outer):
        u = term.u if term.u is not None else _ones(builder, in_shape)
        return [Outer(reduce_sum(u, axes), term.v)]
    if isinstance(term, Dense):
        return [Dense(reduce_sum(term.jac, axes))]
    idx_first = np.take(term.idx, [0], axis=keep[0]) if keep else term.idx
    for axis in keep[1:]:
        idx_first = np.take(idx_first, [0], axis=axis)
    terms = []
    if np.array_equal(np.broadcast_to(idx_first, term.idx.shape), term.idx):
        # every output element reads the same positions: each piece of the coefficient that
        # is a product of a factor along the kept axes and one along the summed axes (w_i v_j:
        # a matrix-vector product with an outer product, (I - b k k^T) h) is a rank-one term
        pieces = [(term.coef, None)] if _constant_along(term.coef, keep) else \
            _separate(term.coef, keep, axes)
        if pieces is not None:
            terms = [_picked(u, v, term.idx, axes) if isinstance(v, np.ndarray) else
                     _outer(v, u, term.idx, keep, axes, out_shape, builder, m)
                     for v, u in pieces if v is not False]
            rest = [u for v, u in pieces if v is False]
            if not rest:
                return terms
            term = Select(rest[0], term.idx)  # what no outer product covers stays dense
    onehot = np.zeros(term.idx.shape + (m,))
    np.put_along_axis(onehot, term.idx[..., None], 1.0, axis=-1)
    jac = Sym(builder.const(onehot), builder)
    if term.coef is not None:
        jac = jac * term.coef.reshape(term.coef.shape + (1,))
    return terms + [Dense(reduce_sum(jac, axes))]


def _outer(v: Sym | None, u: Sym | None, idx: np.ndarray, keep, axes, out_shape,
           builder: CellBuilder, m: int) -> Outer:
    """u (x) (v . r) from a coefficient u * v, u constant along `axes`, v along `keep`."""
    ndim = idx.ndim
    first = tuple(0 if a in keep else slice(None) for a in range(ndim))
    positions = idx[first].ravel()
    onehot = np.zeros((m, positions.size))
    onehot[positions, np.arange(positions.size)] = 1.0
    if v is None:
        vector = Sym(builder.const(onehot.sum(axis=1)), builder)
    else:
        vector = Sym(builder.const(onehot), builder) @ v[first].reshape(-1)
    if u is None:
        return Outer(_ones(builder, out_shape), vector)
    along = tuple(0 if a in axes else slice(None) for a in range(ndim))
    return Outer(u[along].reshape(out_shape), vector)


#: additive pieces a coefficient is split into at most (products of sums multiply them)
_MAX_PIECES = 16


def _separate(coef: Sym, keep: tuple[int, ...], axes: tuple[int, ...]):
    """Split `coef` into pieces u * v (u constant along `axes`, v along `keep`): a list of
    (v, u), with v False for the one remainder that does not split (u is then that remainder)
    and v a numpy array for a piece whose constant factor reads one position per kept index (v
    is that constant, u the whole piece: `_picked`); None when no piece splits."""
    pieces = _pieces(coef)
    split, rest = [], None
    for sign, factors in pieces:
        us = [f for f in factors if _constant_along(f, axes)]
        vs = [f for f in factors if not _constant_along(f, axes) and _constant_along(f, keep)]
        mixed = [f for f in factors if not any(f is g for g in us + vs)]
        if mixed and all(f.node.op == "const" for f in mixed) and _one_per_kept(
                mixed, keep, axes):
            # a constant matrix with at most one nonzero per kept position (the identity of
            # I - b k k^T, a permutation, diag(w) as w * I): each position reads one element
            split.append((_const_value(mixed), _product(factors, sign, coef)))
            continue
        if mixed:
            product = _product(factors, sign, coef)
            rest = product if rest is None else rest + product
            continue
        split.append((_product(vs, 1, None), _product(us, sign, None)))
    if not split:
        return None
    return split + ([(False, rest)] if rest is not None else [])


def _const_value(consts: list[Sym]) -> np.ndarray:
    value = np.ones(())
    for f in consts:
        value = value * f.node.arg
    return value


def _one_per_kept(consts: list[Sym], keep: tuple[int, ...], axes: tuple[int, ...]) -> bool:
    """The product of constant factors has at most one nonzero along `axes` per kept index."""
    value = _const_value(consts)
    shape = tuple(value.shape[a] for a in keep) + (-1,)
    return bool(((np.moveaxis(value, axes, range(-len(axes), 0)).reshape(shape) != 0).sum(
        axis=-1) <= 1).all())


def _picked(coef: Sym, consts: np.ndarray, idx: np.ndarray, axes: tuple[int, ...]) -> Select:
    """sum over `axes` of coef * r[idx], where coef is `consts` (at most one nonzero along
    `axes` per kept index, `_one_per_kept`) times other factors: a Select that reads, for
    each kept index, that one position (coefficient 0 where there is none)."""
    def last(a: np.ndarray) -> np.ndarray:
        moved = np.moveaxis(a, axes, range(-len(axes), 0))
        return moved.reshape(moved.shape[:idx.ndim - len(axes)] + (-1,))

    where = (last(np.broadcast_to(consts, idx.shape)) != 0).argmax(axis=-1)
    flat = last(np.arange(idx.size).reshape(idx.shape))
    positions = np.take_along_axis(flat, where[..., None], axis=-1)[..., 0]
    return Select(gather([coef.reshape(-1)], positions), idx.ravel()[positions])


def _product(factors: list, sign: int, like: Sym | None) -> Sym | None:
    result = None
    for f in factors:
        result = f if result is None else result * f
    if sign < 0:
        result = -result if result is not None else -_ones(like.builder, like.shape)
    return result


def _pieces(sym: Sym) -> list:
    """`sym` as a sum of signed products of factors, through +, -, * and wiring."""
    node, builder = sym.node, sym.builder
    op = node.op
    if op == "gather" and len(node.operands) == 1:
        inner = node.operands[0]
        if inner.op in (Op.ADD, Op.SUB, Op.NEG, Op.MUL):
            parts = [gather([Sym(o, builder)], node.arg) for o in inner.operands]
            return _combine(inner.op, [_pieces(p) for p in parts], sym)
        if inner.op == "gather" and len(inner.operands) == 1:
            return _pieces(gather([Sym(inner.operands[0], builder)],
                                  inner.arg.ravel()[node.arg]))
        if inner.op == "sum":
            summed = _pieces(Sym(inner, builder))
            if len(summed) > 1 or len(summed[0][1]) > 1:
                return [(s, [gather([f], node.arg) for f in fs]) for s, fs in summed]
    elif op in (Op.ADD, Op.SUB, Op.NEG, Op.MUL):
        return _combine(op, [_pieces(Sym(o, builder)) for o in node.operands], sym)
    elif op == "sum":  # a product of matrices (M1 @ M2)[i, l] = sum_j M1[i, j] M2[j, l]
        inner = Sym(node.operands[0], builder)
        parts = _pieces(inner)
        if len(parts) > 1 or len(parts[0][1]) > 1:
            return [(s, _contract(fs, node.arg, inner.shape)) for s, fs in parts]
    return [(1, [sym])]


def _contract(factors: list, axes: tuple[int, ...], shape) -> list:
    """The factors of one piece summed over `axes`: those constant along them come out (one
    slice each), the others are multiplied and summed over the axes they vary on together,
    then broadcast, so that each result is seen constant along the axes it does not use
    (sum_j I[i, j] k[j] k[l] is (I k)[i] times k[l]: a rank-one piece again)."""
    kept = [a for a in range(len(shape)) if a not in axes]
    out_shape = tuple(shape[a] for a in kept)
    along = [f for f in factors if not _constant_along(f, axes)]
    result = [f[tuple(0 if a in axes else slice(None) for a in range(len(shape)))]
              for f in factors if _constant_along(f, axes)]
    if along:
        varying = {a for a in kept if not all(_constant_along(f, (a,)) for f in along)}
        window = tuple(slice(None) if a in axes or a in varying else slice(0, 1)
                       for a in range(len(shape)))
        product = along[0][window]
        for f in along[1:]:
            product = product * f[window]
        result.append(broadcast_to(reduce_sum(product, axes), out_shape))
    return result


def _combine(op: Op, parts: list, whole: Sym) -> list:
    if op == Op.ADD:
        pieces = parts[0] + parts[1]
    elif op == Op.SUB:
        pieces = parts[0] + [(-s, f) for s, f in parts[1]]
    elif op == Op.NEG:
        pieces = [(-s, f) for s, f in parts[0]]
    else:
        pieces = [(s1 * s2, f1 + f2) for s1, f1 in parts[0] for s2, f2 in parts[1]]
    return pieces if len(pieces) <= _MAX_PIECES else [(1, [whole])]


def replay_affine(cell: CellGraph, side: str) -> AffineStep:
    """Replay an affine cell: b(x) and the structured Jacobian w.r.t. the reduced state."""
    builder = CellBuilder()
    shape = cell.state_shape
    if side == "right":
        m, idx_of_state = shape[1], np.broadcast_to(np.arange(shape[1]), shape).copy()
    elif side == "left":
        m, idx_of_state = shape[0], np.broadcast_to(np.arange(shape[0])[:, None], shape).copy()
    else:
        m = int(np.prod(shape))
        idx_of_state = np.arange(m).reshape(shape)
    value: dict[int, Sym] = {}
    terms: dict[int, list] = {}
    x = None
    for node in cell.live_nodes():
        if node.op == "state":
            value[node.id] = Sym(builder.const(np.zeros(shape)), builder)
            terms[node.id] = [Select(None, idx_of_state)]
            continue
        if node.op == "input":
            x = Sym(builder.node("input", node.shape), builder)
            value[node.id] = x
            continue
        value[node.id] = _replay_value(node, value, builder)
        dependent = [o for o in node.operands if o.id in terms]
        if dependent:
            terms[node.id] = _replay_terms(node, value, terms, builder, m)
    out = cell.output
    if x is None:
        x = Sym(builder.node("input", cell.input.shape), builder)
    return AffineStep(builder, x, value[out.id], tuple(terms.get(out.id, ())), side, m)


def _replay_value(node: Node, value: dict[int, Sym], builder: CellBuilder) -> Sym:
    operands = [value[o.id] for o in node.operands]
    if node.op == "const":
        return Sym(builder.const(node.arg), builder)
    if node.op == "gather":
        return gather(operands, node.arg)
    if node.op == "sum":
        return reduce_sum(operands[0], node.arg)
    return elementwise(node.op, *operands)


def _replay_terms(node: Node, value, terms, builder: CellBuilder, m: int) -> list:
    op = node.op
    ops = node.operands
    if op == "gather":
        sizes = [o.size for o in ops]
        offsets = np.cumsum([0] + sizes)
        result = []
        for operand, lo, size in zip(ops, offsets, sizes, strict=False):
            if operand.id not in terms:
                continue
            inside = (node.arg >= lo) & (node.arg < lo + size)
            picked = np.where(inside, node.arg - lo, 0)
            result += [_gather_term(t, picked, inside, builder, m, size)
                       for t in terms[operand.id]]
        return result
    if op == "sum":
        return [part for t in terms[ops[0].id]
                for part in _sum_term(t, node.arg, ops[0].shape, builder, m)]
    minus_one = Sym(builder.const(-np.ones(node.shape)), builder)
    if op == Op.ADD:
        return terms.get(ops[0].id, []) + terms.get(ops[1].id, [])
    if op == Op.SUB:
        return terms.get(ops[0].id, []) + [_scale(t, minus_one) for t in terms.get(ops[1].id, [])]
    if op == Op.NEG:
        return [_scale(t, minus_one) for t in terms[ops[0].id]]
    if op == Op.MUL:
        dep, free = (ops[0], ops[1]) if ops[0].id in terms else (ops[1], ops[0])
        return [_scale(t, value[free.id]) for t in terms[dep.id]]
    if op == Op.DIV:
        reciprocal = elementwise(Op.DIV, 1.0, value[ops[1].id])
        return [_scale(t, reciprocal) for t in terms[ops[0].id]]
    if op == Op.SELECT:
        cond = value[ops[0].id]
        on = elementwise(Op.SELECT, cond, 1.0, 0.0)
        off = elementwise(Op.SELECT, cond, 0.0, 1.0)
        return ([_scale(t, on) for t in terms.get(ops[1].id, [])]
                + [_scale(t, off) for t in terms.get(ops[2].id, [])])
    raise AssertionError(f"{node.label} is not affine; classify checks linearity first")
