"""`rc.classify`: which class of recurrence a model is, decided exactly from its cell.

Where this sits: the first lowering stage. It turns the traced cell into the `LinearForm`
(A(x) in its structured form, b(x)) that the prefix lowering (`lower.linear`) consumes.

Pipeline: (1) `linearity.find_blocker` decides from the graph whether h_t is affine in
h_{t-1}; (2) for a matrix state, a scalar-level dependency analysis finds whether rows (or
columns) evolve separately; (3) `jacobian.replay_affine` extracts b(x) and the structured
Jacobian terms; (4) what matrix A the terms add up to is decided from its values
(`structure`: exact evaluation at random points, so the kind does not depend on how the step
is written), and the combine's leaves are built from the terms in the form that allows
(rank-one terms that share a factor merged, so the rank built is the rank of A - D).

Kinds and where the paper places them (Merrill et al. 2026, Fig. 1, Thm 3, 5, 7, 8): scalar,
diagonal and complex-diagonal in TC0 (prior work), permutation-diagonal (one nonzero per row,
or per column: DFA transitions) in NC1 and NC1-complete, dplr and dense in PNC1 and
PNC1-complete; any kind whose A does not depend on x (`time_invariant`, "ungated") in TC0;
nonlinear RNNs in L (log precision) / P (poly precision).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.tracer import Sym, concat, elementwise
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op
from rnncirc.ir.simplify import simplify
from rnncirc.lower import structure
from rnncirc.lower.jacobian import AffineStep, Dense, Outer, Select, replay_affine
from rnncirc.lower.linearity import find_blocker
from rnncirc.lower.scalarize import scalarize
from rnncirc.lower.semiring import semiring_form

COMPLEXITY = {
    "scalar": "TC0",
    "diagonal": "TC0",
    "complex-diagonal": "TC0",
    "permutation-diagonal": "NC1",
    "dplr": "PNC1",
    "dense": "PNC1",
    "nonlinear": "L (log precision) / P (poly precision)",
    "max-plus": "TC0 (derived, not in the paper)",
    "min-plus": "TC0 (derived, not in the paper)",
}


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
    index: Sym | None = None  # per step (m,), index values 0..m-1 (`combine.FunctionAlgebra`)
    blocks: np.ndarray | None = None  # complex-diagonal (q, 2): a block's rows (first, second)
    symbol_perm: np.ndarray | None = None  # per symbol (k, m): row j reads r[perm[s, j]]
    symbol_coef: np.ndarray | None = None  # per symbol (k, m)
    u: Sym | None = None  # dplr: (m, rank)
    v: Sym | None = None  # dplr: (m, rank)
    dense: Sym | None = None  # dense: (m, m)
    #: A as an explicit (m, m) tensor, whatever the kind: what `structure` sampled
    matrix: Sym | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Classification:
    """Result of `classify`: kind, complexity class, and a one-sentence reason."""

    kind: str
    complexity: str
    reason: str
    rank: int | None = None
    side: str | None = None
    linear: LinearForm | None = field(default=None, repr=False, compare=False)
    #: A(x) does not depend on x: an ungated (LTI) recurrence, in TC0 whatever its kind
    time_invariant: bool = False

    @property
    def is_linear(self) -> bool:
        return self.kind != "nonlinear"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "complexity": self.complexity, "reason": self.reason,
                "rank": self.rank, "side": self.side, "time_invariant": self.time_invariant}


def classify(model: RNN) -> Classification:
    """Classify the recurrence of `model` (exactly, from its traced cell).

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=3, inputs=2)
    ... def decay(h, x):
    ...     return rc.sigmoid(np.arange(6.0).reshape(3, 2) @ x) * h + x.sum()
    >>> rc.classify(decay).kind
    'diagonal'
    """
    if not isinstance(model, RNN):
        raise OptionError(f"classify takes an rnncirc RNN (made with @rc.rnn), got "
                          f"{type(model).__name__}")
    result = _CACHE.get(model)
    if result is None:
        result = _CACHE[model] = _classify(model)
    return result


#: one classification per live model (an RNN hashes by identity); gone with the model
_CACHE: weakref.WeakKeyDictionary[RNN, Classification] = weakref.WeakKeyDictionary()


def _classify(model: RNN) -> Classification:
    cell = model.cell
    blocker = find_blocker(cell)
    if blocker is not None:
        return _semiring(model, blocker) or Classification(
            "nonlinear", COMPLEXITY["nonlinear"], blocker.sentence(model.name))
    side = _side(model)
    affine = replay_affine(cell, side)
    form = _reduced_form(affine, cell.state_shape)
    if side in ("left", "right") and not _shared(affine, form, cell.state_shape):
        affine = replay_affine(cell, "flat")
        form = _reduced_form(affine, cell.state_shape)
    kind, form, rank, invariant = _decide(model, affine, form)
    return Classification(kind, "TC0" if invariant else COMPLEXITY[kind],
                          _reason(model, kind, rank, affine, form, invariant), rank,
                          affine.side, form, invariant)


def _semiring(model: RNN, blocker) -> Classification | None:
    """A step that is nonlinear over the reals but linear over (max, +) or (min, +)."""
    found = semiring_form(model.cell)
    if found is None:
        return None
    kind, affine, a = found
    invariant = structure.sample(affine, a, model.alphabet).invariant()
    op = "max" if kind == "max-plus" else "min"
    reason = (f"{model.name} is not linear over the reals ({blocker.why}) but it is over the "
              f"({op}, +) semiring: h_t = {op}(h_(t-1) + a(x_t), b(x_t)) elementwise, whose "
              f"steps compose associatively, so it is lowered by the same prefix networks with "
              f"+ and {op} gates; the paper's classes are for recurrences over Q and do not "
              f"place it (derived: iterated sums and {op}ima are in TC0)")
    form = LinearForm(affine, affine.offset.reshape(-1, 1), diag=a)
    return Classification(kind, COMPLEXITY[kind], reason, None, affine.side, form, invariant)


# -- (2) which side of a matrix state the transition acts on -----------------------------------
def _side(model: RNN) -> str:
    shape = model.state_shape
    if len(shape) == 1:
        return "vector"
    if len(shape) != 2:
        return "flat"
    from rnncirc.ir.levels import state_support
    from rnncirc.ir.ops import ARITY
    from rnncirc.lower.unroll import step_template

    template = step_template(model, state_is_init=False)
    rows = template.rows
    slot = np.where(rows["op"] == Op.STATE, rows["a"], -1).astype(np.int64)
    size = int(np.prod(shape))
    bits = state_support(rows["op"], rows["a"], rows["b"], rows["c"], ARITY, slot, size)
    depends = np.unpackbits(bits[template.outputs].view(np.uint8), axis=1,
                            bitorder="little")[:, :size].astype(bool)
    depends = depends.reshape(shape + shape)  # out (i, j) depends on state (k, l)
    p, q = shape
    same_row = np.eye(p, dtype=bool)[:, None, :, None]
    same_col = np.eye(q, dtype=bool)[None, :, None, :]
    rows_apart = not np.any(depends & ~same_row)
    cols_apart = not np.any(depends & ~same_col)
    if rows_apart and cols_apart:
        return "flat"  # each entry evolves on its own: elementwise on the flattened state
    if rows_apart:
        return "right"
    if cols_apart:
        return "left"
    return "flat"


def _row0(sym: Sym, side: str, shape) -> Sym:
    if side == "right":
        return sym[0]
    if side == "left":
        return sym[:, 0]
    return sym.reshape(-1)


def _reduced_form(affine: AffineStep, shape) -> dict:
    """Row-0 views of the Jacobian terms, and b as (m, c)."""
    side = affine.side
    if side == "right":
        offset = affine.offset.T
    elif side == "left":
        offset = affine.offset
    else:
        offset = affine.offset.reshape(-1, 1)
    terms = []
    for term in affine.terms:
        if isinstance(term, Select):
            idx = {"right": lambda a: a[0], "left": lambda a: a[:, 0]}.get(
                side, lambda a: a.reshape(-1))(term.idx)
            coef = None if term.coef is None else _row0(term.coef, side, shape)
            terms.append(Select(coef, np.asarray(idx)))
        elif isinstance(term, Outer):
            u = None if term.u is None else _row0(term.u, side, shape)
            terms.append(Outer(u, term.v))
        else:
            jac = term.jac
            jac = jac[0] if side == "right" else jac[:, 0] if side == "left" else \
                jac.reshape(-1, affine.m)
            terms.append(Dense(jac))
    return {"offset": offset, "terms": terms}


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


def _shared(affine: AffineStep, form: dict, shape) -> bool:
    """Do all rows (right side) / columns (left side) share one transition? Exactly."""
    syms, idx_checks = [], []
    for term in affine.terms:
        if isinstance(term, Select):
            idx_checks.append(term.idx)
            if term.coef is not None:
                syms.append(term.coef)
        elif isinstance(term, Outer):
            if term.u is not None:
                syms.append(term.u)
        else:
            syms.append(term.jac)
    axis = 0 if affine.side == "right" else 1
    for idx in idx_checks:
        if not np.all(idx == np.take(idx, [0], axis=axis)):
            return False
    if not syms:
        return True
    for ids, _ in scalar_ids(affine, syms)[0]:
        if not np.all(ids == np.take(ids, [0], axis=axis)):
            return False
    return True


# -- (4) the kind of A -------------------------------------------------------------------------
def _decide(model: RNN, affine: AffineStep, form: dict):
    """The kind of A, decided from its values (`structure`), built from the extracted terms."""
    terms, offset = form["terms"], form["offset"]
    m = offset.shape[0]
    builder = offset.builder
    matrix = _dense_matrix(terms, m, builder)
    values = structure.sample(affine, matrix, model.alphabet)
    kind, linear, rank = _kind_of(model, affine, terms, offset, matrix, values)
    return kind, replace(linear, matrix=matrix), rank, values.invariant()


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
    if model.alphabet:
        index, coef = _symbol_tables(affine, model, matrix, values, orient)
        bijective = orient == "row" and (values.nonzero.sum(axis=-2).max() <= 1)
        if bijective:  # sorting networks move a per-symbol permutation (`combine`)
            return LinearForm(affine, offset, symbol_perm=index, symbol_coef=coef)
        x = affine.input
        builder = x.builder
        return LinearForm(affine, offset, coef=x @ Sym(builder.const(coef), builder),
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


def _symbol_tables(affine: AffineStep, model: RNN, matrix: Sym, values: structure.Samples,
                   orient: str) -> tuple[np.ndarray, np.ndarray]:
    """Per symbol (k, m): the position of each row's (column's) nonzero, and its value."""
    from rnncirc.ir.reference import evaluate_rows

    builder = GateBuilder()
    x = affine.input
    inputs = builder.leaf(Op.INPUT, np.arange(x.size)).reshape((1,) + x.shape)
    out = scalarize(affine.builder.nodes, matrix.reshape(-1).node, builder,
                    {x.node.id: inputs}, 1).ravel()
    k, m = model.alphabet, matrix.shape[0]
    matrices = evaluate_rows(builder.arrays(), np.asarray(builder.const_values), np.eye(k),
                             out).reshape(k, m, m)
    nonzero = values.nonzero.reshape((k, -1) + values.nonzero.shape[2:]).any(axis=1)
    if orient == "column":
        matrices, nonzero = np.swapaxes(matrices, 1, 2), np.swapaxes(nonzero, 1, 2)
    index = np.where(nonzero.any(axis=2), nonzero.argmax(axis=2), np.arange(m)[None, :])
    coef = np.take_along_axis(matrices, index[:, :, None], axis=2)[:, :, 0]
    return index, np.where(nonzero.any(axis=2), coef, 0.0)


def _low_rank(affine: AffineStep, terms, m: int, builder, alphabet: int | None):
    """(diag, U, V, rank) when A is rank-one terms plus terms that add up to a diagonal (by
    value: a state split and re-joined, a diagonal matrix), the rank-one terms merged where
    they share a factor so that the rank built is the rank of A minus that diagonal."""
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


#: what A is, per kind, and where the paper places that kind (Fig. 1; Thm 3, 5, 7, 8)
_WHAT = {
    "scalar": "A(x) is a scalar times the identity",
    "diagonal": "A(x) is diagonal",
    "complex-diagonal": "A(x) is block-diagonal with 2x2 rotation-scaling blocks (a complex "
                        "diagonal)",
    "dplr": "A(x) is diagonal plus rank {rank}",
    "dense": "A(x) has no structure rnncirc exploits (dense)",
}
_PLACE = {
    "scalar": "diagonal LRNNs are in TC0 (Fig. 1, by prior work)",
    "diagonal": "diagonal LRNNs are in TC0 (Fig. 1, by prior work)",
    "complex-diagonal": "diagonal LRNNs, complex ones included, are in TC0 (Fig. 1, by prior "
                        "work)",
    "permutation-diagonal": "PD LRNNs are in NC1 and NC1-complete (Thm 7 and 8)",
    "dplr": "DPLR LRNNs are in PNC1 and PNC1-complete (Thm 3 and 5)",
    "dense": "LRNNs are in PNC1 (Thm 3), and PNC1-complete already when DPLR (Thm 5)",
}


def _reason(model: RNN, kind: str, rank, affine: AffineStep, form: LinearForm,
            invariant: bool) -> str:
    side = {"right": " acting on the right of the matrix state (S_t = S_{t-1} A + B)",
            "left": " acting on the left of the matrix state (S_t = A S_{t-1} + B)",
            "flat": " acting elementwise on the flattened state" if len(
                model.state_shape) > 1 else "",
            "vector": ""}[affine.side]
    if kind == "permutation-diagonal":
        how = "fixed" if form.perm is not None else (
            "chosen by the input symbol" if model.alphabet else "chosen by the input")
        shape = "a permutation" if form.orient == "row" else "a one-hot column matrix (a " \
            "DFA's transitions, zeroing allowed)"
        what = f"A(x) is {shape} times a diagonal ({how})"
    else:
        what = _WHAT[kind].format(rank=rank)
    place = _PLACE[kind]
    if invariant:
        what += ", the same at every step (time-invariant)"
        place = "ungated (time-invariant) LRNNs are in TC0 (Fig. 1, by prior work)"
    return (f"{model.name} is linear in its state, h_t = A(x_t) h_(t-1) + b(x_t): {what}{side}; "
            f"{place}")


def as_dense(cls: Classification) -> Classification:
    """The same classification with A forced to an explicit m x m matrix.

    Lowering it gives the all-dense baseline a structured kind is compared against (a DPLR
    model's circuit must be smaller than this one).
    """
    form = cls.linear
    if form.dense is not None:
        return cls
    return replace(cls, kind="dense", rank=None, linear=replace(
        form, diag=None, u=None, v=None, coef=None, perm=None, index=None, blocks=None,
        symbol_perm=None, symbol_coef=None, orient="row", dense=form.matrix))
