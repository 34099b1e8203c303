"""`rc.classify`: which class of recurrence a model is, decided exactly from its cell.

Where this sits: the first lowering stage. It turns the traced cell into the `LinearForm`
(A(x) in its structured form, b(x)) that the prefix lowering (`lower.linear`) consumes.

Pipeline: (1) `linearity.find_blocker` decides from the graph whether h_t is affine in
h_{t-1}; (2) for a matrix state, a scalar-level dependency analysis finds whether rows (or
columns) evolve separately; (3) `jacobian.replay_affine` extracts b(x) and the structured
Jacobian; (4) the structure of A decides the kind, using structural zeros and structural
hashing of the scalar expressions (for alphabet models, A of each symbol is also evaluated
exactly, since the alphabet is finite).

Kinds and the classes the paper places them in (Merrill et al. 2026, Fig. 1):
scalar and diagonal in TC0, permutation-diagonal NC1-complete, dplr and dense PNC1-complete,
nonlinear RNNs L-complete (log precision) / P-complete (poly precision).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.tracer import Sym, concat
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op
from rnncirc.ir.simplify import simplify
from rnncirc.lower.jacobian import AffineStep, Dense, Outer, Select, replay_affine
from rnncirc.lower.linearity import find_blocker
from rnncirc.lower.scalarize import scalarize

COMPLEXITY = {
    "scalar": "TC0",
    "diagonal": "TC0",
    "permutation-diagonal": "NC1",
    "dplr": "PNC1",
    "dense": "PNC1",
    "nonlinear": "L (log precision) / P (poly precision)",
}


@dataclass(frozen=True)
class LinearForm:
    """What the prefix lowering needs: A(x) in its structured form and b(x), over r.

    Tensors are `Sym` values in ``affine.builder`` that depend on ``affine.input`` only.
    ``offset`` is b(x) arranged as (m, c): column j is the j-th vector sharing A.
    """

    affine: AffineStep
    offset: Sym
    diag: Sym | None = None  # scalar: shape (); diagonal/dplr: (m,)
    coef: Sym | None = None  # permutation-diagonal: (m,)
    perm: np.ndarray | None = None  # static permutation: row j reads r[perm[j]]
    symbol_perm: np.ndarray | None = None  # per symbol (k, m): row j reads r[perm[s, j]]
    symbol_coef: np.ndarray | None = None  # per symbol (k, m)
    u: Sym | None = None  # dplr: (m, rank)
    v: Sym | None = None  # dplr: (m, rank)
    dense: Sym | None = None  # dense: (m, m)


@dataclass(frozen=True)
class Classification:
    """Result of `classify`: kind, complexity class, and a one-sentence reason."""

    kind: str
    complexity: str
    reason: str
    rank: int | None = None
    side: str | None = None
    linear: LinearForm | None = field(default=None, repr=False, compare=False)

    @property
    def is_linear(self) -> bool:
        return self.kind != "nonlinear"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "complexity": self.complexity, "reason": self.reason,
                "rank": self.rank, "side": self.side}


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
        return Classification("nonlinear", COMPLEXITY["nonlinear"], blocker.sentence(model.name))
    side = _side(model)
    affine = replay_affine(cell, side)
    form = _reduced_form(affine, cell.state_shape)
    if side in ("left", "right") and not _shared(affine, form, cell.state_shape):
        affine = replay_affine(cell, "flat")
        form = _reduced_form(affine, cell.state_shape)
    kind, form, rank = _decide(model, affine, form)
    per_symbol = form.symbol_perm is not None
    return Classification(kind, COMPLEXITY[kind], _reason(model, kind, rank, affine, per_symbol),
                          rank, affine.side, form)


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
    affine_terms = form["terms"]
    offset = form["offset"]
    m = offset.shape[0]
    builder = offset.builder
    ones = Sym(builder.const(np.ones(m)), builder)
    identity = [t for t in affine_terms if isinstance(t, Select) and
                np.array_equal(t.idx, np.arange(m))]
    moved = [t for t in affine_terms if isinstance(t, Select) and
             not any(t is i for i in identity)]
    outers = [t for t in affine_terms if isinstance(t, Outer)]
    dense = [t for t in affine_terms if isinstance(t, Dense)]
    diag = None
    for t in identity:
        coef = ones if t.coef is None else t.coef
        diag = coef if diag is None else diag + coef
    if not dense and not moved and not outers:
        if diag is None:
            diag = Sym(builder.const(np.zeros(m)), builder)
        (ids, values), = scalar_ids(affine, [diag])[0]
        if np.all(ids == ids[0]):
            return "scalar", LinearForm(affine, offset, diag=diag[0]), None
        return "diagonal", LinearForm(affine, offset, diag=diag), None
    if not dense and not outers and len(moved) == 1 and diag is None:
        idx = moved[0].idx
        if np.array_equal(np.sort(idx), np.arange(m)):
            coef = ones if moved[0].coef is None else moved[0].coef
            return "permutation-diagonal", LinearForm(
                affine, offset, coef=coef, perm=idx.copy()), None
    if not dense and not moved and outers:
        if diag is None:
            diag = Sym(builder.const(np.zeros(m)), builder)
        us = [ones if t.u is None else t.u for t in outers]
        u = concat([x.reshape(m, 1) for x in us], axis=1)
        v = concat([t.v.reshape(m, 1) for t in outers], axis=1)
        return "dplr", LinearForm(affine, offset, diag=diag, u=u, v=v), \
            len(outers)
    matrix = _dense_matrix(affine_terms, m, builder)
    if model.alphabet:
        per_symbol = _symbol_permutations(affine, model, matrix)
        if per_symbol is not None:
            perm, coef = per_symbol
            return "permutation-diagonal", LinearForm(
                affine, offset, symbol_perm=perm, symbol_coef=coef), None
    return "dense", LinearForm(affine, offset, dense=matrix), None


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


def _symbol_permutations(affine: AffineStep, model: RNN, matrix: Sym):
    """Per-symbol (perm, coef) tables when A(s) is permutation-diagonal for every symbol."""
    from rnncirc.ir.reference import evaluate_rows

    builder = GateBuilder()
    x = affine.input
    inputs = builder.leaf(Op.INPUT, np.arange(x.size)).reshape((1,) + x.shape)
    out = scalarize(affine.builder.nodes, matrix.reshape(-1).node, builder,
                    {x.node.id: inputs}, 1).ravel()
    k, m = model.alphabet, matrix.shape[0]
    matrices = evaluate_rows(builder.arrays(), np.asarray(builder.const_values), np.eye(k),
                             out).reshape(k, m, m)
    nonzero = matrices != 0
    if nonzero.sum(axis=2).max() > 1 or nonzero.sum(axis=1).max() > 1:
        return None
    if all(np.count_nonzero(a - np.diag(np.diag(a))) == 0 for a in matrices):
        return None  # diagonal for every symbol would have been found structurally
    perm = np.where(nonzero.any(axis=2), nonzero.argmax(axis=2), np.arange(m)[None, :])
    coef = np.take_along_axis(matrices, perm[:, :, None], axis=2)[:, :, 0]
    return perm, coef


def _reason(model: RNN, kind: str, rank, affine: AffineStep, per_symbol: bool) -> str:
    side = {"right": " acting on the right of the matrix state (S_t = S_{t-1} A + B)",
            "left": " acting on the left of the matrix state (S_t = A S_{t-1} + B)",
            "flat": " acting elementwise on the flattened state" if len(
                model.state_shape) > 1 else "",
            "vector": ""}[affine.side]
    what = {
        "scalar": "A(x) is a scalar times the identity",
        "diagonal": "A(x) is diagonal",
        "permutation-diagonal": "A(x) is a permutation times a diagonal (the permutation "
                                + ("chosen by the input symbol)" if per_symbol else "fixed)"),
        "dplr": f"A(x) is diagonal plus rank {rank}",
        "dense": "A(x) has no structure rnncirc exploits (dense)",
    }[kind]
    return (f"{model.name} is linear in its state, h_t = A(x_t) h_(t-1) + b(x_t): {what}{side}; "
            f"the paper places this kind in {COMPLEXITY[kind]}")


def as_dense(cls: Classification) -> Classification:
    """The same classification with A forced to an explicit m x m matrix.

    Lowering it gives the all-dense baseline a structured kind is compared against (a DPLR
    model's circuit must be smaller than this one).
    """
    from dataclasses import replace

    form = cls.linear
    if form.dense is not None:
        return cls
    m = form.offset.shape[0]
    terms = []
    if form.diag is not None:
        terms.append(Select(form.diag if form.diag.shape else form.diag * np.ones(m),
                            np.arange(m)))
    if form.u is not None:
        terms += [Outer(form.u[:, j], form.v[:, j]) for j in range(cls.rank)]
    if form.coef is not None and form.perm is not None:
        terms.append(Select(form.coef, form.perm))
    matrix = _dense_matrix(terms, m, form.offset.builder)
    return replace(cls, kind="dense", rank=None,
                   linear=replace(form, diag=None, u=None, v=None, coef=None, perm=None,
                                  dense=matrix))
