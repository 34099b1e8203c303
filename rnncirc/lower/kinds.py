"""The kind of A(x) and the structured form the lowering builds it in.

Where this sits: step (4) of `classify`. The Jacobian terms of an affine step (`jacobian`) are
added up to A as an explicit matrix, whose values (`structure`: exact residues at random
points) say what A is: scalar, diagonal, 2x2 rotation-scaling blocks (complex-diagonal), one
nonzero per row or per column (permutation-diagonal: a fixed index, per-symbol tables, or
positions read off A under `rc.where`), a diagonal plus rank-one terms (dplr), or dense. The
`LinearForm` is then built from the terms in the form that structure allows, so the kind
follows what A is, not how the step was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from rnncirc.frontend.model import RNN
from rnncirc.frontend.tracer import Sym, as_sym, elementwise
from rnncirc.frontend.tracer_arrays import concat
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op
from rnncirc.ir.simplify import simplify
from rnncirc.lower import structure
from rnncirc.lower.jacobian import AffineStep, Outer, Select
from rnncirc.lower.scalarize import scalarize


@dataclass(frozen=True)
class LinearForm:
    """What the prefix lowering needs: A(x) in its structured form and b(x), over r.

    Tensors are `Sym` values in ``affine.builder`` that depend on ``affine.input`` only.
    ``offset`` is b(x) arranged as (m, c): column j is the j-th vector sharing A.
    """

    affine: AffineStep
    offset: Sym
    diag: Sym | None = None  # scalar: shape (); diagonal/dplr: (m,); complex-diagonal: a per block
    coef: Sym | None = None  # permutation-diagonal: (m,); complex-diagonal: b per block
    perm: np.ndarray | None = None  # static: row j reads r[perm[j]] (see `orient`)
    #: "row": row j reads r[index[j]]; "column": column q moves to row index[q], summed
    orient: str = "row"
    index: Sym | None = None  # per step (m,), values 0..m-1 (`combine_permutation.FunctionAlgebra`)
    blocks: np.ndarray | None = None  # complex-diagonal (q, 2): a block's rows (first, second)
    symbol_perm: np.ndarray | None = None  # per symbol (k, m): row j reads r[perm[s, j]]
    symbol_coef: np.ndarray | None = None  # per symbol (k, m)
    u: Sym | None = None  # dplr: (m, rank)
    v: Sym | None = None  # dplr: (m, rank)
    dense: Sym | None = None  # dense: (m, m)
    #: A as an explicit (m, m) tensor, whatever the kind: what `structure` sampled
    matrix: Sym | None = field(default=None, repr=False, compare=False)
    #: a (max, +) / (min, +) matrix: the entries of A (m, m) and b (column m) that are the
    #: semiring zero, 0 in the tensors (`semiring.SemiringForm`)
    absent: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: dplr and dense: the generic rank of A minus its diagonal as its values say it, where
    #: that is below the rank built from the terms (`seen_rank`); else None
    seen_rank: int | None = field(default=None, compare=False)


def scalar_ids(affine: AffineStep, syms: list[Sym]) -> tuple[list[np.ndarray], GateBuilder]:
    """Canonical (structurally hashed) scalar ids of each tensor, for exact comparisons."""
    builder = GateBuilder()
    x = affine.input
    inputs = builder.leaf(Op.INPUT, np.arange(x.size)).reshape((1,) + x.shape)
    flat = concat([s.reshape(-1) for s in syms]) if len(syms) > 1 else syms[0].reshape(-1)
    out = scalarize(affine.builder.nodes, flat.node, builder, {x.node.id: inputs}, 1)
    rows, canon = simplify(builder.arrays(), out.ravel())
    pieces = np.split(canon, np.cumsum([s.size for s in syms])[:-1])
    values = np.asarray(builder.const_values + [np.nan])
    is_const = rows["op"] == Op.CONST
    const_value = np.where(is_const, values[np.where(is_const, rows["a"], -1)], np.nan)
    return [(p.reshape(s.shape), const_value[p].reshape(s.shape)) for p, s in
            zip(pieces, syms, strict=True)], builder


def decide(model: RNN, affine: AffineStep,
           form: dict) -> tuple[str, LinearForm, int | None, bool]:
    """(kind, form, rank, time-invariant): what A is, from its values (`structure`), and A
    built from the extracted terms (`form`: the reduced terms and offset) in that form."""
    terms, offset = form["terms"], form["offset"]
    m = offset.shape[0]
    builder = offset.builder
    matrix = _dense_matrix(terms, m, builder)
    values = structure.sample(affine, matrix, model.alphabet)
    kind, linear, rank = _kind_of(model, affine, terms, offset, matrix, values)
    linear = replace(linear, matrix=matrix)
    linear = replace(linear, seen_rank=seen_rank(affine, kind, linear, values, rank,
                                                 model.alphabet))
    return kind, linear, rank, values.invariant()


#: a dense A's rank is computed up to this size (elimination in Python integers is O(m^3))
SEEN_RANK_MAX = 64


def seen_rank(affine: AffineStep, kind: str, linear: LinearForm, values: structure.Samples,
              rank, alphabet: int | None) -> int | None:
    """The rank r of A - D by its values when it is below the rank built: D + U V^T at rank R
    whose terms do not merge although A - D has rank r < R (three rank-one updates along two
    directions), or a dense A that is D + rank r < m for D = 0 or D = diag(A) (read off A's
    own samples, `values`). No division-free way to refactor U V^T to rank r is known to
    rnncirc, so A is built from its terms and the classification says what the values say
    (`classify._reason`)."""
    m = linear.offset.shape[0]
    if kind == "dplr":
        matrix = linear.matrix
        eye = Sym(matrix.builder.const(np.eye(m)), matrix.builder)
        rest = matrix - eye * linear.diag.reshape(1, m)
        seen, built = structure.sample(affine, rest, alphabet).rank(rank), rank
    elif kind == "dense" and m <= SEEN_RANK_MAX:
        off = values.values.copy()
        off[..., np.arange(m), np.arange(m)] = 0
        built = m
        seen = min(values.rank(built), structure.Samples(off, values.primes).rank(built))
    else:
        return None
    return seen if seen < built else None


def _kind_of(model: RNN, affine: AffineStep, terms, offset: Sym, matrix: Sym,
             values: structure.Samples):
    m = offset.shape[0]
    builder = offset.builder
    pattern = values.pattern()
    eye = np.eye(m, dtype=bool)
    if not pattern[~eye].any():
        diag = _diagonal(terms, matrix, m, builder)
        first = (np.zeros(m, dtype=np.int64),) * 2
        if values.equal((np.arange(m),) * 2, first):
            return "scalar", LinearForm(affine, offset, diag=diag[0]), None
        return "diagonal", LinearForm(affine, offset, diag=diag), None
    blocks = _rotation_blocks(values, pattern)
    if blocks is not None:
        paired = Sym(builder.const((blocks[:, 0] != blocks[:, 1]).astype(float)), builder)
        return "complex-diagonal", LinearForm(
            affine, offset, diag=matrix[blocks[:, 0], blocks[:, 0]],
            coef=matrix[blocks[:, 1], blocks[:, 0]] * paired, blocks=blocks), None
    per_row = values.nonzero.sum(axis=-1).max() <= 1
    per_column = values.nonzero.sum(axis=-2).max() <= 1
    if per_row or per_column:
        orient = "row" if per_row else "column"
        return ("permutation-diagonal", _one_hot_form(model, affine, offset, matrix, values,
                                                      orient), None)
    low_rank = _low_rank(affine, terms, m, builder, model.alphabet)
    if low_rank is not None:
        diag, u, v, rank = low_rank
        return "dplr", LinearForm(affine, offset, diag=diag, u=u, v=v), rank
    return "dense", LinearForm(affine, offset, dense=matrix), None


def _identity_diagonal(terms, m: int, builder) -> Sym | None:
    """The sum of the terms that read each element itself (coefficient only), or None."""
    diag = None
    for t in terms:
        if isinstance(t, Select) and np.array_equal(t.idx, np.arange(m)):
            coef = Sym(builder.const(np.ones(m)), builder) if t.coef is None else t.coef
            diag = coef if diag is None else diag + coef
    return diag


def _diagonal(terms, matrix: Sym, m: int, builder) -> Sym:
    """A's diagonal: from the terms when they are all diagonal, else read off the matrix."""
    if all(isinstance(t, Select) and np.array_equal(t.idx, np.arange(m)) for t in terms):
        diag = _identity_diagonal(terms, m, builder)
        return diag if diag is not None else Sym(builder.const(np.zeros(m)), builder)
    return matrix[np.arange(m), np.arange(m)]


def _rotation_blocks(values: structure.Samples, pattern: np.ndarray) -> np.ndarray | None:
    """Blocks (first, second) when A is block-diagonal with 2x2 rotation-scaling blocks
    [[a, -b], [b, a]] (a complex diagonal; 1x1 blocks have first == second), else None."""
    m = len(pattern)
    off = pattern & ~np.eye(m, dtype=bool)
    if not off.any() or off.sum(axis=1).max() > 1 or not np.array_equal(off, off.T):
        return None
    partner = np.where(off.any(axis=1), off.argmax(axis=1), np.arange(m))
    first = np.flatnonzero(partner >= np.arange(m))
    blocks = np.stack([first, partner[first]], axis=1)
    i, j = blocks[:, 0], blocks[:, 1]
    pair = i != j
    if values.equal((i, i), (j, j)) and values.equal((i[pair], j[pair]), (j[pair], i[pair]),
                                                     negate=True):
        return blocks
    return None


def _one_hot_form(model: RNN, affine: AffineStep, offset: Sym, matrix: Sym,
                  values: structure.Samples, orient: str) -> LinearForm:
    """A with at most one nonzero per row (row j reads r[index[j]]) or per column (column q
    moves to row index[q]; a DFA's transitions, with zeroing)."""
    m = matrix.shape[0]
    along = -1 if orient == "row" else -2
    pattern = values.pattern()
    union = pattern.sum(axis=along % 2) <= 1
    if union.all():  # the same position in every branch: the index is wiring
        where = pattern if orient == "row" else pattern.T
        index = np.where(where.any(axis=1), where.argmax(axis=1), np.arange(m))
        coef = matrix[np.arange(m), index] if orient == "row" else matrix[index, np.arange(m)]
        return LinearForm(affine, offset, coef=coef, perm=index, orient=orient)
    k = model.alphabet
    per_symbol = values.nonzero.reshape((k or 1, -1, m, m)).any(axis=1)
    if k and (per_symbol.sum(axis=along) <= 1).all():  # fixed by the symbol alone: tables
        index, coef = _symbol_tables(affine, model, matrix, per_symbol, orient)
        bijective = orient == "row" and (per_symbol.sum(axis=-2).max() <= 1)
        if bijective:  # sorting networks move a per-symbol permutation (`combine`)
            return LinearForm(affine, offset, symbol_perm=index, symbol_coef=coef)
        x = affine.input
        builder = x.builder
        return LinearForm(affine, offset, coef=x @ as_sym(coef, builder),
                          index=x @ Sym(builder.const(index.astype(float)), builder),
                          orient=orient)
    # chosen by conditions (rc.where): the one nonzero of each row (column) and its position,
    # read off A itself; a row that is zero at some input gets coefficient 0 there
    builder = matrix.builder
    nonzero = elementwise(Op.NE, matrix, 0.0)
    positions = Sym(builder.const(np.arange(float(m))), builder)
    if orient == "row":
        return LinearForm(affine, offset, coef=matrix.sum(axis=1),
                          index=nonzero @ positions, orient=orient)
    return LinearForm(affine, offset, coef=matrix.sum(axis=0),
                      index=positions @ nonzero, orient=orient)


def _symbol_tables(affine: AffineStep, model: RNN, matrix: Sym, nonzero: np.ndarray,
                   orient: str) -> tuple[np.ndarray, np.ndarray]:
    """Per symbol (k, m): the position of each row's (column's) nonzero, and its value."""
    from rnncirc.ir.rational import evaluate_rows_exact
    from rnncirc.ir.reference import evaluate_rows

    builder = GateBuilder()
    x = affine.input
    inputs = builder.leaf(Op.INPUT, np.arange(x.size)).reshape((1,) + x.shape)
    out = scalarize(affine.builder.nodes, matrix.reshape(-1).node, builder,
                    {x.node.id: inputs}, 1).ravel()
    k, m = model.alphabet, matrix.shape[0]
    rows = builder.arrays()
    # a template that divides may hold rationals (Fraction weights): tables of Fractions
    evaluate = evaluate_rows_exact if np.any(rows["op"] == Op.DIV) else evaluate_rows
    matrices = evaluate(rows, np.asarray(builder.const_values), np.eye(k),
                        out).reshape(k, m, m)
    if orient == "column":
        matrices, nonzero = np.swapaxes(matrices, 1, 2), np.swapaxes(nonzero, 1, 2)
    index = np.where(nonzero.any(axis=2), nonzero.argmax(axis=2), np.arange(m)[None, :])
    coef = np.take_along_axis(matrices, index[:, :, None], axis=2)[:, :, 0]
    return index, np.where(nonzero.any(axis=2), coef, 0.0)


def _low_rank(affine: AffineStep, terms, m: int, builder, alphabet: int | None):
    """(diag, U, V, rank) when A is rank-one terms plus terms that add up to a diagonal (by
    value: a state split and re-joined, a diagonal matrix), the rank-one terms merged where
    they share a factor, so that a product of r rank-one updates is built at rank r."""
    outers = [t for t in terms if isinstance(t, Outer)]
    others = [t for t in terms if not isinstance(t, Outer)]
    if not outers:
        return None
    if others:
        part = _dense_matrix(others, m, builder)
        if structure.sample(affine, part, alphabet).pattern()[~np.eye(m, dtype=bool)].any():
            return None
        diag = _diagonal(others, part, m, builder)
    else:
        diag = Sym(builder.const(np.zeros(m)), builder)
    ones = Sym(builder.const(np.ones(m)), builder)
    pairs = _merge_outers(affine, [(ones if t.u is None else t.u, t.v) for t in outers])
    u = concat([p[0].reshape(m, 1) for p in pairs], axis=1)
    v = concat([p[1].reshape(m, 1) for p in pairs], axis=1)
    return diag, u, v, len(pairs)


def _merge_outers(affine: AffineStep, pairs: list) -> list:
    """u1 v^T + u2 v^T = (u1 + u2) v^T (and likewise a shared u), until no two share one.

    Factors are compared by their canonical scalar ids, so equal expressions written twice
    merge as well as one value used twice.
    """
    ids = scalar_ids(affine, [f for pair in pairs for f in pair])[0]
    # a factor that is the constant zero (parts of a state split and re-joined) adds nothing
    pairs = [pair for i, pair in enumerate(pairs)
             if not (np.all(ids[2 * i][1] == 0) or np.all(ids[2 * i + 1][1] == 0))] or pairs[:1]
    merged = True
    while merged and len(pairs) > 1:
        merged = False
        ids = scalar_ids(affine, [f for pair in pairs for f in pair])[0]
        keys = [(ids[2 * i][0].tobytes(), ids[2 * i + 1][0].tobytes())
                for i in range(len(pairs))]
        for side in (1, 0):  # a shared v, then a shared u
            for i in range(len(pairs)):
                for j in range(i + 1, len(pairs)):
                    if keys[i][side] == keys[j][side]:
                        u1, v1 = pairs[i]
                        u2, v2 = pairs[j]
                        pairs[i] = (u1 + u2, v1) if side == 1 else (u1, v1 + v2)
                        del pairs[j]
                        merged = True
                        break
                if merged:
                    break
            if merged:
                break
    return pairs


def _dense_matrix(terms, m: int, builder) -> Sym:
    """A as an explicit (m, m) tensor: row j, column s = dh'[j]/dr[s]."""
    total = Sym(builder.const(np.zeros((m, m))), builder)
    for t in terms:
        if isinstance(t, Select):
            onehot = np.zeros((m, m))
            onehot[np.arange(m), t.idx] = 1.0
            part = Sym(builder.const(onehot), builder)
            total = total + (part if t.coef is None else part * t.coef.reshape(m, 1))
        elif isinstance(t, Outer):
            u = Sym(builder.const(np.ones(m)), builder) if t.u is None else t.u
            total = total + u.reshape(m, 1) * t.v.reshape(1, m)
        else:
            total = total + t.jac
    return total
