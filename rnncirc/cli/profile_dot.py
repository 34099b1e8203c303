"""Command-line subcommands ``rnncirc profile`` and ``rnncirc dot`` (api.md §4).

`rnncirc.cli` registers them with `add_profile_command` / `add_dot_command`; each handler gets
the parsed arguments and raises `RnncircError` subclasses for user errors (printed as one line,
exit status 2). `compile_dot` serves ``rnncirc compile --dot PATH``.
"""

from __future__ import annotations

import argparse
import json
import os

from rnncirc.cli.distributed import add_scheduler_options
from rnncirc.cli.options import (
    add_model_arguments,
    add_objective_option,
    add_outputs_option,
    add_topology_option,
    check_output_path,
    positive_int,
)
from rnncirc.errors import OptionError

#: the figure formats --plot writes
PLOT_FORMATS = (".png", ".svg", ".pdf")


def parse_lengths(text: str) -> list[int]:
    """``1,2,4,8`` (a list), ``LO:HI`` (the default grid of powers of two and midpoints between
    LO and HI, both included) or ``LO:HI:STEP`` (every STEP-th length)."""
    from rnncirc.analyze.profile import DEFAULT_LENGTHS

    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            if lo < 1 or hi < lo or (len(parts) == 3 and parts[2] < 1):
                raise ValueError
            if len(parts) == 3:
                return list(range(lo, hi + 1, parts[2]))
            grid = sorted({lo, hi} | {n for n in DEFAULT_LENGTHS if lo <= n <= hi}
                          | {n for n in (1 << k for k in range(hi.bit_length() + 1))
                             if lo <= n <= hi})
            return grid
        values = [int(p) for p in text.split(",") if p.strip()]
        if not values or min(values) < 1:
            raise ValueError
        return values
    except ValueError:
        raise OptionError(f"--lengths {text!r}: give integers >= 1 as 1,2,4,8 or a range LO:HI "
                          "(powers of two and midpoints) or LO:HI:STEP") from None


# -- rnncirc profile ---------------------------------------------------------------------------
def add_profile_command(subparsers) -> argparse.ArgumentParser:
    """Register ``rnncirc profile MODEL.py [--lengths ...] [--plot PATH] [--json PATH]``."""
    parser = subparsers.add_parser(
        "profile", help="depth, size and other counts over many lengths, with exact formulas",
        description="Compile the model at many sequence lengths (default 1 to 4096: powers of "
                    "two and the midpoints between them) and report depth, size, "
                    "multiplicative depth and non-constant multiplications at each, with "
                    "exact formulas in n. --plot draws depth and size against n.")
    add_model_arguments(parser, " (default: every one, on one plot)")
    parser.add_argument("--lengths", "-l", metavar="LIST|LO:HI", type=str,
                        help="lengths: 1,2,4,... or LO:HI (powers of two and midpoints) or "
                             "LO:HI:STEP (default 1:4096)")
    add_topology_option(parser, " (auto is resolved per length). Several, separated by "
                                "commas, profile the model under each, on one plot with the "
                                "depth lower bound: --topology sklansky,ladner-fischer,"
                                "segment-sum", several=True)
    add_objective_option(parser)
    add_outputs_option(parser)
    parser.add_argument("--plot", metavar="PATH",
                        help="draw depth and size against n to PATH (.png, .svg or .pdf; needs "
                             "matplotlib: pip install 'rnncirc[plot]')")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the profile as JSON to PATH ('-' for stdout)")
    add_scheduler_options(parser, "each (model, length) row is a task on its workers")
    parser.set_defaults(run=run_profile)
    return parser


def run_profile(args) -> None:
    from rnncirc.analyze.profile import DepthProfiles, depth_profile
    from rnncirc.frontend.loader import load_models, pick_model

    if args.plot:  # before the (possibly long) profile
        check_output_path(args.plot, "--plot", "profile.png")
        if os.path.splitext(args.plot)[1].lower() not in PLOT_FORMATS:
            raise OptionError(f"--plot {args.plot}: give a .png, .svg or .pdf file")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise OptionError("--plot needs matplotlib: pip install 'rnncirc[plot]'") from None
    if args.model:
        models = [pick_model(args.model_file, args.model, trust_pickle=args.trust_pickle)]
    else:
        models = list(dict.fromkeys(load_models(
            args.model_file, trust_pickle=args.trust_pickle).values()))
    lengths = parse_lengths(args.lengths) if args.lengths else None
    if args.scheduler:
        from rnncirc.eval.distributed import open_client

        with open_client(args.scheduler) as client:
            found = depth_profile(models, lengths, topology=args.topology,
                                  outputs=args.outputs, client=client,
                                  objective=args.objective)
    else:
        found = depth_profile(models, lengths, topology=args.topology, outputs=args.outputs,
                              objective=args.objective)
    profiles = found if isinstance(found, DepthProfiles) else DepthProfiles([found])
    if args.json == "-":
        print(json.dumps(_profile_json(profiles), indent=2))
    else:
        print("\n\n".join(repr(p) for p in profiles))
    if args.plot:
        profiles.plot(args.plot)
        if args.json != "-":
            print(f"wrote {args.plot}")
    if args.json and args.json != "-":
        with open(args.json, "w") as out:
            json.dump(_profile_json(profiles), out, indent=2)
        print(f"wrote {args.json}")


def _profile_json(profiles) -> dict:
    return profiles[0].to_dict() if len(profiles) == 1 else profiles.to_dict()


# -- rnncirc dot -------------------------------------------------------------------------------
def add_dot_command(subparsers) -> argparse.ArgumentParser:
    """Register ``rnncirc dot MODEL.py --length N --view cell|block|gate -o PATH``."""
    parser = subparsers.add_parser(
        "dot", help="draw the model's step, prefix network or gates with Graphviz",
        description="Write a Graphviz diagram: --view cell (one step, the operation that "
                    "blocks parallelism in red), block (the prefix network: one node per "
                    "combine with its segment [i..j] and gate count; for an unrolled model, "
                    "one node per step) or gate (every gate; small circuits only). The output "
                    "is DOT text for .dot/.gv, or rendered by Graphviz's dot for .svg/.png/.pdf.")
    add_model_arguments(parser)
    parser.add_argument("--view", choices=("cell", "block", "gate"), default="cell",
                        help="cell (default), block or gate")
    parser.add_argument("--length", "-n", type=positive_int, metavar="N",
                        help="sequence length (needed by the block and gate views)")
    add_topology_option(parser)
    add_outputs_option(parser)
    parser.add_argument("--max-gates", type=positive_int, default=None, metavar="G",
                        help="the gate view refuses circuits of more gates than G (default "
                             "2000: larger drawings take Graphviz minutes)")
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="where to write: .dot/.gv, or .svg/.png/.pdf (needs Graphviz)")
    parser.set_defaults(run=run_dot)
    return parser


def run_dot(args) -> None:
    from rnncirc.export.dot import to_dot
    from rnncirc.export.dot_graph import GATE_LIMIT
    from rnncirc.frontend.loader import pick_model

    model = pick_model(args.model_file, args.model, trust_pickle=args.trust_pickle)
    if args.view != "cell" and args.length is None:
        raise OptionError(f"--view {args.view} draws a circuit: give --length N")
    to_dot(model, args.output, view=args.view, length=args.length, topology=args.topology,
           outputs=args.outputs, max_gates=args.max_gates or GATE_LIMIT)
    print(f"wrote the {args.view} view of {model.name} to {args.output}")


def add_compile_dot_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--dot PATH`` to the compile subcommand."""
    parser.add_argument("--dot", metavar="PATH",
                        help="also draw the circuit (.dot, .svg, .png): the gate view when it "
                             "is small, else the block view")


def compile_dot(model, circuit, path: str) -> None:
    """``rnncirc compile --dot PATH``: draw what was compiled, print what was written."""
    from rnncirc.export.dot import dot_for_compile

    print(dot_for_compile(model, circuit, path))
