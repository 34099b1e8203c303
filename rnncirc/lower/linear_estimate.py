"""Up-front gate estimates of a prefix lowering (`lower.linear`), before anything is built.

Where this sits in the pipeline. Before `lower.linear` builds a prefix network's circuit, the
compiler (`compiler.ensure_feasible`, `compiler.resolve_topology`) and `lower_form` itself ask
here how many gates it would make, and refuse a request that would not fit in memory
(`ir.memory.ensure_fits`), naming the largest length that would. `estimate_gates_from_n`
works from closed forms in n alone, before any network exists; `estimate_gates` counts per
level of a network already built. Both read the model's one-step leaf template, the one the
lowering tiles (`linear._leaf_template`), and the per-kind costs of one apply, compose and
leaf of the combine algebras (`lower.combine`).
"""

from __future__ import annotations

import numpy as np

from rnncirc.frontend.model import RNN
from rnncirc.ir.memory import BUILD_BYTES_PER_GATE, ensure_fits
from rnncirc.ir.ops import ARITY, Op
from rnncirc.lower import prefix, sorting
from rnncirc.lower.classify import Classification
from rnncirc.lower.linear import (
    _ADVICE,
    SEMIRING_JOIN,
    _complete_permutations,
    _leaf_template,
    _leaf_tensors,
    lowering_forms,
)


def estimate_gates(cls: Classification, net) -> int:
    """Upper estimate of the gate count of a prefix lowering, before building anything: of
    the largest of the forms the lowering could combine A in (see `estimate_gates_from_n`),
    per level of the network, and never below `estimate_gates_from_n` (a DPLR product's rank
    is counted per level here, so a refusal from n is one this would make too)."""
    m, c = cls.linear.offset.shape
    return max([_estimate(form, net, m, c) for form in
                _possible_forms(cls, net.n, net.topology, net.outputs)]
               + [estimate_gates_from_n(cls, net.n, net.topology, net.outputs)])


def ensure_lowering_fits(model: RNN, cls: Classification, n: int, topology: str,
                         outputs: str) -> None:
    """Refuse, before anything is built, a prefix lowering that would not fit in memory: the
    estimate comes from n alone (`estimate_gates_from_n`), in well under a second for any n,
    and the refusal names the largest length that would fit."""
    def gates(k: int) -> int:
        return estimate_gates_from_n(cls, k, topology, outputs)

    def network_bytes(k: int) -> float:
        return prefix.exact_size(topology, outputs, k) * prefix.BYTES_PER_COMBINE

    advice = _ADVICE if topology != "brent-kung" else \
        "use a smaller --length, --outputs last, or --topology sequential"
    ensure_fits(gates(n), BUILD_BYTES_PER_GATE,
                f"the {topology} lowering of {model.name} over {n:,} steps", advice,
                rows_at=gates, length=n, extra_at=network_bytes)


def estimate_gates_from_n(cls: Classification, n: int, topology: str, outputs: str) -> int:
    """`estimate_gates` from closed forms in n alone, before any network is built (O(log n)):
    the largest of the forms the lowering could combine A in (`lowering_forms`; `best_form`
    never picks one that would not fit), so it fits exactly where the kind's own form fits."""
    return max(_form_gates_from_n(form, n, topology, outputs)
               for form in _possible_forms(cls, n, topology, outputs))


def _possible_forms(cls: Classification, n: int, topology: str,
                    outputs: str) -> list[Classification]:
    """The forms `lower.measure.best_form` may pick for this lowering: the kind's own, and
    each other form that it probes (its probe is small enough) and that would fit at n."""
    from rnncirc.ir.memory import fits
    from rnncirc.lower.measure import FORM_PROBE_LENGTH, PROBE_GATES

    forms = lowering_forms(cls)
    if len(forms) == 1 or topology not in _NETWORKS:
        return [cls]
    return [cls] + [form for form in forms[1:]
                    if _form_gates_from_n(form, FORM_PROBE_LENGTH, topology, outputs)
                    <= PROBE_GATES and fits(_form_gates_from_n(form, n, topology, outputs))]


#: the prefix networks (the others lower without one, or by unrolling)
_NETWORKS = frozenset(t for t in prefix.TOPOLOGIES if t != "sequential")


def _form_gates_from_n(cls: Classification, n: int, topology: str, outputs: str) -> int:
    """The estimate from n of A combined exactly in the form `cls` describes.

    The network's size is `prefix.exact_size`. A combine builds an A part unless its segment
    starts at step 0: with ``outputs="all"`` the n - 1 prefixes, each built once, and with
    "last" at most one per level of the tree. A DPLR compose is counted dense (no product
    exceeds that) but for the n // 2 - 1 pairs of single steps that every network composes on
    its first level (the pair of steps 1, 2 is a prefix), which stay low-rank. `estimate_gates`
    counts the rank of each, and never goes below this.
    """
    m, c = cls.linear.offset.shape
    size = prefix.exact_size(topology, outputs, n)
    # the prefixes: n - 1 of them for "all"; at most the tree's depth for "last"
    prefixes = n - 1 if outputs == "all" else (n - 1).bit_length()
    with_a = max(size - prefixes, 0)
    apply_cost, compose_cost, leaf_cost = _unit_costs(cls, m, c)
    composes = with_a * compose_cost
    if cls.kind == "dplr":
        cheap = min(with_a, max(n // 2 - 1, 0))
        low = 2 * m * cls.rank**2 + 2 * m * cls.rank + m
        composes -= cheap * max(compose_cost - low, 0)
    applies = min(size, prefixes) if _zero_offset(cls) else size
    return applies * apply_cost + n * _step_leaf_gates(cls, leaf_cost, m, c) + composes


def _template_constants(cls: Classification) -> tuple[np.ndarray, np.ndarray]:
    """Per output of the one-step leaf template (b's entries first, then A's tensors):
    whether it is a constant, and its value (0 where it is not one)."""
    rows, consts, out = _leaf_template(cls.linear.affine, list(_leaf_tensors(cls).values()))
    is_const = rows["op"][out] == Op.CONST
    value = np.zeros(len(out))
    value[is_const] = consts[rows["a"][out][is_const]]
    return is_const, value


def _zero_offset(cls: Classification) -> bool:
    """b(x) is the constant 0 (a DFA: only h_0 is not), so only the prefixes' applies are
    built, the others fold; not so where the apply moves A by circuit values (sorting)."""
    form = cls.linear
    if form.symbol_perm is not None or form.index is not None or cls.kind in SEMIRING_JOIN:
        return False  # (over a semiring 0 is no zero: max(A + 0, 0) does not fold)
    is_const, value = _template_constants(cls)
    b = form.offset.size
    return bool(is_const[:b].all() and not value[:b].any())


def _constant_a(cls: Classification) -> float | None:
    """The one value of every entry of A where A is that constant for every input, scalar
    or diagonal (a linear attention's A = 1): its products fold. None otherwise."""
    if cls.kind not in ("scalar", "diagonal"):
        return None
    is_const, value = _template_constants(cls)
    b = cls.linear.offset.size
    if not is_const[b:].all() or len(set(value[b:].tolist())) != 1:
        return None
    return float(value[b])


def _unit_costs(cls: Classification, m: int, c: int) -> tuple[int, int, int]:
    """Upper gate counts of one apply (A X + B), one compose (A A) and one leaf."""
    constant = _constant_a(cls)
    if constant is not None:  # A A folds; A X is X itself where A = 1
        return (m * c if constant == 1 else 2 * m * c), 0, m
    if cls.kind in SEMIRING_JOIN and cls.linear.dense is not None:  # (max, +) matrices:
        return 2 * m * m * c, 2 * m**3, 2 * m * m  # m ADD and m - 1 MAX per entry
    if cls.kind in SEMIRING_JOIN:  # an ADD and a MAX per entry; an ADD per entry
        return 2 * m * c, m, 2 * m
    apply_cost = {"scalar": 2 * m * c, "diagonal": 2 * m * c, "complex-diagonal": 4 * m * c,
                  "permutation-diagonal": 3 * m * m + 2 * m * c, "dplr": 2 * m * m * c,
                  "dense": 2 * m * m * c}[cls.kind]
    # a dense product: m^3 MUL and m^2 (m - 1) ADD
    compose_cost = {"scalar": 1, "diagonal": m, "complex-diagonal": 3 * m,
                    "permutation-diagonal": 3 * m * m, "dplr": 2 * m**3 - m * m,
                    "dense": 2 * m**3 - m * m}[cls.kind]
    leaf_cost = {"scalar": 1, "diagonal": m, "complex-diagonal": 2 * m,
                 "permutation-diagonal": 2 * m, "dplr": m * (2 * (cls.rank or 1) + 1),
                 "dense": m * m}[cls.kind]
    if cls.linear.index is not None:
        # indicators (m^2 EQ, once per value), gathers as sums of products (see FunctionAlgebra);
        # an index read off A under rc.where costs m^2 NE and sums in the leaf
        apply_cost = m * m + 2 * m * m * c + m * c
        compose_cost = 4 * m * m + m
        leaf_cost = 3 * m * m
    if cls.kind == "permutation-diagonal" and cls.linear.symbol_perm is not None:
        # per-symbol permutations move by sorting networks of `comps` comparators (3 gates
        # per comparator for the keys, 2 SELECT per payload): a right operand sorts its inverse
        # out (3 + 2) and is sorted by it (3, then 2 per column of B); a compose sorts coef1
        # and perm1 (2 + 2) and multiplies the coefficients
        comps = sorting.comparator_count(m)
        apply_cost = 8 * comps + 2 * comps * c + 2 * m * c
        compose_cost = 4 * comps + m
    return apply_cost, compose_cost, leaf_cost


def _step_leaf_gates(cls: Classification, leaf_cost: int, m: int, c: int) -> int:
    """Gates that make one step's leaves (A_t, b_t from x_t): the model's own one-step
    template (a Mamba step spends hundreds on projections, softplus and exp), never fewer
    than one per leaf entry, and per-symbol permutations' tables (a sum of products each)."""
    rows = _leaf_template(cls.linear.affine, list(_leaf_tensors(cls).values()))[0]
    gates = max(leaf_cost + m * c, int(np.count_nonzero(ARITY[rows["op"]] > 0)))
    form = cls.linear
    if form.symbol_perm is not None:  # the tables read per step (`_leaves`): per entry, a sum
        # over the symbols of one-hot times table value (times 0 and 1 fold)
        for table in (_complete_permutations(form.symbol_perm, form.symbol_coef) + 1,
                      np.asarray(form.symbol_coef)):
            nonzero = np.count_nonzero(table, axis=0)
            gates += int(np.count_nonzero((table != 0) & (table != 1))
                         + np.maximum(nonzero - 1, 0).sum())
    return gates


def _estimate(cls: Classification, net, m: int, c: int) -> int:
    apply_cost, compose_cost, leaf_cost = _unit_costs(cls, m, c)
    zero_offset = _zero_offset(cls)
    total = net.n * _step_leaf_gates(cls, leaf_cost, m, c)
    for level in net.levels:
        with_a = level.left_lo > 0
        total += (len(level) - int(np.count_nonzero(with_a)) if zero_offset
                  else len(level)) * apply_cost
        if cls.kind != "dplr":
            total += int(np.count_nonzero(with_a)) * compose_cost
            continue
        # a DPLR product stays low-rank (rank grows with the segment) until it passes m/2
        r1 = cls.rank * (level.left_hi - level.left_lo + 1)[with_a]
        r2 = cls.rank * (level.right_hi - level.right_lo + 1)[with_a]
        dense = r1 + r2 > max(cls.rank, m // 2)
        low = 2 * m * r1 * r2 + m * (r1 + r2) + m
        total += int(np.where(dense, compose_cost, low).sum())
    return total
