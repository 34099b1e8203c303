"""Compile reports: the facts `rnncirc compile` prints and writes as JSON (api.md §4)."""

from __future__ import annotations

import time
import weakref
from collections import Counter

import numpy as np

from rnncirc.compiler import Compilation
from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program
from rnncirc.ir.circuit import Circuit


def compile_report(compilation: Compilation, formulas: bool = True) -> dict:
    """Everything the compile report shows (formulas included), as JSON-ready data."""
    from rnncirc.analyze.counts import counts_summary
    from rnncirc.analyze.formula_eval import format_formula

    model, circuit, cls = compilation.model, compilation.circuit, compilation.classification
    length, chosen, outputs = compilation.length, compilation.topology, compilation.outputs
    start = time.perf_counter()
    depth = circuit.depth  # levels are part of compiling: measured in compile_seconds
    seconds = compilation.seconds + time.perf_counter() - start
    if not formulas:
        depth_formula, size_formula = None, None
    elif isinstance(model, Program):
        depth_formula, size_formula = program_family_formulas(compilation)
    else:
        depth_formula, size_formula = family_formulas(model, cls, chosen, outputs,
                                                      compilation.objective)
    report = {
        "model": model.name,
        "length": length,
        "state_shape": list(model.state_shape),
        "input_size": model.input_size,
        "alphabet": model.alphabet,
        "kind": cls.kind,
        "complexity": cls.complexity,
        "rank": cls.rank,
        "side": getattr(cls, "side", None),
        "reason": cls.reason,
        "topology": chosen,
        "objective": compilation.objective,
        "outputs": outputs,
        "depth": depth,
        "size": circuit.size,
        "op_counts": circuit.op_counts,
        "depth_formula": None if depth_formula is None else str(depth_formula),
        "size_formula": None if size_formula is None else str(size_formula),
        "depth_formula_text": format_formula(depth_formula) if formulas else None,
        "size_formula_text": format_formula(size_formula) if formulas else None,
        "critical_path": critical_path_summary(circuit),
        "compile_seconds": round(seconds, 4),
    }
    if isinstance(model, Program):
        report["layers"] = layer_rows(circuit)
        report["layer_classes"] = [{"layer": name, **layer_cls.to_dict()}
                                   for name, layer_cls in cls.layers]
    report.update(counts_summary(circuit))
    if not isinstance(model, Program) and cls.is_linear and length > 1:
        report.update(depth_bounds(compilation))
    if "combine_form" in circuit.info.extra:  # A combined as dense matrices: shallower
        report["combine_form"] = circuit.info.extra["combine_form"]
    if "dense_from_level" in circuit.info.extra:
        report["dplr_dense_from_level"] = circuit.info.extra["dense_from_level"]
    return report


def depth_bounds(compilation: Compilation) -> dict:
    """What the depth of a linear model's circuit is measured against.

    ``depth_lower_bound``: ceil(log2(2n - 1)), the least depth of any fan-in-2 circuit whose
    output h_n reads all of a_1..a_n and b_1..b_n (2n - 1 of them matter, as a_1 multiplies
    h_0): no construction goes below it, whatever the leaves cost. ``best_scan_depth`` (scalar
    and diagonal kinds, whose circuits are measured without building them, and any kind
    compiled to a segment-sum circuit): the least depth of this model's circuit over the
    prefix networks, what any scan-based tool could build.
    """
    from rnncirc.lower import prefix, segment_sum
    from rnncirc.lower.measure import measure_linear

    model, cls, n = compilation.model, compilation.classification, compilation.length
    bounds = {"depth_lower_bound": int(2 * n - 2).bit_length()}
    if cls.kind in ("scalar", "diagonal") or compilation.topology in segment_sum.TOPOLOGIES:
        bounds["best_scan_depth"] = min(
            measure_linear(model, cls, n, t, compilation.outputs).depth
            for t in prefix.TOPOLOGIES if t != "sequential")
    return bounds


def family_formulas(model: RNN, cls, topology: str, outputs: str, objective: str = "depth"):
    """(depth, size) of the circuit family as sympy expressions in n (None if unknown); A
    combined in the form best by `objective` at each n, as `rc.compile` builds it."""
    from rnncirc.analyze.formulas import prefix_formulas
    from rnncirc.analyze.maxplus import unroll_formulas
    from rnncirc.lower.measure import measure_linear

    if topology == "sequential":
        from rnncirc.lower.unroll import template_pair

        return unroll_formulas(*template_pair(model), int(np.prod(model.state_shape)), outputs)

    def measure(n: int) -> tuple[int, int]:
        exact = measure_linear(model, cls, n, topology, outputs, objective=objective)
        return exact.depth, exact.size

    return prefix_formulas(measure, topology, outputs, short_segments(cls), matrix_size(cls))


def layer_rows(circuit: Circuit) -> list[dict]:
    """Per layer and position-wise block of a program's circuit: name, kind, topology, the
    positions built, gates, the depth it adds (its deepest output's level minus its deepest
    input's) and the level it reaches."""
    return [{"name": layer["name"], "kind": layer["kind"], "topology": layer["topology"],
             "positions": layer["positions"], "gates": layer["gates"],
             "depth_added": layer["depth_added"], "reaches_level": layer["reaches_level"]}
            for layer in circuit.info.extra["layers"]]


_PROGRAM_FORMULAS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def program_family_formulas(compilation: Compilation):
    """(depth, size) of a program's family, each layer kept on the network it was compiled
    with, as sympy expressions in n (None where no exact closed form was found); cached per
    program while it lives."""
    return layers_family_formulas(compilation.model, compilation.outputs,
                                  compilation.circuit.info.extra["layers"])


def layers_family_formulas(program: Program, outputs: str, layers: list[dict]):
    """`program_family_formulas` from the layers a compilation lists (its circuit's
    ``info.extra["layers"]``): all a profile task sends back of its compilation."""
    from rnncirc.analyze.program_formulas import program_formulas
    from rnncirc.compiler import compile_program

    layers = [layer for layer in layers if layer["kind"] != "position-wise"]
    chosen = {layer["name"]: layer["topology"] for layer in layers}
    for layer in program.layers:  # dead layers are not in the circuit: keep them sequential
        chosen.setdefault(layer.name, "sequential")
    key = (tuple(sorted(chosen.items())), outputs)
    cache = _PROGRAM_FORMULAS.setdefault(program, {})
    if key not in cache:
        shifts = [node.arg for node in program.graph.live_nodes() if node.op == "shift"]
        lags = {0, *shifts, sum(shifts)}

        def measure(n: int) -> tuple[int, int]:
            circuit = compile_program(program, n, "auto", outputs, chosen).circuit
            return circuit.depth, circuit.size

        cache[key] = program_formulas(measure, list(chosen.values()), outputs,
                                      first=max(shifts, default=0) + 1, lags=tuple(lags))
    return cache[key]


def short_segments(cls) -> int:
    """Segment length below which a combine's cost varies (DPLR rank); 0: it never does."""
    from rnncirc.lower.measure import segment_clip

    return segment_clip(cls) if cls.kind == "dplr" else 0


def matrix_size(cls) -> int:
    """d where a segment-sum circuit of this kind is built with d x d matrices
    (`lower.segment_matrix`); 0 where it is not."""
    from rnncirc.lower import segment_matrix

    return segment_matrix.block_rows(cls).shape[1] if cls.kind in segment_matrix.KINDS else 0


def critical_path_summary(circuit: Circuit) -> dict:
    """Op counts along one longest path, the steps it spans, and one step's gate sequence."""
    path = circuit.critical_path()
    if not path:
        return {"length": 0, "ops": {}, "steps": [], "per_step": []}
    steps = [g["step"] for g in path]
    middle = sorted(set(steps))[len(set(steps)) // 2]
    per_step = [f"{g['op']}({g['cell_op']})" if g["cell_op"] not in (None, g["op"]) else g["op"]
                for g in path if g["step"] == middle]
    summary = {"length": len(path), "ops": dict(Counter(g["op"] for g in path).most_common()),
               "steps": [min(steps), max(steps)], "example_step": middle,
               "per_step": per_step}
    if "layer" in path[0]:  # a program: the layers the path crosses, in order, with gates
        crossed: list[list] = []
        for gate in path:
            if gate["layer"] is None:
                continue
            if crossed and crossed[-1][0] == gate["layer"]:
                crossed[-1][1] += 1
            else:
                crossed.append([gate["layer"], 1])
        summary["layers"] = [{"layer": name, "gates": count} for name, count in crossed]
    return summary
