"""Argument types and options shared by the subcommands of the command line (one definition
each, so that every command spells and explains them alike)."""

from __future__ import annotations

import argparse
import os

from rnncirc.errors import OptionError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a sequence length, a width)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser, several: str = "") -> None:
    """MODEL.py and ``--model NAME``, as every command that reads a model file takes them."""
    parser.add_argument("model_file", metavar="MODEL.py",
                        help="a Python file defining RNNs (@rc.rnn) and programs "
                             "(@rc.program); with one program, the program is meant")
    parser.add_argument("--model", "-m", metavar="NAME",
                        help="which RNN or program of the file (variable or model name) when "
                             "it has several" + several)
    add_trust_pickle_option(parser)


def add_trust_pickle_option(parser: argparse.ArgumentParser) -> None:
    """``--trust-pickle``: open a ``.pt`` file saved with ``torch.save(module)``."""
    parser.add_argument("--trust-pickle", action="store_true",
                        help="accept a .pt/.pth file saved with torch.save(module) as "
                             "MODEL.py; loading a pickle runs the code it holds, so only for "
                             "files you made (a model file that loads a state_dict is safe)")


def add_topology_option(parser: argparse.ArgumentParser, more: str = "",
                        several: bool = False) -> None:
    """``--topology T``: every command that compiles takes the same choices (`several`: a
    comma-separated list of them, given as a list)."""
    from rnncirc.compiler import TOPOLOGIES

    def topologies(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        wrong = [name for name in names if name not in TOPOLOGIES]
        if not names or wrong:
            raise argparse.ArgumentTypeError(
                f"unknown topology {', '.join(wrong) or repr(text)}; choose from "
                f"{', '.join(TOPOLOGIES)}, or several separated by commas")
        return names

    kind = {"type": topologies, "default": ["auto"]} if several else \
        {"choices": TOPOLOGIES, "default": "auto"}
    parser.add_argument(
        "--topology", metavar="T[,T...]" if several else "T", **kind,
        help="how the recurrence is built: auto (default: for a linear model the circuit "
             "best by --objective among the prefix networks and segment-sum; a nonlinear "
             "model is unrolled), sequential (the unrolled baseline), segment-sum for a "
             "dense, DPLR or permutation-diagonal model (A as d x d matrices: c (log2 n + 1) "
             "+ 1 levels against (c + 1) log2 n for a scan, c = 1 + ceil(log2 d), for 4 to 5 "
             "times the gates of sklansky; segment-sum-optimal builds the same) or a "
             "complex-diagonal one (d = 2 per rotation-scaling block: 2 log2 n + 3 levels "
             "against 3 log2 n), a prefix "
             "network: "
             + ", ".join(t for t in TOPOLOGIES if t not in ("auto", "sequential")
                         and not t.startswith("segment-sum"))
             + ", or segment-sum (scalar and diagonal models: about log2 n + sqrt(2 log2 n) "
             "+ 1 levels of fan-in-2 + and * against 2 log2 n for a scan, for about 2%% "
             "more gates than sklansky; segment-sum-optimal: one or two levels fewer, for "
             "1.2 to 2.5 times the gates of segment-sum)" + more)


def add_objective_option(parser: argparse.ArgumentParser) -> None:
    """``--objective depth|size|balanced``: what "best" means where rnncirc chooses."""
    from rnncirc.lower.objective import OBJECTIVES

    parser.add_argument(
        "--objective", choices=OBJECTIVES, default="depth",
        help="what auto (and the form a permutation-diagonal or DPLR A is combined in) "
             "optimizes: depth (default: least circuit depth, then fewest gates: parallel "
             "time, a prover's rounds, an FHE multiplicative budget), size (fewest gates, "
             "then depth: what a CPU evaluation's time follows, as it runs every gate) or "
             "balanced (least depth x gates)")


def add_outputs_option(parser: argparse.ArgumentParser) -> None:
    """``--outputs all|last``."""
    parser.add_argument("--outputs", choices=("all", "last"), default="all",
                        help="all: every state h_1..h_n is an output (default); last: only "
                             "h_n")


def check_output_path(path: str, option: str, example: str) -> None:
    """Refuse, before any work, an output path that names a folder or lies in none."""
    if os.path.isdir(path):
        raise OptionError(f"{option} {path} is a folder; give a file name, such as "
                          f"{os.path.join(path, example)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OptionError(f"cannot write {path}: folder {folder} does not exist")


def width_bits(text: str) -> int:
    """argparse type: a word width of 2 to 32 bits."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 2 <= value <= 32:
        raise argparse.ArgumentTypeError(f"must be from 2 to 32 bits, got {value}")
    return value
