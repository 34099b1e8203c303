"""Command line: ``rnncirc compile MODEL.py --length N`` and friends (api.md §4).

User errors print one line ``rnncirc: error: ...`` on stderr and exit with status 2; anything
else is a bug in rnncirc and exits with status 1 (with its traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from rnncirc.cli.boolean import add_boolean_command
from rnncirc.cli.compile import add_compile_command
from rnncirc.cli.options import (
    add_model_arguments,
)
from rnncirc.cli.profile_dot import (
    add_dot_command,
    add_profile_command,
)
from rnncirc.cli.run import add_run_command
from rnncirc.errors import RnncircError, RnncircWarning
from rnncirc.version import __version__

_EPILOG = """examples:
  rnncirc compile examples/elman.py --length 1024
  rnncirc compile examples/mamba.py --length 1024 --topology brent-kung
  rnncirc classify examples/parity.py
  rnncirc compile examples/lstm.py --length 64 --json lstm.json --save lstm.npz"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, as for every user error."""

    def error(self, message: str):
        self.exit(2, f"rnncirc: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnncirc", description=(
        "Compile recurrent neural networks into arithmetic circuits and measure their depth "
        "and size."), epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rnncirc {__version__}")
    parser.add_argument("--trace-seconds", type=float, metavar="S", default=None,
                        help="stop tracing a step function after S seconds (default 60, or "
                             "RNNCIRC_TRACE_SECONDS; 0: no limit): a step that never returns "
                             "is reported instead of hanging. Give it before the command")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    add_compile_command(commands)

    classify = commands.add_parser(
        "classify", help="say whether the model is linear in its state, and which kind",
        description="Decide exactly, from the traced step, whether h_t is affine in h_(t-1); "
                    "if so, the structure of A(x) (scalar, diagonal, permutation-diagonal, "
                    "dplr with its rank, dense) and the complexity class the paper places it "
                    "in; if not, the operation that blocks parallelism.")
    add_model_arguments(classify, " (default: all)")
    classify.add_argument("--json", metavar="PATH",
                          help="also write the classification as JSON to PATH ('-' for stdout)")
    classify.set_defaults(run=_cmd_classify)
    add_profile_command(commands)
    add_dot_command(commands)
    add_boolean_command(commands)
    add_run_command(commands)
    return parser


def _cmd_classify(args) -> None:
    from rnncirc.frontend.loader import load_models, pick_model
    from rnncirc.lower.layers import classify

    if args.model:
        models = [pick_model(args.model_file, args.model, trust_pickle=args.trust_pickle)]
    else:
        models = list(dict.fromkeys(load_models(
            args.model_file, trust_pickle=args.trust_pickle).values()))
    results = [{"model": m.name, **classify(m).to_dict()} for m in models]
    if args.json == "-":
        print(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    for result in results:
        rank = f", rank {result['rank']}" if result["rank"] else ""
        side = f", {result.get('side')} side" if result.get("side") in ("left", "right") \
            else ""
        kind = f"program, {result['kind']}" if "layers" in result else result["kind"]
        print(f"{result['model']}: {kind}{rank}{side} -- {result['complexity']}")
        print(f"  {result['reason']}")
        for layer in result.get("layers", []):
            print(f"  layer {layer['layer']}: {layer['kind']} -- {layer['complexity']}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results if len(results) > 1 else results[0], out, indent=2)
        print(f"wrote {args.json}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line on `argv` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 2)
    warnings.showwarning = _show_warning
    _shown.clear()
    if args.trace_seconds is not None:
        from rnncirc.frontend import model

        model.TRACE_SECONDS = max(0.0, args.trace_seconds)
    try:
        args.run(args)
    except RnncircError as err:
        _error(str(err))
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line and the shell's status for SIGINT
        print("\nrnncirc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return 0
    except OSError as err:  # unwritable --json/--save path and the like
        _error(f"{err.strerror or err}: {err.filename or ''}".rstrip(": "))
        return 2
    return 0


_python_show_warning = warnings.showwarning
_shown: set[str] = set()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """rnncirc's own warnings as one line, like its errors; others as Python shows them."""
    if issubclass(category, RnncircWarning):
        if str(message) not in _shown:  # the same fact seen by two stages is said once
            _shown.add(str(message))
            print(f"rnncirc: warning: {message}", file=sys.stderr)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def _error(message: str) -> None:
    """Print a user error as exactly one line (wrapped messages are joined)."""
    one_line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    print(f"rnncirc: error: {one_line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
