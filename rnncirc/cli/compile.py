"""``rnncirc compile``: compile a model over N steps, print the report, save or draw it.

    rnncirc compile MODEL.py --length N [--model NAME] [--topology T] [--outputs all|last]
                             [--json PATH] [--dot PATH] [--save PATH] [--no-formulas]

The report's facts come from `analyze.report` as data; this module only formats and writes.
"""

from __future__ import annotations

import argparse
import json

from rnncirc.analyze.formulas import formula_definitions
from rnncirc.cli.options import (
    add_model_arguments,
    add_objective_option,
    add_outputs_option,
    add_topology_option,
    positive_int,
)
from rnncirc.cli.profile_dot import add_compile_dot_argument, compile_dot


def add_compile_command(subparsers) -> argparse.ArgumentParser:
    """Register ``rnncirc compile`` on `subparsers` (from ``add_subparsers``)."""
    compile_ = subparsers.add_parser(
        "compile", help="compile a model over N steps and report depth, size and more",
        description="Trace the RNN or program in MODEL.py and build its gate-level circuit "
                    "over N steps: a linear model as a log-depth prefix network of affine-map "
                    "combines, a nonlinear one unrolled; a program layer by layer, each by its "
                    "own kind, in one circuit. Prints kind and complexity class, size, depth, "
                    "gates by op (for a program: per layer), exact formulas in n and the "
                    "critical path (for a program: the layers it runs through).")
    add_model_arguments(compile_)
    compile_.add_argument("--length", "-n", type=positive_int, required=True, metavar="N",
                          help="sequence length n to unroll over (>= 1)")
    add_topology_option(compile_)
    add_objective_option(compile_)
    add_outputs_option(compile_)
    compile_.add_argument("--json", metavar="PATH",
                          help="also write the report as JSON to PATH ('-' for stdout)")
    compile_.add_argument("--save", metavar="PATH",
                          help="save the circuit as a compressed .npz file (load it with "
                               "rc.Circuit.load)")
    compile_.add_argument("--no-formulas", action="store_true",
                          help="skip the exact depth(n)/size(n) formulas (they build a few "
                               "small circuits of the same family)")
    add_compile_dot_argument(compile_)
    compile_.set_defaults(run=_cmd_compile)
    return compile_


def _cmd_compile(args) -> None:
    from rnncirc.analyze.report import compile_report
    from rnncirc.compiler import compile_model
    from rnncirc.frontend.loader import pick_model

    model = pick_model(args.model_file, args.model, trust_pickle=args.trust_pickle)
    compilation = compile_model(model, args.length, topology=args.topology,
                                outputs=args.outputs, objective=args.objective)
    circuit = compilation.circuit
    report = compile_report(compilation, formulas=not args.no_formulas)
    if args.json == "-":
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report, args.model_file))
        if args.json:
            with open(args.json, "w") as out:
                json.dump(report, out, indent=2)
            print(f"wrote {args.json}")
    if args.dot:
        compile_dot(model, circuit, args.dot)
    if args.save:
        with open(args.save, "wb") as out:  # a path would get ".npz" appended by numpy
            circuit.save(out)
        print(f"saved circuit to {args.save}")


def _depth_context(report: dict) -> str:
    """`` (lower bound L, best scan S)`` after a linear model's depth."""
    if "depth_lower_bound" not in report:
        return ""
    parts = [f"lower bound {report['depth_lower_bound']} = ceil(log2(2n-1)) for fan-in-2 "
             "gates"]
    if "best_scan_depth" in report:
        parts.append(f"best prefix scan {report['best_scan_depth']}")
    return f"  ({'; '.join(parts)})"


def format_report(report: dict, path: str | None = None) -> str:
    """The human-readable compile report."""
    shape = "x".join(str(s) for s in report["state_shape"])
    inputs = (f"a symbol of {report['alphabet']}" if report["alphabet"]
              else f"{report['input_size']} reals")
    ops = ", ".join(f"{name} {count:,}" for name, count in report["op_counts"].items())
    crit = report["critical_path"]
    layers = report.get("layers")
    lines = [
        f"model          {report['model']}" + (f"  ({path})" if path else ""),
        (f"program        {inputs} in, {shape} out per position; "
         f"{sum(layer['kind'] != 'position-wise' for layer in layers)} recurrent layer(s)"
         if layers is not None else f"state, input   {shape} state, {inputs} per step"),
        f"length         {report['length']:,}",
        f"kind           {report['kind']}" + (f" (rank {report['rank']})" if report["rank"]
                                               else "") + f", complexity class "
        f"{report['complexity']}",
    ]
    if report["kind"] in ("max-plus", "min-plus"):  # outside the paper: say what is derived
        lines.append(f"caveat         {report['reason'].split('; ', 1)[-1]}")
    lines += [
        f"topology       {report['topology']}, outputs={report['outputs']}",
        f"size           {report['size']:,} gates ({ops})",
        f"depth          {report['depth']:,}" + _depth_context(report),
    ]
    if "multiplicative_depth" in report:
        lines.append(f"mult. depth    {report['multiplicative_depth']:,} (levels of non-constant "
                     f"products; {report['nonconstant_multiplications']:,} gates: x*y, x/y and "
                     "selects on a non-constant condition, of non-constant x and y)")
    if layers:
        lines.append("layers         name                     kind                  topology"
                     "        gates   depth added  reaches")
        for layer in layers:
            lines.append(f"  {layer['name'][:24]:<24} {layer['kind']:<21} "
                         f"{layer['topology'] or '-':<13} {layer['gates']:>9,} "
                         f"{layer['depth_added']:>11,}  {layer['reaches_level']:>7,}"
                         + ("  (position n only)" if layer["positions"] == "last" else ""))
    if report.get("depth_formula_text"):
        lines.append(f"depth(n)       {report['depth_formula_text']}")
        lines.append(f"size(n)        {report['size_formula_text']}")
        for definition in formula_definitions(report["depth_formula_text"],
                                              report["size_formula_text"]):
            lines.append(f"  where {definition}")
    if crit["length"]:
        ops_on_path = ", ".join(f"{name} {count:,}" for name, count in crit["ops"].items())
        unit = {"sequential": "steps", "segment-sum": "planned levels",
                "segment-sum-optimal": "planned levels"}.get(
            report["topology"], "prefix levels")
        if "layers" in crit:  # steps of a program's rows mix positions and prefix levels
            lines.append(f"critical path  {crit['length']:,} gates ({ops_on_path})")
        else:
            lines.append(f"critical path  {crit['length']:,} gates over {unit} "
                         f"{crit['steps'][0]}..{crit['steps'][1]} ({ops_on_path})")
        if "layers" in crit:
            lines.append("  through " + " -> ".join(f"{c['layer']} ({c['gates']:,})"
                                                   for c in crit["layers"]))
        else:
            lines.append(f"  in {unit[:-1]} {crit['example_step']}:  "
                         + " -> ".join(crit["per_step"]))
    if report.get("dplr_dense_from_level") is not None:
        lines.append(f"dplr           low-rank combines up to prefix level "
                     f"{report['dplr_dense_from_level'] - 1}, dense from level "
                     f"{report['dplr_dense_from_level']} (rank would pass m/2)")
    lines.append(f"compile time   {report['compile_seconds']:.3f} s")
    return "\n".join(lines)
