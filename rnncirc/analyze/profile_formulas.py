"""The formulas of a depth profile: the family formula of the topology built at the longest
length, with exact branches where "auto" builds another family, and the notes that say why.

Where this sits: under `profile` (`rc.depth_profile`), over `analyze.formulas`,
`analyze.maxplus` and `analyze.report.family_formulas`, which fit one family. Fitted
formulas and "auto"'s choices per length are kept per live model (weak keys: they go with it).
"""

from __future__ import annotations

import weakref

from rnncirc.frontend.model import RNN

#: up to this length, "auto" is resolved at every n to find where its family changes
_AUTO_SCAN = 64

#: per live model (an RNN hashes by identity), gone with it: its formulas per family
_FORMULA_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_family_formulas(model: RNN, cls, family: str, outputs: str, measure=None,
                           objective: str = "depth"):
    """`family_formulas`, cached per (model, topology, outputs, objective) while the model
    lives.

    `measure(n) -> (depth, size)` lets the fit reuse circuits the caller already built.
    """
    from rnncirc.analyze.formulas import prefix_formulas
    from rnncirc.analyze.report import family_formulas, matrix_size, short_segments

    cache = _FORMULA_CACHE.setdefault(model, {})
    key = (family, outputs, objective)
    if key in cache:
        return cache[key]
    if family == "sequential" or measure is None:
        found = family_formulas(model, cls, family, outputs, objective)
    else:
        found = prefix_formulas(measure, family, outputs, short_segments(cls),
                                matrix_size(cls))
    cache[key] = found
    return found


def profile_formulas(model, cls, topology, outputs, family, chosen, rows, objective="depth"):
    """(depth, size, note): the family's formulas patched where another family is used."""
    from rnncirc.analyze.formula_eval import evaluate_formula
    from rnncirc.compiler import compile_model
    from rnncirc.lower.measure import measure_linear

    measured = {row["length"]: (row["depth"], row["size"]) for row in rows}
    built = {n: measured[n] for n, t in chosen.items() if t == family}

    def measure(n: int) -> tuple[int, int]:
        if n not in built:
            exact = measure_linear(model, cls, n, family, outputs, objective=objective)
            built[n] = (exact.depth, exact.size)
        return built[n]

    depth_f, size_f = cached_family_formulas(model, cls, family, outputs, measure, objective)
    if depth_f is None and size_f is None:
        return None, None, _no_formula_note(cls, family)
    other = {n for n, t in chosen.items() if t != family}
    if topology == "auto" and cls.is_linear:  # where else does "auto" leave the family?
        for n in range(1, min(_AUTO_SCAN, max(chosen)) + 1):
            topo = resolve(model, cls, n, topology, outputs, objective)
            if topo != family:
                other.add(n)
                if n not in measured:
                    circuit = compile_model(model, n, topology=topo, outputs=outputs,
                                            objective=objective).circuit
                    measured[n] = (circuit.depth, circuit.size)
    patched, missed = [], set()
    for k, formula in enumerate((depth_f, size_f)):
        if formula is None:
            patched.append(None)
            continue
        differ = {n: values[k] for n, values in sorted(measured.items())
                  if evaluate_formula(formula, n) != values[k]}
        missed.update(n for n in differ if n not in other)
        patched.append(with_branches(formula, differ))
    notes = []
    if other:
        below = sorted({chosen.get(n) or resolve(model, cls, n, topology, outputs, objective)
                        for n in other})
        notes.append(f"'{topology}' builds {family} from n = {max(other) + 1} on and "
                     f"{' or '.join(below)} below; the formulas hold at every such n")
    if missed:
        notes.append(f"the {family} formula fitted on small n misses the measured circuit at "
                     f"n = {', '.join(map(str, sorted(missed)))} (constant folding: e.g. a "
                     f"constant decay whose long products underflow to 0 drops gates); those "
                     f"lengths are exact branches")
    note = "; ".join(notes) or None
    if depth_f is None or size_f is None:
        missing = "depth" if depth_f is None else "size"
        note = "; ".join(filter(None, [note, f"no exact {missing} formula: "
                                       + _no_formula_note(cls, family)]))
    return patched[0], patched[1], note


def resolve(model, cls, n: int, topology: str, outputs: str, objective: str = "depth") -> str:
    """`resolve_topology`, memoized per classification (it builds every candidate network,
    and measures dense and DPLR circuits)."""
    from rnncirc.compiler import resolve_topology

    cache = _RESOLVED.setdefault(model, {})
    key = (n, topology, outputs, objective)
    if key not in cache:
        cache[key] = resolve_topology(model, cls, n, topology, outputs, objective)
    return cache[key]


#: per live model (an RNN hashes by identity), gone with it: `resolve`'s choices
_RESOLVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remember_choices(model, choices: dict) -> None:
    """Keep choices of "auto" made elsewhere (a profile's rows computed as Dask tasks) as if
    `resolve` had made them: {(n, topology, outputs, objective): topology}."""
    _RESOLVED.setdefault(model, {}).update(choices)


def with_branches(formula, values: dict[int, int]):
    import sympy as sp

    if not values:
        return formula
    n = next(iter(formula.free_symbols), sp.Symbol("n", integer=True, positive=True))
    branches = [(sp.Integer(v), sp.Eq(n, k)) for k, v in values.items()]
    if isinstance(formula, sp.Piecewise):
        return sp.Piecewise(*branches, *formula.args)
    return sp.Piecewise(*branches, (formula, True))


def _no_formula_note(cls, family: str) -> str:
    from rnncirc.lower import segment_sum

    if cls.kind == "dplr" and family not in segment_sum.TOPOLOGIES:  # (those are dense)
        return (f"the {family} lowering of a DPLR model keeps each A = D + U V^T in low-rank "
                f"form while its rank (which adds up along a segment) stays small, so a "
                f"combine's cost depends on the lengths of its segments; no combination of "
                f"rnncirc's terms (network counts, short-segment counts, log2 and "
                f"power-of-two terms) matched every measured length (the rows are measured "
                f"exactly)")
    return (f"rnncirc found no exact closed form in n for the {family} family of this model "
            f"(the rows are measured)")
