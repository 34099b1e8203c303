"""Prefix lowering of a linear recurrence: log-depth circuits from h_t = A(x_t) h_{t-1} + b(x_t).

Summary of the algorithm.
1. Leaves: the tensors of A(x) (in the structured form `classify` found) and b(x) are
   scalarized for all n steps at once (one instance per step), straight from the inputs.
2. h_0 is folded into the first leaf, b_1 <- A_1 h_0 + b_1, so every output is a pure B part.
3. A prefix network (`lower.prefix`) says which segments to combine at each level. Each level
   is one vectorized instantiation of the combine (`lower.combine`) over all its pairs:
   B = A_right B_left + B_right (one balanced tree per entry), and A = A_right A_left only
   where some later combine needs it: a segment that starts at step 0 is an output prefix and
   never multiplies anything, so its A is not built.
4. Gates that no output reads are dropped; the B parts of the result prefixes are the states.
"""

from __future__ import annotations

import numpy as np

from rnncirc.frontend.model import RNN
from rnncirc.frontend.tracer_arrays import concat
from rnncirc.ir.builder import GateBuilder, rounded_info
from rnncirc.ir.circuit import SHARED_NODE, Circuit, CircuitInfo
from rnncirc.ir.memory import BUILD_BYTES_PER_GATE, ensure_fits
from rnncirc.ir.ops import ARITY, Op
from rnncirc.ir.simplify import simplify
from rnncirc.lower import combine, combine_permutation, prefix
from rnncirc.lower.classify import Classification, as_dense
from rnncirc.lower.scalarize import scalarize
from rnncirc.lower.semiring_dense import DenseMaxPlusAlgebra
from rnncirc.lower.unroll import drop_dead

#: the semiring kinds (`lower.semiring`) and the op that is their sum
SEMIRING_JOIN = {"max-plus": Op.MAX, "min-plus": Op.MIN}

#: id entries handled per batch of combines (bounds temporary memory)
_BATCH_ENTRIES = 1 << 21


def _algebra(cls: Classification, builder: GateBuilder, m: int, capacity: int):
    form = cls.linear
    if cls.kind == "scalar":
        return combine.ScalarAlgebra(builder, m, capacity)
    if cls.kind == "diagonal":
        return combine.DiagonalAlgebra(builder, m, capacity)
    if cls.kind == "complex-diagonal":
        return combine.ComplexDiagonalAlgebra(builder, m, capacity, form.blocks)
    if cls.kind == "permutation-diagonal":
        if form.perm is not None:
            if form.orient == "column":
                return combine_permutation.ScatterAlgebra(builder, m, capacity)
            return combine_permutation.PermutationAlgebra(builder, m, capacity)
        if form.index is not None:
            return combine_permutation.FunctionAlgebra(builder, m, capacity, form.orient)
        return combine_permutation.SymbolPermutationAlgebra(builder, m, capacity)
    if cls.kind == "dplr":
        return combine.DplrAlgebra(builder, m, capacity, cls.rank)
    if cls.kind in SEMIRING_JOIN:
        if form.dense is not None:  # a (max, +) matrix over a finite state (Viterbi)
            return DenseMaxPlusAlgebra(builder, m, capacity, SEMIRING_JOIN[cls.kind],
                                       form.absent)
        return combine.MaxPlusAlgebra(builder, m, capacity, SEMIRING_JOIN[cls.kind])
    return combine.DenseAlgebra(builder, m, capacity)


def _leaf_tensors(cls: Classification) -> dict:
    form = cls.linear
    named = {"offset": form.offset}
    for name in ("diag", "coef", "index", "u", "v", "dense"):
        value = getattr(form, name)
        if value is not None and not (cls.kind == "permutation-diagonal" and name == "diag"):
            named[name] = value
    return named


def _leaves(cls: Classification, builder: GateBuilder, inputs: np.ndarray,
            first_needs_a: bool) -> dict:
    """Ids of every leaf tensor for all steps: name -> (n, *shape).

    The leaf tensors are scalarized once into a one-step template, then tiled over the steps
    (`GateBuilder.tile`). Step 1's A is only built when h_0 is not zero: it multiplies h_0 and
    nothing else, since prefixes starting at step 1 never need their A.
    """
    form = cls.linear
    n = inputs.shape[0]
    named = _leaf_tensors(cls)
    # over a semiring h_0 = 0 is not the neutral element (that is -inf): step 1's A is read
    first_needs_a = first_needs_a or cls.kind in SEMIRING_JOIN
    sizes = [t.size for t in named.values()]
    template, consts, out = _leaf_template(form.affine, list(named.values()))
    if first_needs_a or n == 1:
        ids = builder.tile(template, consts, inputs, out)
    else:
        offset_only, offset_consts, offset_out = _leaf_template(form.affine, [form.offset])
        first = builder.tile(offset_only, offset_consts, inputs[:1], offset_out)
        rest = builder.tile(template, consts, inputs[1:], out)
        padded = np.full((1, len(out)), -1, dtype=np.int64)
        padded[0, :sizes[0]] = first[0]
        ids = np.concatenate([padded, rest])
    pieces = np.split(ids, np.cumsum(sizes)[:-1], axis=1)
    leaves = {name: piece.reshape((n,) + t.shape)
              for (name, t), piece in zip(named.items(), pieces, strict=True)}
    if form.perm is not None:
        leaves["perm"] = form.perm
    if form.symbol_perm is not None:  # per-symbol tables, read through the one-hot inputs
        # keys are 1..m, not 0..m-1: a table column of zeros would fold to a constant key, and
        # comparators on constants fold away at the leaves only (see SymbolPermutationAlgebra)
        perm = _complete_permutations(form.symbol_perm, form.symbol_coef) + 1
        k, m = perm.shape
        for name, table in (("perm", perm), ("coef", form.symbol_coef)):
            terms = builder.gates(Op.MUL, np.broadcast_to(inputs[:, None, :], (n, m, k)),
                                  np.broadcast_to(builder.rational(table.T), (n, m, k)))
            leaves[name] = builder.sum_rows(terms.reshape(n * m, k)).reshape(n, m)
        # the identity 1..m once, as the sum of step 1's one-hot input times j: its value is
        # known but the builder cannot fold it, so it sorts like any other key
        ident = np.broadcast_to(inputs[0][None, :], (m, k))
        provenance, builder.node_id = builder.node_id, SHARED_NODE
        terms = builder.gates(Op.MUL, ident, builder.const(np.arange(1.0, m + 1)[:, None]
                                                           * np.ones((1, k))))
        leaves["ident"] = builder.sum_rows(terms)
        builder.node_id = provenance
    return leaves


def _complete_permutations(perm: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Per-symbol perm tables (k, m) made bijective: the sorting combines need a permutation.

    A row with coefficient 0 reads nothing, and `classify` records it as reading itself, which
    can repeat a column another row reads; such rows get the columns no row reads instead.
    """
    perm = np.array(perm, dtype=np.int64)
    k, m = perm.shape
    for s in range(k):  # per symbol, at trace time
        if len(np.unique(perm[s])) < m:
            zero = coef[s] == 0
            perm[s, zero] = np.setdiff1d(np.arange(m), perm[s, ~zero])
    return perm


def _leaf_template(affine, tensors: list):
    """One step's leaf tensors as a structurally hashed template (rows, consts, output ids).

    Cached on the affine step: every length of a profile reuses it.
    """
    key = tuple(t.node.id for t in tensors)
    if key not in affine.templates:
        affine.templates[key] = _build_leaf_template(affine, tensors)
    return affine.templates[key]


def _build_leaf_template(affine, tensors: list):
    template = GateBuilder()
    x = affine.input
    slots = template.leaf(Op.INPUT, np.arange(x.size)).reshape((1,) + x.shape)
    flat = concat([t.reshape(-1) for t in tensors]) if len(tensors) > 1 else \
        tensors[0].reshape(-1)
    out = scalarize(_ancestors(affine.builder.nodes, flat.node), flat.node, template,
                    {x.node.id: slots}, 1)
    rows, outputs = simplify(template.arrays(), out.ravel())
    return rows, np.asarray(template.const_values), outputs


def _ancestors(nodes, output):
    needed = {output.id}
    for node in reversed(nodes):
        if node.id in needed:
            needed.update(o.id for o in node.operands)
    return [node for node in nodes if node.id in needed]


def _reduced(values: np.ndarray, side: str) -> np.ndarray:
    """A full-state array as (m, c) over the reduced state."""
    if side == "right":
        return values.T
    if side == "left":
        return values
    return values.reshape(-1, 1)


def _full(ids: np.ndarray, side: str, state_shape) -> np.ndarray:
    """(P, m, c) ids over the reduced state back to (P, *state_shape)."""
    if side == "right":
        return np.swapaxes(ids, 1, 2)
    return ids.reshape((ids.shape[0],) + tuple(state_shape))


def sum_terms(builder: GateBuilder, terms: list[np.ndarray]) -> np.ndarray:
    """Sum term blocks ((P, m, c) or (P, m, c, T)) entrywise with one balanced tree each."""
    blocks = [t if t.ndim == 4 else t[..., None] for t in terms]
    stacked = np.concatenate(blocks, axis=3)
    p, m, c, k = stacked.shape
    return builder.sum_rows(stacked.reshape(p * m * c, k)).reshape(p, m, c)


def fold_h0(builder: GateBuilder, algebra, offset: np.ndarray, h0: np.ndarray) -> np.ndarray:
    """B parts of the leaves with h_0 folded into the first: b_1 <- A_1 h_0 + b_1."""
    if not np.any(h0 != 0) and not hasattr(algebra, "join_terms"):
        return offset
    offset = offset.copy()
    offset[:1] = join_terms(builder, algebra, algebra.apply_terms(
        np.array([0]), builder.const(h0)[None]) + [offset[:1]])
    return offset


def join_terms(builder: GateBuilder, algebra, terms: list[np.ndarray]) -> np.ndarray:
    """The sum of term blocks in the algebra's semiring: `sum_terms`, or its own (max, min)."""
    if hasattr(algebra, "join_terms"):
        return algebra.join_terms(terms)
    return sum_terms(builder, terms)


def combine_values(builder: GateBuilder, algebra, parts, right, left, results,
                   need_a: np.ndarray) -> None:
    """One vectorized batch of combines: B = A_right B_left + B_right for all, and
    A = A_right A_left where `need_a` (a later combine multiplies by it)."""
    terms = algebra.apply_terms(right, parts.get(left, "B"))
    parts.put(results, B=join_terms(builder, algebra, terms + [parts.get(right, "B")]))
    if need_a.any():
        algebra.compose(right[need_a], left[need_a], results[need_a])


def lower_linear(model: RNN, cls: Classification, length: int, topology: str,
                 outputs: str = "all", objective: str = "depth") -> Circuit:
    """The prefix-network circuit of a linear model (see the module docstring), its A combined
    in the form that is best by `objective` (`lower.measure.best_form`)."""
    from rnncirc.lower.measure import best_form

    chosen = best_form(model, cls, length, topology, outputs, objective)
    circuit = lower_form(model, chosen, length, topology, outputs)
    if chosen is cls:
        return circuit
    return circuit.with_info(kind=cls.kind,
                             extra={**circuit.info.extra, "combine_form": chosen.kind})


def lowering_forms(cls: Classification) -> list[Classification]:
    """The forms A can be combined in: its kind's own algebra, and for the kinds whose
    combine goes through index arithmetic or grows a rank (permutation-diagonal, DPLR) the
    dense m x m product as well, which is shallower at some sizes (a DFA's one-hot columns:
    a dense product is one multiply and a sum tree; composing them as functions selects)."""
    if cls.kind in ("permutation-diagonal", "dplr") and cls.linear.dense is None:
        return [cls, as_dense(cls)]
    return [cls]


#: the way out named when a prefix lowering would not fit in memory
_ADVICE = ("use a smaller --length, --outputs last, or a topology of fewer combines "
           "(brent-kung; or sequential)")


def lower_form(model: RNN, cls: Classification, length: int, topology: str,
               outputs: str = "all") -> Circuit:
    """The prefix-network circuit with A combined exactly in the form `cls` describes."""
    # imported here: the estimate reads this module's leaf templates, so imports go one way
    from rnncirc.lower.linear_estimate import _estimate, ensure_lowering_fits

    n = length
    form = cls.linear
    m, c = form.offset.shape
    ensure_lowering_fits(model, cls, n, topology, outputs)
    net = prefix.build(n, topology, outputs)
    ensure_fits(_estimate(cls, net, m, c), BUILD_BYTES_PER_GATE,
                f"the {topology} lowering of {model.name} over {n} steps", _ADVICE)
    builder = GateBuilder(capacity=1 << 16)
    k = model.cell.input.size
    inputs = builder.leaf(Op.INPUT, np.arange(n * k)).reshape(n, k)
    out, levels, extra = build_linear(builder, inputs, model, cls, topology, outputs, net)
    return _assemble(model, cls, builder, inputs, out, levels, topology, outputs, n, extra)


def build_linear(builder: GateBuilder, inputs: np.ndarray, model: RNN, cls: Classification,
                 topology: str, outputs: str, net=None):
    """Build the prefix lowering into `builder`, step t's input slot s read from
    ``inputs[t, s]``: (ids of the states, ``(n or 1, *state)``; the prefix level of each of
    the last rows built, one per row; extra facts). A program builds each linear layer so,
    straight into its own builder (`lower.program`)."""
    n = inputs.shape[0]
    form = cls.linear
    side = form.affine.side
    m, c = form.offset.shape
    net = net or prefix.build(n, topology, outputs)
    # leaves -> fold h_0 -> prefix levels (the caller drops dead gates)
    h0 = _reduced(np.asarray(model.init), side)
    leaves = _leaves(cls, builder, inputs, first_needs_a=bool(np.any(h0 != 0)))
    capacity = n + net.size
    algebra = _algebra(cls, builder, m, capacity)
    algebra.put_leaves(np.arange(n), leaves)
    builder.node_id = -1  # combine gates come from no cell node
    parts = combine.Store(capacity, {"B": (m, c)})
    offset = leaves["offset"]
    if hasattr(algebra, "offsets"):  # a semiring's absent entries of b are skipped, not added
        offset = algebra.offsets(offset)
    parts.put(np.arange(n), B=fold_h0(builder, algebra, offset, h0))
    levels = np.zeros(0, dtype=np.int32)
    next_value = n
    quadratic = cls.kind in ("dense", "dplr") or form.index is not None or \
        form.dense is not None
    per_pair = m * max(m, 1) * (m + c) if quadratic else 4 * m * (c + 1)
    batch = max(1, _BATCH_ENTRIES // per_pair)
    for depth, level in enumerate(net.levels, start=1):
        if hasattr(algebra, "level"):
            algebra.level = depth
        results = next_value + np.arange(len(level))
        next_value += len(level)
        start_rows = builder.n
        for lo in range(0, len(level), batch):
            chunk = slice(lo, lo + batch)
            combine_values(builder, algebra, parts, level.right_src[chunk],
                           level.left_src[chunk], results[chunk], level.left_lo[chunk] > 0)
        levels = np.concatenate([levels, np.full(builder.n - start_rows, depth, np.int32)])
    out = parts.get(net.result, "B")
    if hasattr(algebra, "outputs"):  # a state no path reaches is the semiring zero
        out = algebra.outputs(out)
    out = _full(out, side, model.state_shape)
    extra = {"prefix_depth": net.depth, "prefix_size": net.size, "step_column": "prefix level"}
    if cls.kind == "dplr":
        extra["dense_from_level"] = algebra.first_dense_level
    return out, levels, extra


def _assemble(model, cls, builder: GateBuilder, inputs, out, levels, topology, outputs, n,
              extra) -> Circuit:
    rows = builder.arrays(copy=False)
    total = len(rows["op"])
    step = np.zeros(total, dtype=np.int32)
    step[total - len(levels):] = levels
    columns = {"op": rows["op"], "step": step, "node": rows["node"],
               "a": rows["a"], "b": rows["b"], "c": rows["c"]}
    # constant rows hold their index into const_values in `a` already
    info = CircuitInfo(model=model.name, length=n, state_shape=model.state_shape,
                       input_size=model.input_size, alphabet=model.alphabet,
                       topology=topology, outputs=outputs, kind=cls.kind,
                       cell_labels=tuple(node.label for node in cls.linear.affine.builder.nodes),
                       extra=extra | rounded_info(builder))
    circuit = Circuit(**columns, consts=np.asarray(builder.const_values, dtype=np.float64),
                      inputs=inputs.astype(np.int32), outputs=out.astype(np.int32), info=info)
    assert ARITY[circuit.op[circuit.inputs.ravel()]].max(initial=0) == 0
    return drop_dead(circuit)
