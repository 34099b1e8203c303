"""Exact depth and size of a prefix lowering without building the whole circuit.

Where this sits: `rc.compile(topology="auto")` compares every prefix family by the depth and
size of the circuit it would build, and the formula fitter (`analyze.formulas`) samples many
lengths; building each candidate in full would cost more than the compilation itself (a
dense Kogge-Stone network at n = 1024 has about 10^8 gates). This module gets the same two
numbers from a small fraction of the gates.

Why it is exact. The circuit of a combine is a fixed function of its two operands' gate ids,
so two values built by the same tree of combines over the same kind of leaves (every leaf but
the first is one tiled template; leaf 0 also carries h_0) have entries of identical depth.
Values are hash-consed by that *shape*, and the real lowering code (`lower.linear`,
`lower.combine`) builds one combine per distinct (left shape, right shape) pair in a scratch
builder: levels of the scratch gates are the levels the full circuit would have, so the depth
of every output is read off its shape. Networks repeat shapes heavily (Kogge-Stone has one
interior shape per level), so the scratch circuit holds roughly one apply per output plus one
combine per distinct interior shape.

Size is additive: every combine's gate count depends only on the representation of its
operands (rank or dense for DPLR, which entries of A and B are constant and which constants,
since the builder folds them) and on whether it builds an A part. The class of a combine is
that: its operands' representations as the scratch build made them (a *signature* per
shape), their segment lengths clipped at a small bound, and `need_a`. A segment length alone
does not decide it: a dense A with structural zeros fills in over as many steps as it
takes. Gates per combine are read per class from the scratch build and multiplied by the
class counts of the full network (numpy over its index arrays). Leaves cost a fixed number of
gates per step. Should two combines of one class still differ in gate count, the circuit is
built instead: the answer stays exact.

What a combine builds is decided by its operands, but which of those gates survive is decided
by its consumers: a product with an entry that stays the constant 0 (a coordinate b(x) and h_0
never reach, a structural zero of A) folds away, and the operand gates it would have read are
dropped with it when nothing else reads them. One shape stands for values with different
consumers, so where any stored entry is a constant 0, the liveness of a shape's gates is not
one number and the circuit is built instead; so is it where a gather A leaves a coordinate
unread (`_leaves_coordinates_unread`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from rnncirc.frontend.model import RNN
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.levels import compute_levels
from rnncirc.ir.ops import ARITY, Op
from rnncirc.lower import combine, prefix, segment_sum
from rnncirc.lower.classify import Classification
from rnncirc.lower.objective import rank


@dataclass(frozen=True)
class Measure:
    """Depth and size of the circuit `lower_form` would build, and the scratch cost."""

    depth: int
    size: int
    scratch_gates: int


def measure_linear(model: RNN, cls: Classification, length: int, topology: str,
                   outputs: str = "all", net: prefix.PrefixNetwork | None = None,
                   objective: str = "depth") -> Measure:
    """Exact (depth, size) of ``lower_linear(model, cls, length, topology, outputs,
    objective)``: of A combined in the form `best_form` picks."""
    form = best_form(model, cls, length, topology, outputs, objective)
    return measure_form(model, form, length, topology, outputs, net)


#: the length at which A's forms are compared, and the most gates a probe of another form
#: than the kind's own may have
FORM_PROBE_LENGTH = 64
PROBE_GATES = 4_000_000


def best_form(model: RNN, cls: Classification, length: int, topology: str,
              outputs: str = "all", objective: str = "depth") -> Classification:
    """Of A's forms (`lower.linear.lowering_forms`), the one whose circuit is best by
    `objective` on this topology: `cls` itself where it is the only one.

    The forms are compared once, at `FORM_PROBE_LENGTH` steps, not at every length: a
    form's cost per level is what differs, so the comparison holds from a few levels on, and
    one form for every n keeps the family's depth and size exact closed forms in n (the
    report's formulas) where a choice per n would switch back and forth near ties.
    """
    from rnncirc.ir.memory import fits
    from rnncirc.lower.linear import lowering_forms
    from rnncirc.lower.linear_estimate import estimate_gates_from_n

    forms = lowering_forms(cls)
    if len(forms) == 1 or topology in segment_sum.TOPOLOGIES or topology == "sequential":
        return cls
    decided = _FORMS.setdefault(cls, {})
    key = (topology, outputs, objective)
    if key not in decided:
        probe = FORM_PROBE_LENGTH
        # a form whose probe alone would be large is not compared (a dense 120 x 120 DFA
        # matrix is 10^8 gates at n = 64): the kind's own form is kept
        ranked = [(rank(objective, *_depth_size(measure_form(model, form, probe, topology,
                                                               outputs))), k)
                  for k, form in enumerate(forms)
                  if k == 0 or estimate_gates_from_n(form, probe, topology, outputs)
                  <= PROBE_GATES]
        decided[key] = min(ranked)[1]
    chosen = forms[decided[key]]
    # another form only where its circuit could be built: the kind's own is the one the
    # lowering refuses with its estimate
    if chosen is not cls and not fits(estimate_gates_from_n(chosen, length, topology, outputs)):
        return cls
    return chosen


#: per live classification, the form decided per (topology, outputs, objective)
_FORMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _depth_size(measure: Measure) -> tuple[int, int]:
    return measure.depth, measure.size


def measure_form(model: RNN, cls: Classification, length: int, topology: str,
                 outputs: str = "all", net: prefix.PrefixNetwork | None = None) -> Measure:
    """Exact (depth, size) of ``lower_form(model, cls, length, topology, outputs)``."""
    if topology in segment_sum.TOPOLOGIES:  # no prefix network: measured on the circuit
        from rnncirc.lower.segment_lower import lower_segment_sum

        circuit = lower_segment_sum(model, cls, length, topology, outputs)
        return Measure(circuit.depth, circuit.size, circuit.size)
    n = length
    # The first leaf is special-cased for n = 1, and tiny circuits are cheap. A permutation
    # whose positions are circuit values finishes its own representation when it is first
    # used (`combine_permutation`'s SymbolPermutationAlgebra, FunctionAlgebra), so one shape
    # standing for many values would pay that once instead of once per value: those circuits
    # are built. So are semiring ones: max(x, x) folds to x, so a combine of two values of one
    # shape (one set of ids in the scratch) would fold where the circuit's does not.
    dynamic = cls.linear.symbol_perm is not None or cls.linear.index is not None
    if n > 2 and not dynamic and cls.kind not in ("max-plus", "min-plus") \
            and not _leaves_coordinates_unread(cls):
        net = net if net is not None else prefix.build(n, topology, outputs)
        shapes = _shapes(net)
        try:
            scratch = _Scratch(model, cls, shapes, net)
        except _UnequalCosts:
            pass
        else:
            if scratch.has_zero_entries:
                return _built(model, cls, n, topology, outputs)
            depth = int(scratch.output_levels(shapes.output_shapes(net)).max(initial=0))
            size = scratch.leaf_gates(n) + scratch.combine_gates(net)
            return Measure(depth, size, scratch.builder_gates)
    return _built(model, cls, n, topology, outputs)


def _leaves_coordinates_unread(cls: Classification) -> bool:
    """A gather A (row j reads r[perm[j]]) that reads no row from some coordinate: the b
    entries of that coordinate are read by the outputs of their own segment only, so their
    gates live or die by which outputs are kept, not by their shape (the same reason as a
    constant 0 entry)."""
    linear = cls.linear
    if linear.perm is None or linear.orient != "row":
        return False
    return len(np.unique(linear.perm)) < len(linear.perm)


def _built(model: RNN, cls: Classification, n: int, topology: str, outputs: str) -> Measure:
    from rnncirc.lower.linear import lower_form

    circuit = lower_form(model, cls, n, topology, outputs)
    return Measure(circuit.depth, circuit.size, circuit.size)


class _UnequalCosts(Exception):
    """Two combines of one class built different numbers of gates."""


@dataclass
class _Shapes:
    """Hash-consed shapes: value id -> shape id; per new shape its operand shapes."""

    of_value: np.ndarray  # (n + net.size,) shape of every value of the network
    length: np.ndarray  # segment length of each shape
    levels: list  # per network level: (left shape, right shape, need_a, new shape) arrays

    def output_shapes(self, net) -> np.ndarray:
        return self.of_value[net.result]


def _shapes(net) -> _Shapes:
    n = net.n
    of_value = np.empty(n + net.size, dtype=np.int64)
    of_value[0] = 0  # leaf 0 carries h_0 (and no A part)
    of_value[1:n] = 1
    lengths = [1, 1]
    table: dict[tuple[int, int, int], int] = {}
    per_level = []
    next_value = n
    for level in net.levels:
        left = of_value[level.left_src]
        right = of_value[level.right_src]
        need_a = (level.left_lo > 0).astype(np.int64)
        keys = np.stack([left, right, need_a], axis=1)
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        ids = np.empty(len(unique), dtype=np.int64)
        fresh = []
        for k, key in enumerate(map(tuple, unique.tolist())):  # one per distinct shape
            shape = table.get(key)
            if shape is None:
                shape = table[key] = len(lengths)
                lengths.append(lengths[key[0]] + lengths[key[1]])
                fresh.append(k)
            ids[k] = shape
        of_value[next_value:next_value + len(level)] = ids[inverse.ravel()]
        next_value += len(level)
        fresh = np.asarray(fresh, dtype=np.int64)
        per_level.append((unique[fresh, 0], unique[fresh, 1], unique[fresh, 2].astype(bool),
                          ids[fresh]))
    return _Shapes(of_value, np.asarray(lengths, dtype=np.int64), per_level)


def segment_clip(cls: Classification) -> int:
    """Segment length above which a combine's cost no longer changes with the length.

    A DPLR segment of length L has rank L r until that passes max(r, m // 2), then it is dense;
    B's zero pattern settles after two combines for every kind.
    """
    if cls.kind == "dplr":
        m = cls.linear.offset.shape[0]
        return max(cls.rank, m // 2) // cls.rank + 2
    return 3


class _Scratch:
    """The lowering of the distinct shapes only, in a scratch builder."""

    def __init__(self, model: RNN, cls: Classification, shapes: _Shapes, net) -> None:
        from rnncirc.lower.linear import _algebra, _leaves, _reduced, combine_values, fold_h0

        form = cls.linear
        side = form.affine.side
        m, _ = form.offset.shape
        self.clip = segment_clip(cls)
        self.shapes = shapes
        builder = GateBuilder(capacity=1 << 12)
        k = model.cell.input.size
        h0 = _reduced(np.asarray(model.init), side)

        # leaves of step 0 (shape 0) and of one regular step (shape 1), built apart so that
        # each one's gates can be counted
        inputs = builder.leaf(Op.INPUT, np.arange(2 * k)).reshape(2, k)
        first = _leaves(cls, builder, inputs[:1], first_needs_a=True)
        leaf_rows = builder.n
        regular = _leaves(cls, builder, inputs[1:], first_needs_a=True)
        # per-step tensors stack; a static permutation (wiring) and the identity keys of
        # per-symbol permutations are one for all steps, built with step 0 by the lowering
        shared = {"ident"} | ({"perm"} if cls.linear.perm is not None else set())
        leaves = {name: first[name] if name in shared
                  else np.concatenate([first[name], regular[name]]) for name in regular}
        algebra = _algebra(cls, builder, m, len(shapes.length))
        algebra.put_leaves(np.arange(2), leaves)
        parts = combine.Store(len(shapes.length), {"B": (m, form.offset.shape[1])})
        self.builder, self.algebra, self.parts = builder, algebra, parts
        self.signature = np.full(len(shapes.length), -1, dtype=np.int64)
        self.has_zero_entries = False
        self._signature_ids: dict[bytes, int] = {}
        # (first row, end row, class key, combines): whose gates are whose
        groups = [(0, leaf_rows, "leaf 0", 1), (leaf_rows, builder.n, "leaf", 1)]
        fold_rows = builder.n
        parts.put(np.arange(2), B=fold_h0(builder, algebra, leaves["offset"], h0))
        groups.append((fold_rows, builder.n, "leaf 0", 0))
        self._sign(np.arange(2))

        # one vectorized combine per (level, class) over the distinct shapes
        builder.node_id = -1
        for depth, (left, right, need_a, new) in enumerate(shapes.levels, start=1):
            if hasattr(algebra, "level"):
                algebra.level = depth
            classes = self._classes(left, right, need_a)
            for key in np.unique(classes, axis=0):
                group = np.flatnonzero((classes == key).all(axis=1))
                start = builder.n
                combine_values(builder, algebra, parts, right[group], left[group], new[group],
                               need_a[group])
                groups.append((start, builder.n, tuple(int(v) for v in key), len(group)))
            self._sign(new)
        self.builder_gates = _gates(builder, 0)
        self.cost = self._costs(groups, parts.get(shapes.output_shapes(net), "B"))

    def _costs(self, groups, outputs: np.ndarray) -> dict:
        """Live gates per combine of each class (and per leaf), from the scratch circuit.

        Gates no output reads (an A entry of step 0 that only meets a zero of h_0, the last
        keys of a sort) are dropped by the full lowering, so they are not counted.
        """
        from rnncirc.ir.levels import live_mask

        rows = self.builder.arrays(copy=False)
        live = live_mask(rows["op"], rows["a"], rows["b"], rows["c"], ARITY,
                         outputs.ravel().astype(np.int64))
        counted = np.concatenate([[0], np.cumsum(live & (ARITY[rows["op"]] > 0))])
        totals: dict = {}
        for start, end, key, count in groups:
            gates, combines = totals.get(key, (0, 0))
            totals[key] = (gates + int(counted[end] - counted[start]), combines + count)
        cost = {}
        for key, (gates, combines) in totals.items():
            per_combine, remainder = divmod(gates, combines)
            if remainder:
                raise _UnequalCosts(key)
            cost[key] = per_combine
        return cost

    def _sign(self, shapes: np.ndarray) -> None:
        """Give each shape the id of its representation: per stored entry (A's fields of the
        algebra, B) whether it is unset, a gate or input, or which constant."""
        named = [("B", self.parts.fields["B"])] + [
            (name, array) for name, array in self.algebra.store.fields.items()
            if name not in getattr(self.algebra, "WIRING_FIELDS", ())]
        ids = np.concatenate([f[shapes].reshape(len(shapes), -1) for _, f in named],
                             axis=1).astype(np.int64)
        is_const = self.builder.is_const(np.maximum(ids, 0)) & (ids >= 0)
        kind = np.where(ids < 0, 0, np.where(is_const, 2, 1))
        value = np.where(is_const, self.builder.const_value(np.maximum(ids, 0)), 0.0)
        padding = getattr(self.algebra, "PADDING_FIELDS", ())
        read = np.concatenate([np.full(f[shapes].reshape(len(shapes), -1).shape[1],
                                       name not in padding) for name, f in named])
        self.has_zero_entries |= bool((is_const & (value == 0.0) & read).any())
        table = np.concatenate([kind, value.view(np.int64)], axis=1)
        unique, inverse = np.unique(table, axis=0, return_inverse=True)
        ids_of_unique = np.array([self._signature_ids.setdefault(row.tobytes(),
                                                                 len(self._signature_ids))
                                  for row in unique], dtype=np.int64)  # one per distinct row
        self.signature[shapes] = ids_of_unique[inverse.ravel()]

    def _classes(self, left, right, need_a) -> np.ndarray:
        lengths = np.minimum(self.shapes.length, self.clip)
        return np.stack([need_a.astype(np.int64), lengths[left], lengths[right],
                         self.signature[left], self.signature[right]], axis=1)

    def leaf_gates(self, n: int) -> int:
        return self.cost["leaf 0"] + (n - 1) * self.cost.get("leaf", 0)

    def combine_gates(self, net) -> int:
        total = 0
        of_value = self.shapes.of_value
        for level in net.levels:
            need_a = level.left_lo > 0
            classes = self._classes(of_value[level.left_src], of_value[level.right_src],
                                    need_a)
            keys, counts = np.unique(classes, axis=0, return_counts=True)
            total += sum(self.cost[tuple(int(v) for v in key)] * int(c)
                         for key, c in zip(keys, counts, strict=True))
        return total

    def output_levels(self, output_shapes: np.ndarray) -> np.ndarray:
        rows = self.builder.arrays(copy=False)
        levels = compute_levels(rows["op"], rows["a"], rows["b"], rows["c"], ARITY)
        b_ids = self.parts.get(output_shapes, "B")
        return levels[b_ids.reshape(len(output_shapes), -1)].max(axis=1)


def _gates(builder: GateBuilder, start: int) -> int:
    """Gate rows (not constants or inputs) appended since row `start`."""
    rows = builder.arrays(copy=False)
    return int(np.count_nonzero(ARITY[rows["op"][start:]] > 0))
