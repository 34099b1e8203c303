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

The rows are measured in `profile_rows`, the formulas patched and cached in
`profile_formulas`, and drawn (table, figure, formula text) by `profile_view`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rnncirc.analyze.formula_eval import format_formula
from rnncirc.analyze.profile_formulas import (
    profile_formulas,
    remember_choices,
    resolve,
    with_branches,
)
from rnncirc.analyze.profile_rows import (
    measure_circuit,
    measured_row,
    program_row,
    remote,
    unrolled_rows,
)
from rnncirc.analyze.profile_view import _profile_html, _profiles_html, plot_profiles
from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program, is_model
from rnncirc.lower.objective import check_objective

#: powers of two and the midpoints 3 * 2^k between them, 1 ... 4096
DEFAULT_LENGTHS = tuple(sorted({1 << k for k in range(13)} | {3 << k for k in range(11)}))


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
            "depth_formula_text": format_formula(self.depth_formula),
            "size_formula_text": format_formula(self.size_formula),
            "formula_note": self.formula_note,
            "seconds": round(self.seconds, 3),
            "rows": [dict(row) for row in self.rows],
        }

    def plot(self, path=None, ax=None):
        """Depth and size against n (log2 axis); see `plot_profiles`."""
        return plot_profiles([self], path, ax)

    def table(self) -> str:
        """The rows as aligned text, as ``rnncirc profile`` prints them."""
        head = (f"{'n':>6}  {'topology':<20}{'depth':>8}{'size':>13}{'mult.depth':>12}"
                f"{'nonconst.mul':>14}")
        lines = [head]
        for row in self.rows:
            lines.append(f"{row['length']:>6}  {row['topology']:<20}{row['depth']:>8,}"
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
            lines.append(f"  depth(n) = {format_formula(self.depth_formula)}")
        if self.size_formula is not None:
            lines.append(f"  size(n)  = {format_formula(self.size_formula)}")
            lines.extend(f"    where {definition}" for definition in formula_definitions(
                format_formula(self.depth_formula), format_formula(self.size_formula)))
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
    topology : str, or a list of them
        As for `rc.compile`; "auto" is resolved per length exactly as `rc.compile` does. A
        list profiles every model under each topology (a `DepthProfiles`, drawn on one
        figure with the depth lower bound: e.g. ``["sklansky", "ladner-fischer",
        "segment-sum"]``).
    outputs : "all" or "last"
    client : a Dask ``distributed.Client``, optional
        Compile and measure each (model, length) row as a task on its workers (a model
        unrolled at every length: one task, from one build at the longest, as without a
        client); the rows and formulas are those of a local profile.
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
    >>> format_formula(profile.depth_formula)
    'segment_sum_optimal_depth(n) + 1  (0 if n = 1)'
    """
    from rnncirc.compiler import ensure_feasible

    models, single = _as_models(model_or_models)
    topologies = [topology] if isinstance(topology, str) else list(dict.fromkeys(topology))
    if not topologies:
        raise OptionError("topology must be a topology name or a non-empty list of them")
    lengths = check_lengths(DEFAULT_LENGTHS if lengths is None else lengths)
    for model in models:  # every model's longest length, before any circuit is built
        for each in topologies:
            ensure_feasible(model, lengths[-1], each, outputs)
    check_objective(objective)
    profiles = [_profile(model, lengths, each, outputs, client, objective)
                for model in models for each in topologies]
    return profiles[0] if single and len(topologies) == 1 else DepthProfiles(profiles)


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
    if client is not None and outputs == "all" and (topology == "sequential"
                                                    or not cls.is_linear):
        # every length unrolled: one task builds the longest unroll, as here, instead of a
        # task per length (3.5 times the steps at the default lengths)
        rows = remote(client, [(unrolled_rows, model, cls, lengths)])[0]
    elif client is not None:  # every row a task, "auto" resolved in it; kept for the formulas
        rows = dict(zip(lengths, remote(client, [(measured_row, model, n, topology, outputs,
                                                   objective) for n in lengths]), strict=True))
        remember_choices(model, {(n, topology, outputs, objective): row["topology"]
                                 for n, row in rows.items()})
    chosen = {n: resolve(model, cls, n, topology, outputs, objective) for n in lengths}
    unrolled = [n for n in lengths if chosen[n] == "sequential" and n not in rows]
    if unrolled and outputs == "all":
        rows.update(unrolled_rows(model, cls, unrolled))
    for n in lengths:
        if n not in rows:
            built = compile_model(model, n, topology=chosen[n], outputs=outputs,
                                  objective=objective)
            rows[n] = measure_circuit(built.circuit)
    ordered = [rows[n] for n in lengths]
    family = chosen[lengths[-1]]
    depth, size, note = profile_formulas(model, cls, topology, outputs, family, chosen, ordered,
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
    from rnncirc.analyze.formula_eval import evaluate_formula
    from rnncirc.analyze.report import layers_family_formulas
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
        built = [program_row(program, n, topology, outputs, n == usable[-1], objective)
                 for n in usable]
    else:  # every row a task; the longest length's layers come back for the formulas
        built = remote(client, [(program_row, program, n, topology, outputs,
                                  n == usable[-1], objective) for n in usable])
    rows, (family, layers) = [row for row, _ in built], built[-1][1]
    depth, size = layers_family_formulas(program, outputs, layers)
    patched, notes = [], []
    for key, formula in (("depth", depth), ("size", size)):
        if formula is None:
            patched.append(None)
            continue
        differ = {row["length"]: row[key] for row in rows
                  if evaluate_formula(formula, row["length"], strict=False) != row[key]}
        patched.append(with_branches(formula, differ))
    if depth is None or size is None:
        notes.append("no exact closed form in n matched every measured length and the checks "
                     "past them (the rows are measured)")
    if len(usable) < len(lengths):
        notes.append(f"lengths below {shortest} skipped: rc.shift by {shortest - 1} needs "
                     "longer sequences")
    return DepthProfile(model=program.name, kind=cls.kind, complexity=cls.complexity,
                        topology=topology, outputs=outputs, family=family, rows=rows,
                        depth_formula=patched[0], size_formula=patched[1],
                        formula_note="; ".join(notes) or None,
                        seconds=time.perf_counter() - start,
                        state_shape=tuple(program.state_shape))


def _str_or_none(expr) -> str | None:
    return None if expr is None else str(expr)

