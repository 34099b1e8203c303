"""Compile reports: the facts `rnncirc compile` prints and writes as JSON (api.md §4)."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from rnncirc.compiler import Compilation
from rnncirc.frontend.model import RNN
from rnncirc.ir.circuit import Circuit


def compile_report(compilation: Compilation, formulas: bool = True) -> dict:
    """Everything the compile report shows (formulas included), as JSON-ready data."""
    from rnncirc.analyze.counts import counts_summary
    from rnncirc.analyze.formulas import format_formula

    model, circuit, cls = compilation.model, compilation.circuit, compilation.classification
    length, chosen, outputs = compilation.length, compilation.topology, compilation.outputs
    start = time.perf_counter()
    depth = circuit.depth  # levels are part of compiling: measured in compile_seconds
    seconds = compilation.seconds + time.perf_counter() - start
    depth_formula, size_formula = family_formulas(model, cls, chosen, outputs) if formulas \
        else (None, None)
    report = {
        "model": model.name,
        "length": length,
        "state_shape": list(model.state_shape),
        "input_size": model.input_size,
        "alphabet": model.alphabet,
        "kind": cls.kind,
        "complexity": cls.complexity,
        "rank": cls.rank,
        "side": cls.side,
        "reason": cls.reason,
        "topology": chosen,
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
    report.update(counts_summary(circuit))
    if "dense_from_level" in circuit.info.extra:
        report["dplr_dense_from_level"] = circuit.info.extra["dense_from_level"]
    return report


def family_formulas(model: RNN, cls, topology: str, outputs: str):
    """(depth, size) of the circuit family as sympy expressions in n (None if unknown)."""
    from rnncirc.analyze.formulas import prefix_formulas, unroll_formulas
    from rnncirc.lower.measure import measure_linear

    if topology == "sequential":
        from rnncirc.lower.unroll import template_pair

        return unroll_formulas(*template_pair(model), int(np.prod(model.state_shape)), outputs)

    def measure(n: int) -> tuple[int, int]:
        exact = measure_linear(model, cls, n, topology, outputs)
        return exact.depth, exact.size

    return prefix_formulas(measure, topology, outputs, short_segments(cls))


def short_segments(cls) -> int:
    """Segment length below which a combine's cost varies (DPLR rank); 0: it never does."""
    from rnncirc.lower.measure import segment_clip

    return segment_clip(cls) if cls.kind == "dplr" else 0


def critical_path_summary(circuit: Circuit) -> dict:
    """Op counts along one longest path, the steps it spans, and one step's gate sequence."""
    path = circuit.critical_path()
    if not path:
        return {"length": 0, "ops": {}, "steps": [], "per_step": []}
    steps = [g["step"] for g in path]
    middle = sorted(set(steps))[len(set(steps)) // 2]
    per_step = [f"{g['op']}({g['cell_op']})" if g["cell_op"] not in (None, g["op"]) else g["op"]
                for g in path if g["step"] == middle]
    return {"length": len(path), "ops": dict(Counter(g["op"] for g in path).most_common()),
            "steps": [min(steps), max(steps)], "example_step": middle, "per_step": per_step}
