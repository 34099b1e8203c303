"""``rnncirc boolean``: compile a model to a fixed-width boolean circuit, report and export it.

Where this sits: the command-line face of `rnncirc.lower.boolean`. ``add_boolean_command``
registers the subcommand on the CLI's subparsers; the report dict (`analyze.boolean`) is also
what ``--json`` writes.

    rnncirc boolean MODEL.py --length N --width W [-o out.aag|.aig|.blif|.v|.bristol]
                    [--model NAME] [--topology T] [--outputs all|last] [--frac-bits F]
                    [--unsigned] [--adder A] [--multiplier dadda|wallace]
                    [--symbols binary|onehot] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from rnncirc.analyze.boolean import boolean_report
from rnncirc.cli.options import (
    add_model_arguments,
    add_objective_option,
    add_outputs_option,
    add_topology_option,
    check_output_path,
    positive_int,
    width_bits,
)
from rnncirc.export.boolean import FORMATS, ExportFormatError, write_circuit


def format_report(report: dict, source: str) -> str:
    kind = "signed" if report["signed"] else "unsigned"
    scale = f"value = int / 2^{report['frac_bits']}" if report["frac_bits"] else "integers"
    symbols = f", symbols {report['symbols']}" if report["symbols"] else ""
    lines = [
        f"{report['model']} ({source}), n = {report['length']}, topology {report['topology']}, "
        f"outputs {report['outputs']}",
        f"  words:      {report['width']}-bit {kind} two's complement mod 2^{report['width']} "
        f"({scale}){symbols}" if report["signed"] else
        f"  words:      {report['width']}-bit {kind} mod 2^{report['width']} ({scale}){symbols}",
        f"  lowering:   {report['adder']} adders, {report['multiplier']} multipliers",
        *_constants_lines(report),
        f"  inputs:     {report['input_bits']:,} bits; outputs: {report['output_bits']:,} bits",
        f"  AND:        {report['and_count']:,}",
        f"  XOR:        {report['xor_count']:,}   (NOT is free: complemented edges)",
        f"  depth:      {report['depth']}   (AND and XOR gates)",
        f"  AND-depth:  {report['and_depth']}   (XOR and NOT free, as MPC/FHE count)",
        f"  as an AIG:  {report['aig_and_count']:,} ANDs, depth {report['aig_depth']}   "
        f"(each XOR = 3 ANDs; what ABC's strash; print_stats reports for the .aig/.blif)",
        f"  gates per level:     {_levels_text(report['width_per_level'])}",
        f"  ANDs per AND-level:  {_levels_text(report['ands_per_and_level'])}",
    ]
    return "\n".join(lines)


def _constants_lines(report: dict) -> list[str]:
    if "constants" not in report:
        return []
    low, top = report["constant_range"]
    line = f"  constants:  {report['constants']} non-zero, range [{low:g}, {top:g})"
    notes = []
    if report["constants_rounded_to_zero"]:
        notes.append(f"{report['constants_rounded_to_zero']} round to 0 (more --frac-bits "
                     "keeps them)")
    if report["constants_wrapped"]:
        notes.append(f"{report['constants_wrapped']} are out of range and wrap around mod "
                     f"2^{report['width']} (fewer --frac-bits or a larger --width)")
    return [line + ("; " + ", ".join(notes) if notes else "")]


def _levels_text(widths: list[int], show: int = 12) -> str:
    if not widths:
        return "(none)"
    shown = " ".join(str(w) for w in widths[:show])
    more = f" ... ({len(widths)} levels, widest {max(widths):,})" if len(widths) > show else ""
    return shown + more


def add_boolean_command(subparsers) -> argparse.ArgumentParser:
    """Register ``rnncirc boolean`` on `subparsers` (from ``add_subparsers``)."""
    from rnncirc.lower.boolean.lowering import SYMBOL_CODINGS
    from rnncirc.lower.boolean.words import ADDERS, MULTIPLIERS

    parser = subparsers.add_parser(
        "boolean", help="compile a model to an AND/XOR circuit on fixed-width integers and "
                        "export it (AIGER, BLIF, Bristol Fashion, Verilog)",
        description="Compile the RNN or program in MODEL.py over N steps, read every value "
                    "as a W-bit two's complement integer (mod 2^W; --frac-bits F for fixed "
                    "point, value = int / 2^F), and lower it to AND/XOR/NOT gates: prefix adders, "
                    "carry-save multipliers, exact comparisons, relu, max and min, lookup "
                    "tables (W <= 12) for other nonlinear functions. Prints AND and XOR counts, "
                    "depth, AND-depth and widths per level; -o writes the circuit, the format "
                    "chosen by the extension: .aag/.aig (AIGER), .blif, .v (Verilog), "
                    ".bristol or .txt (Bristol Fashion).")
    add_model_arguments(parser)
    parser.add_argument("--length", "-n", type=positive_int, required=True, metavar="N",
                        help="sequence length n (>= 1)")
    parser.add_argument("--width", "-w", type=width_bits, required=True, metavar="W",
                        help="word width in bits (2..32; lookup tables need W <= 12)")
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="write the circuit to PATH (.aag .aig .blif .v .bristol .txt); "
                             "for Berkeley ABC write .aig or .blif: ABC misreads ASCII .aag")
    add_topology_option(parser)
    add_objective_option(parser)
    add_outputs_option(parser)
    parser.add_argument("--frac-bits", "-f", type=int, default=0, metavar="F",
                        help="fixed-point scale: a word v stands for v / 2^F (default 0)")
    parser.add_argument("--unsigned", action="store_true",
                        help="unsigned words instead of two's complement")
    parser.add_argument("--adder", default="sklansky", choices=ADDERS, metavar="A",
                        help="carry network of the adders: " + ", ".join(ADDERS) +
                             " (default sklansky)")
    parser.add_argument("--multiplier", default="dadda", choices=MULTIPLIERS,
                        help="carry-save tree of the multipliers (default dadda)")
    parser.add_argument("--symbols", default="binary", choices=SYMBOL_CODINGS,
                        help="alphabet models: the symbol's binary code (default; every "
                             "input pattern is then a symbol sequence, so files of two "
                             "topologies are equivalent for ABC's cec) or one input bit per "
                             "symbol (onehot)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the report as JSON to PATH ('-' for stdout)")
    parser.set_defaults(run=run_boolean_command)
    return parser


def run_boolean_command(args) -> None:
    from rnncirc.compiler import compile_boolean
    from rnncirc.frontend.loader import pick_model

    if args.output:  # refuse a bad path or extension before the (possibly long) compile
        check_output_path(args.output, "--output", "circuit.aig")
        ext = os.path.splitext(args.output)[1].lower()
        if ext not in FORMATS and ext != ".txt":
            raise ExportFormatError(f"cannot tell the format of {args.output!r} from its "
                                    f"extension; use one of {', '.join(FORMATS)} (or .txt "
                                    "for Bristol Fashion)")
    model = pick_model(args.model_file, args.model, trust_pickle=args.trust_pickle)
    start = time.perf_counter()
    circuit = compile_boolean(model, args.length, args.width, args.topology, args.outputs,
                              objective=args.objective, signed=not args.unsigned,
                              frac_bits=args.frac_bits,
                              adder=args.adder, multiplier=args.multiplier,
                              symbols=args.symbols)
    report = boolean_report(circuit)
    report["compile_seconds"] = round(time.perf_counter() - start, 4)
    if args.json == "-":
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report, args.model_file))
    if args.output:
        kind = write_circuit(circuit, args.output)
        if args.json != "-":
            print(f"wrote {args.output} ({kind})")
    if args.json and args.json != "-":
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
        print(f"wrote {args.json}")

