"""`rc.classify`: which class of recurrence a model is, decided exactly from its cell.

Where this sits: the first lowering stage. It turns the traced cell into the `LinearForm`
(A(x) in its structured form, b(x)) that the prefix lowering (`lower.linear`) consumes.

Pipeline: (1) `linearity.find_blocker` decides from the graph whether h_t is affine in
h_{t-1} (if not, `semiring` may still find it affine over (max, +) or (min, +)); (2) for a
matrix state, a scalar-level dependency analysis finds whether rows (or columns) evolve
separately; (3) `jacobian.replay_affine` extracts b(x) and the structured Jacobian terms;
(4) `kinds.decide` says what matrix A the terms add up to, from its values (`structure`:
exact evaluation at random points, so the kind does not depend on how the step is written),
and builds the combine's leaves from the terms in the form that allows.

Kinds and where the paper places them (Merrill et al. 2026, Fig. 1, Thm 3, 5, 7, 8): scalar,
diagonal and complex-diagonal in TC0 (prior work), permutation-diagonal (one nonzero per row,
or per column: DFA transitions) in NC1 and NC1-complete, dplr and dense in PNC1 and
PNC1-complete; any kind whose A does not depend on x (`time_invariant`, "ungated") in TC0;
nonlinear RNNs in L (log precision) / P (poly precision). Max-plus and min-plus recurrences
are outside the paper (its recurrences are over Q); rnncirc states TC0 for the elementwise ones
as a derived bound (iterated sums and maxima), and NC1-hard for a (max, +) matrix over 5 states
or more (it contains the iterated Boolean matrix product), no class below 5 states.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.tracer import Sym
from rnncirc.ir.ops import Op
from rnncirc.lower import structure
from rnncirc.lower.jacobian import AffineStep, Dense, Outer, Select, replay_affine
from rnncirc.lower.kinds import LinearForm, decide, scalar_ids
from rnncirc.lower.linearity import find_blocker
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
#: a (max, +) or (min, +) matrix recurrence over a finite state (Viterbi, shortest paths)
DENSE_SEMIRING = "NC1-hard (derived, not in the paper)"
#: the same with fewer than 5 states, where Barrington's bound does not apply
FEW_STATES_SEMIRING = "not placed (fewer than 5 states; not in the paper)"


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
    kind, form, rank, invariant = decide(model, affine, form)
    return Classification(kind, "TC0" if invariant else COMPLEXITY[kind],
                          _reason(model, kind, rank, affine, form, invariant), rank,
                          affine.side, form, invariant)


def _semiring(model: RNN, blocker) -> Classification | None:
    """A step that is nonlinear over the reals but linear over (max, +) or (min, +)."""
    found = semiring_form(model.cell)
    if found is None:
        return None
    affine, a = found.affine, found.a
    invariant = structure.sample(affine, a, model.alphabet).invariant()
    op = "max" if found.kind == "max-plus" else "min"
    dense = found.absent is not None
    step = (f"h_t[i] = {op}_j(h_(t-1)[j] + A(x_t)[i, j]) (with b(x_t) where present), a "
            f"({op}, +) matrix product over a finite state" if dense else
            f"h_t = {op}(h_(t-1) + a(x_t), b(x_t)) elementwise")
    boolean = (f"with entries 0 and {'-' if op == 'max' else '+'}inf it is the iterated "
               f"Boolean matrix product, NC1-complete for 5 states and more (Barrington)")
    states = a.shape[0]
    derived = (f"derived: {boolean}, so not in TC0 unless TC0 = NC1" if dense and states >= 5
               else f"derived: {boolean}; with {states} states that bound does not apply and "
                    f"rnncirc derives none" if dense else
               f"derived: iterated sums and {op}ima are in TC0")
    reason = (f"{model.name} is not linear over the reals ({blocker.why}) but it is over the "
              f"({op}, +) semiring: {step}, whose steps compose associatively, so it is "
              f"lowered by the same prefix networks with + and {op} gates; the paper's classes "
              f"are for recurrences over Q and do not place it ({derived})")
    complexity = (DENSE_SEMIRING if states >= 5 else FEW_STATES_SEMIRING) if dense else \
        COMPLEXITY[found.kind]
    offset = affine.offset.reshape(-1, 1)
    form = LinearForm(affine, offset, dense=a, absent=found.absent) if dense else \
        LinearForm(affine, offset, diag=a)
    return Classification(found.kind, complexity, reason, None, affine.side, form, invariant)


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
    if form.seen_rank is not None:  # the terms do not show the rank the values have
        built = f"rank {rank}" if kind == "dplr" else "dense"
        what += (f"; its values say diagonal plus rank {form.seen_rank}, built as {built} "
                 f"from its terms")
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
