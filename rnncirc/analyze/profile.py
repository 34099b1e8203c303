"""`rc.depth_profile`: depth, size and the other counts of a model over many sequence lengths.

Where this sits: on top of the whole pipeline. For each length it compiles the model exactly
as `rc.compile` would (same topology resolution) and measures the circuit; next to the
measurements it gives exact sympy formulas in n (`family_formulas`) that agree with every
measured row, a notebook table (`_repr_html_`), a matplotlib figure (`plot`) and `to_dict`.

Summary of the algorithm.
1. Resolve the topology per length, as `rc.compile` does ("auto" may pick different prefix
   families at small n).
2. Unrolled lengths (outputs="all") share one circuit: the unroll over n steps is exactly the
   first n steps of the unroll over N >= n steps (the tiles of steps <= n read nothing later),
   so the longest unroll is built once and every count is aggregated per step, then
   accumulated. Prefix-lowered lengths are each built and measured.
3. Formulas: the family formula of the topology used at the largest length (cached per model
   and topology), with exact Piecewise branches for the small lengths where "auto" picks
   another family; every listed row is checked against them with exact arithmetic.
"""

from __future__ import annotations

import html
import re
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program, is_model
from rnncirc.ir.ops import ARITY, OP_NAMES
from rnncirc.lower.objective import check_objective

#: powers of two and the midpoints 3 * 2^k between them, 1 ... 4096
DEFAULT_LENGTHS = tuple(sorted({1 << k for k in range(13)} | {3 << k for k in range(11)}))

#: up to this length, "auto" is resolved at every n to find where its family changes
_AUTO_SCAN = 64

#: per live model (an RNN hashes by identity), gone with it: its formulas per family
_FORMULA_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True, eq=False)
class DepthProfile:
    """Depth, size and counts of one model's circuits over a list of lengths.

    ``rows[i]`` holds ``length, topology, depth, size, op_counts, multiplicative_depth,
    nonconstant_multiplications``. ``depth_formula`` / ``size_formula`` are sympy expressions
    in ``n``, exact at every row; None when rnncirc has no exact formula for the family
    (``formula_note`` says why).
    """

    model: str
    kind: str
    complexity: str
    topology: str
    outputs: str
    family: str
    rows: list[dict]
    depth_formula: object = None
    size_formula: object = None
    formula_note: str | None = None
    seconds: float = 0.0
    state_shape: tuple[int, ...] = field(default=())

    @property
    def lengths(self) -> list[int]:
        return [row["length"] for row in self.rows]

    def column(self, name: str) -> np.ndarray:
        """One count over all rows, as an array (e.g. ``column("depth")``)."""
        return np.array([row[name] for row in self.rows])

    def to_dict(self) -> dict:
        """JSON-ready: the formulas as strings (sympy syntax) and as readable text."""
        return {
            "model": self.model, "kind": self.kind, "complexity": self.complexity,
            "state_shape": list(self.state_shape), "topology": self.topology,
            "family": self.family, "outputs": self.outputs,
            "depth_formula": _str_or_none(self.depth_formula),
            "size_formula": _str_or_none(self.size_formula),
            "depth_formula_text": formula_text(self.depth_formula),
            "size_formula_text": formula_text(self.size_formula),
            "formula_note": self.formula_note,
            "seconds": round(self.seconds, 3),
            "rows": [dict(row) for row in self.rows],
        }

    def plot(self, path=None, ax=None):
        """Depth and size against n (log2 axis); see `plot_profiles`."""
        return plot_profiles([self], path, ax)

    def table(self) -> str:
        """The rows as aligned text, as ``rnncirc profile`` prints them."""
        head = (f"{'n':>6}  {'topology':<15}{'depth':>8}{'size':>13}{'mult.depth':>12}"
                f"{'nonconst.mul':>14}")
        lines = [head]
        for row in self.rows:
            lines.append(f"{row['length']:>6}  {row['topology']:<15}{row['depth']:>8,}"
                         f"{row['size']:>13,}{row['multiplicative_depth']:>12,}"
                         f"{row['nonconstant_multiplications']:>14,}")
        return "\n".join(lines)

    def summary(self) -> str:
        """Model, kind, class, topology and formulas in a few lines."""
        from rnncirc.analyze.formulas import formula_definitions

        lines = [f"{self.model}: {self.kind}, {self.complexity}; topology {self.topology}"
                 + (f" -> {self.family}" if self.topology != self.family else "")
                 + f", outputs={self.outputs}"]
        if self.depth_formula is not None:
            lines.append(f"  depth(n) = {formula_text(self.depth_formula)}")
        if self.size_formula is not None:
            lines.append(f"  size(n)  = {formula_text(self.size_formula)}")
            lines.extend(f"    where {definition}" for definition in formula_definitions(
                formula_text(self.depth_formula), formula_text(self.size_formula)))
        if self.formula_note:
            lines.append(f"  formulas: {self.formula_note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary() + "\n" + self.table()

    def _repr_html_(self) -> str:
        return _profile_html(self)


class DepthProfiles(Sequence):
    """Profiles of several models: a sequence of `DepthProfile`, drawn on one figure."""

    def __init__(self, profiles: Iterable[DepthProfile]):
        self._profiles = list(profiles)

    def __getitem__(self, key):
        if isinstance(key, str):
            for profile in self._profiles:
                if profile.model == key:
                    return profile
            raise KeyError(key)
        return self._profiles[key]

    def __len__(self) -> int:
        return len(self._profiles)

    def plot(self, path=None, ax=None):
        """Depth and size of every model against n, on one figure; see `plot_profiles`."""
        return plot_profiles(self._profiles, path, ax)

    def to_dict(self) -> dict:
        return {"profiles": [p.to_dict() for p in self._profiles]}

    def __repr__(self) -> str:
        return "\n\n".join(repr(p) for p in self._profiles)

    def _repr_html_(self) -> str:
        return _profiles_html(self._profiles)


# -- building --------------------------------------------------------------------------------
def depth_profile(model_or_models, lengths=None, *, topology: str = "auto",
                  outputs: str = "all", client=None,
                  objective: str = "depth") -> DepthProfile | DepthProfiles:
    """Compile `model` at every length and measure depth, size and the other counts.

    Parameters
    ----------
    model_or_models : RNN, or a list / dict of them
        One model gives a `DepthProfile`; several give a `DepthProfiles`.
    lengths : iterable of int, optional
        Sequence lengths (>= 1); default `DEFAULT_LENGTHS`, 1 ... 4096.
    topology : str
        As for `rc.compile`; "auto" is resolved per length exactly as `rc.compile` does.
    outputs : "all" or "last"
    client : a Dask ``distributed.Client``, optional
        Compile and measure each (model, length) row as a task on its workers; the rows and
        formulas are those of a local profile.
    objective : as for `rc.compile`: what "auto" (and the form of a permutation-diagonal or
        DPLR A) optimizes, ``"depth"`` (default), ``"size"`` or ``"balanced"``.

    Returns
    -------
    DepthProfile or DepthProfiles

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=2, inputs=1)
    ... def decay(h, x):
    ...     return rc.sigmoid(x) * h + x
    >>> profile = depth_profile(decay, [1, 2, 4, 8, 1024])
    >>> [row["depth"] for row in profile.rows]
    [0, 3, 5, 7, 21]
    >>> formula_text(profile.depth_formula)
    '2⌈log2 n⌉ + 1 (n >= 2)'
    """
    from rnncirc.compiler import ensure_feasible

    models, single = _as_models(model_or_models)
    lengths = check_lengths(DEFAULT_LENGTHS if lengths is None else lengths)
    for model in models:  # every model's longest length, before any circuit is built
        ensure_feasible(model, lengths[-1], topology, outputs)
    check_objective(objective)
    profiles = [_profile(model, lengths, topology, outputs, client, objective)
                for model in models]
    return profiles[0] if single else DepthProfiles(profiles)


def check_lengths(lengths) -> list[int]:
    """Sorted distinct lengths, each an integer >= 1."""
    try:
        values = [int(n) for n in lengths]
        exact = all(int(n) == n for n in lengths)
    except (TypeError, ValueError):
        raise OptionError(f"lengths must be integers >= 1, got {lengths!r}") from None
    if not values or not exact or min(values) < 1:
        raise OptionError(f"lengths must be a non-empty list of integers >= 1, got {lengths!r}")
    return sorted(set(values))


def _as_models(obj) -> tuple[list[RNN | Program], bool]:
    if is_model(obj):
        return [obj], True
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)) and obj and all(is_model(m) for m in obj):
        return list(dict.fromkeys(obj)), False
    raise OptionError("depth_profile takes an rnncirc RNN or Program (made with @rc.rnn or "
                      f"@rc.program), or a list or dict of them; got {type(obj).__name__}")


def _profile(model: RNN, lengths: list[int], topology: str, outputs: str,
             client=None, objective: str = "depth") -> DepthProfile:
    from rnncirc.compiler import classify_model, compile_model

    if isinstance(model, Program):
        return _program_profile(model, lengths, topology, outputs, client, objective)
    start = time.perf_counter()
    cls = classify_model(model)
    rows: dict[int, dict] = {}
    if client is not None:  # every row a task, "auto" resolved in it; kept for the formulas
        rows = dict(zip(lengths, _remote(client, [(measured_row, model, n, topology, outputs,
                                                   objective) for n in lengths]), strict=True))
        _RESOLVED.setdefault(model, {}).update(
            {(n, topology, outputs, objective): row["topology"] for n, row in rows.items()})
    chosen = {n: _resolve(model, cls, n, topology, outputs, objective) for n in lengths}
    unrolled = [n for n in lengths if chosen[n] == "sequential" and n not in rows]
    if unrolled and outputs == "all":
        rows.update(_unrolled_rows(model, cls, unrolled))
    for n in lengths:
        if n not in rows:
            built = compile_model(model, n, topology=chosen[n], outputs=outputs,
                                  objective=objective)
            rows[n] = measure_circuit(built.circuit)
    ordered = [rows[n] for n in lengths]
    family = chosen[lengths[-1]]
    depth, size, note = _formulas(model, cls, topology, outputs, family, chosen, ordered,
                                  objective)
    return DepthProfile(model=model.name, kind=cls.kind, complexity=cls.complexity,
                        topology=topology, outputs=outputs, family=family, rows=ordered,
                        depth_formula=depth, size_formula=size, formula_note=note,
                        seconds=time.perf_counter() - start,
                        state_shape=tuple(model.state_shape))


def _program_profile(program: Program, lengths: list[int], topology: str,
                     outputs: str, client=None, objective: str = "depth") -> DepthProfile:
    """Each length compiled whole (rows gain ``layers``: each layer's gates and the depth it
    adds); the formulas are the family of the longest length's layer networks, with exact
    branches where "auto" picks other networks. Lengths a ``rc.shift`` cannot take are
    skipped, and the note says so."""
    from rnncirc.analyze.formulas import evaluate_formula
    from rnncirc.analyze.report import program_family_formulas
    from rnncirc.compiler import classify_model

    start = time.perf_counter()
    cls = classify_model(program)
    shortest = max((node.arg for node in program.graph.live_nodes() if node.op == "shift"),
                   default=0) + 1
    usable = [n for n in lengths if n >= shortest]
    if not usable:
        raise OptionError(f"{program.name} shifts its sequences by up to {shortest - 1} "
                          f"positions, so it needs lengths >= {shortest}; every length asked "
                          "for is shorter")
    if client is None:
        built = [_program_row(program, n, topology, outputs, n == usable[-1], objective)
                 for n in usable]
    else:  # every row a task; the longest length's compilation comes back for the formulas
        built = _remote(client, [(_program_row, program, n, topology, outputs,
                                  n == usable[-1], objective) for n in usable])
    rows, last = [row for row, _ in built], built[-1][1]
    depth, size = program_family_formulas(last)
    patched, notes = [], []
    for key, formula in (("depth", depth), ("size", size)):
        if formula is None:
            patched.append(None)
            continue
        differ = {row["length"]: row[key] for row in rows
                  if evaluate_formula(formula, row["length"], strict=False) != row[key]}
        patched.append(_with_branches(formula, differ))
    if depth is None or size is None:
        notes.append("no exact closed form in n matched every measured length and the checks "
                     "past them (the rows are measured)")
    if len(usable) < len(lengths):
        notes.append(f"lengths below {shortest} skipped: rc.shift by {shortest - 1} needs "
                     "longer sequences")
    return DepthProfile(model=program.name, kind=cls.kind, complexity=cls.complexity,
                        topology=topology, outputs=outputs, family=last.topology, rows=rows,
                        depth_formula=patched[0], size_formula=patched[1],
                        formula_note="; ".join(notes) or None,
                        seconds=time.perf_counter() - start,
                        state_shape=tuple(program.state_shape))


def _program_row(program: Program, n: int, topology: str, outputs: str,
                 keep: bool, objective: str = "depth") -> tuple[dict, object]:
    """A program's row at length n (with its layers), and its compilation when `keep`."""
    from rnncirc.analyze.report import layer_rows
    from rnncirc.compiler import compile_model

    done = compile_model(program, n, topology=topology, outputs=outputs, objective=objective)
    row = measure_circuit(done.circuit)
    row["layers"] = [{key: layer[key] for key in ("name", "kind", "topology", "gates",
                                                  "depth_added")}
                     for layer in layer_rows(done.circuit)]
    return row, done if keep else None


def measured_row(model: RNN, n: int, topology: str, outputs: str,
                 objective: str = "depth") -> dict:
    """The row of `model` compiled at length n (a profile task on a Dask worker)."""
    from rnncirc.compiler import compile_model

    return measure_circuit(compile_model(model, n, topology=topology, outputs=outputs,
                                         objective=objective).circuit)


def _remote(client, calls: list[tuple]) -> list:
    """``[f(*args) for f, *args in calls]`` as tasks on a Dask client's workers, in order; an
    interrupt (Ctrl-C) cancels them."""
    futures = [client.submit(f, *args, pure=False) for f, *args in calls]
    try:
        return client.gather(futures)
    except KeyboardInterrupt:
        client.cancel(futures)
        raise


def measure_circuit(circuit) -> dict:
    """The row of one circuit: length, topology, depth, size, op counts, HE/ZK counts."""
    from rnncirc.analyze.counts import multiplicative_scan

    level, flag = multiplicative_scan(circuit)
    return {"length": circuit.length, "topology": circuit.topology, "depth": circuit.depth,
            "size": circuit.size, "op_counts": dict(circuit.op_counts),
            "multiplicative_depth": int(level[circuit.outputs.ravel()].max(initial=0)),
            "nonconstant_multiplications": int(np.count_nonzero(flag))}


def _unrolled_rows(model: RNN, cls, lengths: list[int]) -> dict[int, dict]:
    """Rows of the sequential unroll at every length, from one build at the longest."""
    from rnncirc.analyze.counts import multiplicative_scan
    from rnncirc.compiler import compile_model

    longest = max(lengths)
    circuit = compile_model(model, longest, topology="sequential").circuit
    mlevel, flag = multiplicative_scan(circuit)
    outputs = circuit.outputs.reshape(longest, -1)
    depth = np.maximum.accumulate(circuit.levels[outputs].max(axis=1, initial=0))
    mdepth = np.maximum.accumulate(mlevel[outputs].max(axis=1, initial=0))
    per_step, mults = _per_step_counts(circuit.op, circuit.step, flag, ARITY, longest)
    ops = np.cumsum(per_step, axis=0)  # row t: gates of steps <= t, by op
    mults = np.cumsum(mults)
    rows = {}
    for n in lengths:
        by_op = ops[n]
        order = np.argsort(-by_op, kind="stable")
        rows[n] = {"length": n, "topology": "sequential", "depth": int(depth[n - 1]),
                   "size": int(by_op.sum()),
                   "op_counts": {OP_NAMES[i]: int(by_op[i]) for i in order if by_op[i]},
                   "multiplicative_depth": int(mdepth[n - 1]),
                   "nonconstant_multiplications": int(mults[n])}
    return rows


@numba.njit(cache=True, nogil=True)
def _per_step_counts(op, step, flag, arity, steps):
    """Gates per (step, op) and non-constant products per step, in one pass."""
    by_op = np.zeros((steps + 1, len(arity)), dtype=np.int64)
    mults = np.zeros(steps + 1, dtype=np.int64)
    for i in range(len(op)):
        if arity[op[i]] > 0:
            by_op[step[i], op[i]] += 1
            if flag[i]:
                mults[step[i]] += 1
    return by_op, mults


# -- formulas ----------------------------------------------------------------------------------
def cached_family_formulas(model: RNN, cls, family: str, outputs: str, measure=None,
                           objective: str = "depth"):
    """`family_formulas`, cached per (model, topology, outputs, objective) while the model
    lives.

    `measure(n) -> (depth, size)` lets the fit reuse circuits the caller already built.
    """
    from rnncirc.analyze.formulas import prefix_formulas
    from rnncirc.analyze.report import family_formulas, short_segments

    cache = _FORMULA_CACHE.setdefault(model, {})
    key = (family, outputs, objective)
    if key in cache:
        return cache[key]
    if family == "sequential" or measure is None:
        found = family_formulas(model, cls, family, outputs, objective)
    else:
        found = prefix_formulas(measure, family, outputs, short_segments(cls))
    cache[key] = found
    return found


def _formulas(model, cls, topology, outputs, family, chosen, rows, objective="depth"):
    """(depth, size, note): the family's formulas patched where another family is used."""
    from rnncirc.analyze.formulas import evaluate_formula
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
            topo = _resolve(model, cls, n, topology, outputs, objective)
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
        patched.append(_with_branches(formula, differ))
    notes = []
    if other:
        below = sorted({chosen.get(n) or _resolve(model, cls, n, topology, outputs, objective)
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


def _resolve(model, cls, n: int, topology: str, outputs: str, objective: str = "depth") -> str:
    """`resolve_topology`, memoized per classification (it builds every candidate network,
    and measures dense and DPLR circuits)."""
    from rnncirc.compiler import resolve_topology

    cache = _RESOLVED.setdefault(model, {})
    key = (n, topology, outputs, objective)
    if key not in cache:
        cache[key] = resolve_topology(model, cls, n, topology, outputs, objective)
    return cache[key]


#: per live model (an RNN hashes by identity), gone with it: `_resolve`'s choices
_RESOLVED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _with_branches(formula, values: dict[int, int]):
    import sympy as sp

    if not values:
        return formula
    n = next(iter(formula.free_symbols), sp.Symbol("n", integer=True, positive=True))
    branches = [(sp.Integer(v), sp.Eq(n, k)) for k, v in values.items()]
    if isinstance(formula, sp.Piecewise):
        return sp.Piecewise(*branches, *formula.args)
    return sp.Piecewise(*branches, (formula, True))


def _no_formula_note(cls, family: str) -> str:
    if cls.kind == "dplr":
        return (f"the {family} lowering of a DPLR model keeps each A = D + U V^T in low-rank "
                f"form while its rank (which adds up along a segment) stays small, so a "
                f"combine's cost depends on the lengths of its segments; no combination of "
                f"rnncirc's terms (network counts, short-segment counts, log2 and "
                f"power-of-two terms) matched every measured length (the rows are measured "
                f"exactly)")
    return (f"rnncirc found no exact closed form in n for the {family} family of this model "
            f"(the rows are measured)")


def _str_or_none(expr) -> str | None:
    return None if expr is None else str(expr)


# -- readable formulas -------------------------------------------------------------------------
_LOG2 = [(re.compile(r"ceiling\(log\(n\)/log\(2\)\)"), "⌈log2 n⌉"),
         (re.compile(r"floor\(log\(n\)/log\(2\)\)"), "⌊log2 n⌋"),
         (re.compile(r"ceiling\(log\(([^()]*)\)/log\(2\)\)"), r"⌈log2(\1)⌉"),
         (re.compile(r"floor\(log\(([^()]*)\)/log\(2\)\)"), r"⌊log2(\1)⌋"),
         (re.compile(r"(\d)\*(?=[a-zA-Z⌈⌊(])"), r"\1"),
         (re.compile(r"\*\*"), "^"),
         (re.compile(r"\*"), "·")]


#: lengths a formula's text lists where it does not hold; past this, the count
_LISTED_POINTS = 12


def formula_text(expr) -> str:
    """A formula as short readable text: ``2⌈log2 n⌉ + 8 (n >= 2)``; "n/a" for None.

    A Piecewise of exact small-n values followed by a general branch is shown as the general
    branch and the length it holds from; anything else is shown in full.
    """
    import sympy as sp

    if expr is None:
        return "n/a"
    if isinstance(expr, sp.Piecewise):
        points, rest = [], []
        for value, cond in expr.args:
            at = _points(cond)
            if at is None:
                rest.append((value, cond))
            else:
                points.extend(at)
        points = sorted(set(points))  # a length in two branches is one exception
        if len(rest) == 1 and rest[0][1] is sp.true:
            tail = _plain(rest[0][0])
            if points and sorted(points) == list(range(1, max(points) + 1)):
                return f"{tail} (n >= {max(points) + 1})"
            if len(points) > _LISTED_POINTS:  # e.g. auto's other network off powers of two
                ordered = sorted(points)
                return (f"{tail} (n not in {{{', '.join(map(str, ordered[:4]))}, ..., "
                        f"{ordered[-1]}}}: {len(ordered)} lengths, exact in the rows)")
            if points:
                return f"{tail} (n not in {{{', '.join(map(str, sorted(points)))}}})"
            return tail
        return "; ".join(f"{_plain(v)} if {_plain(c)}" if c is not sp.true else
                         f"{_plain(v)} otherwise" for v, c in expr.args)
    return _plain(expr)


def _points(cond) -> list[int] | None:
    """The lengths a condition such as ``Eq(n, 3) | Eq(n, 4)`` names, or None."""
    import sympy as sp

    if isinstance(cond, sp.Eq) and cond.rhs.is_Integer and cond.lhs.is_Symbol:
        return [int(cond.rhs)]
    if isinstance(cond, sp.Or):
        parts = [_points(c) for c in cond.args]
        return None if any(p is None for p in parts) else [k for p in parts for k in p]
    return None


def _plain(expr) -> str:
    import sympy as sp

    if isinstance(expr, sp.Basic) and expr.has(sp.Sum):  # Sklansky's size: a finite sum
        n = next(iter(expr.free_symbols), sp.Symbol("n"))
        expr = expr.replace(lambda e: isinstance(e, sp.Sum),
                            lambda e: sp.Function("Sk")(n))
    text = str(expr)
    for pattern, repl in _LOG2:
        text = pattern.sub(repl, text)
    text = re.sub(r"Eq\(n, (\d+)\)", r"n = \1", text)
    return text.replace("size_ladner_fischer(n)", "LF(n)")


# -- notebook HTML -----------------------------------------------------------------------------
_STYLE = ("<style>.rc-prof td,.rc-prof th{padding:2px 8px;text-align:right}"
          ".rc-prof td.l,.rc-prof th.l{text-align:left}</style>")


def _formula_html(profile: DepthProfile) -> str:
    if profile.depth_formula is None and profile.size_formula is None:
        return f"<p><b>formulas:</b> n/a &mdash; {html.escape(profile.formula_note or '')}</p>"
    parts = [f"<code>depth(n) = {html.escape(formula_text(profile.depth_formula))}</code>",
             f"<code>size(n) = {html.escape(formula_text(profile.size_formula))}</code>"]
    note = f"<br><small>{html.escape(profile.formula_note)}</small>" if profile.formula_note \
        else ""
    size = str(profile.size_formula)
    lf = ("<br><small>LF(n): the size of the Ladner-Fischer prefix network over n leaves "
          "(exact recursion, no closed form)</small>" if "size_ladner_fischer" in size else "")
    lf += ("<br><small>Sk(n): the size of the Sklansky prefix network over n leaves, the "
           "number of one bits in 0..n-1 (an exact finite sum)</small>" if "Sum(" in size
           else "")
    return "<p>" + "<br>".join(parts) + note + lf + "</p>"


def _ops_text(op_counts: dict, top: int = 4) -> str:
    items = list(op_counts.items())
    shown = ", ".join(f"{name} {count:,}" for name, count in items[:top])
    return shown + (", ..." if len(items) > top else "")


def _profile_html(profile: DepthProfile) -> str:
    head = (f"<p><b>{html.escape(profile.model)}</b> &mdash; {profile.kind}, "
            f"{html.escape(profile.complexity)}; topology {profile.topology}"
            + (f" &rarr; {profile.family}" if profile.topology != profile.family else "")
            + f", outputs={profile.outputs}</p>")
    cells = ["n", "topology", "depth", "size", "mult. depth", "non-const. mul", "gates by op"]
    header = "".join(f"<th class='l'>{c}</th>" if c in ("topology", "gates by op")
                     else f"<th>{c}</th>" for c in cells)
    body = []
    for row in profile.rows:
        body.append(f"<tr><td>{row['length']:,}</td><td class='l'>{row['topology']}</td>"
                    f"<td>{row['depth']:,}</td><td>{row['size']:,}</td>"
                    f"<td>{row['multiplicative_depth']:,}</td>"
                    f"<td>{row['nonconstant_multiplications']:,}</td>"
                    f"<td class='l'>{html.escape(_ops_text(row['op_counts']))}</td></tr>")
    return (_STYLE + "<div class='rc-prof'>" + head + _formula_html(profile)
            + f"<table><tr>{header}</tr>{''.join(body)}</table></div>")


def _formula_cell(expr) -> str:
    return "n/a *" if expr is None else f"<code>{html.escape(formula_text(expr))}</code>"


def _profiles_html(profiles: list[DepthProfile]) -> str:
    cells = ["model", "kind", "class", "depth at largest n", "depth(n)", "size(n)"]
    header = "".join(f"<th class='l'>{c}</th>" for c in cells)
    body = []
    for p in profiles:
        last = p.rows[-1]
        body.append(
            f"<tr><td class='l'><b>{html.escape(p.model)}</b></td><td class='l'>{p.kind}</td>"
            f"<td class='l'>{html.escape(p.complexity)}</td>"
            f"<td class='l'>{last['depth']:,} (n = {last['length']:,})</td>"
            f"<td class='l'>{_formula_cell(p.depth_formula)}</td>"
            f"<td class='l'>{_formula_cell(p.size_formula)}</td></tr>")
    notes = "".join(f"<p><small>* {html.escape(p.model)}: {html.escape(p.formula_note)}"
                    "</small></p>" for p in profiles
                    if p.depth_formula is None and p.formula_note)
    details = "".join(f"<details><summary>{html.escape(p.model)}: every length</summary>"
                      f"{_profile_html(p)}</details>" for p in profiles)
    return (_STYLE + f"<div class='rc-prof'><table><tr>{header}</tr>{''.join(body)}</table>"
            + notes + details + "</div>")


# -- plotting ----------------------------------------------------------------------------------
def plot_profiles(profiles: list[DepthProfile], path=None, ax=None):
    """Depth (left) and size (right) against n on a log2 axis, one line per model.

    Both axes of both panels are logarithmic, so a depth that grows like log n is an almost
    flat line and one that grows like n is a steep straight one. `ax`: one Axes (depth only)
    or two (depth, size); a new figure otherwise. Writes `path` when given (.png, .svg, .pdf).
    Returns the matplotlib Figure. Needs matplotlib (``pip install rnncirc[plot]``).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise OptionError("plotting needs matplotlib: pip install 'rnncirc[plot]' "
                          "(or pip install matplotlib)") from None
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    else:
        axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
        fig = axes[0].figure
    metrics = ("depth", "size")[:len(axes)]
    for axis, metric in zip(axes, metrics, strict=False):
        for k, profile in enumerate(profiles):
            _draw(axis, profile, metric, k)
        _decorate(axis, metric, profiles)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


_COLORS = ("#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")


def _draw(axis, profile: DepthProfile, metric: str, k: int) -> None:
    x = profile.column("length")
    y = np.maximum(profile.column(metric), 0.5)  # a zero would vanish on the log axis
    linear = profile.kind != "nonlinear"
    formula = profile.depth_formula if metric == "depth" else profile.size_formula
    text = formula_text(formula) if formula is not None else "no closed form (measured)"
    label = f"{profile.model} ({profile.kind}): {text}"
    if len(label) > 70:
        label = label[:67] + "..."
    axis.plot(x, y, marker="o" if linear else "s", markersize=3.5, linewidth=1.8,
              linestyle="-" if linear else "--", color=_COLORS[k % len(_COLORS)], label=label)


def _decorate(axis, metric: str, profiles: list[DepthProfile]) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short_count(v)))
    axis.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    axis.set_xlabel("sequence length n (log scale)")
    axis.set_ylabel("depth (gates on the longest path)" if metric == "depth"
                    else "size (gates)")
    lengths = sorted({n for p in profiles for n in p.lengths})
    ticks = [n for n in lengths if n & (n - 1) == 0]
    if len(ticks) > 8:
        ticks = ticks[::2] if ticks[-1] == ticks[::2][-1] else ticks[1::2]
    axis.set_xticks(ticks)
    axis.set_xticklabels([_short(n) for n in ticks])
    axis.grid(True, which="major", alpha=0.3)
    kinds = {p.kind == "nonlinear" for p in profiles}
    if metric == "depth":
        title = ("depth: linear models grow like log n, nonlinear ones like n"
                 if kinds == {True, False} else "depth against n")
    else:
        title = "size (the work): n for unrolls and most networks, n log n for Kogge-Stone"
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7.5, loc="upper left")


def _short_count(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}K"
    return f"{v:g}"


def _short(n: int) -> str:
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)
