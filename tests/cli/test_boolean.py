"""``rnncirc boolean``: the report, every export format, and one-line user errors."""

from __future__ import annotations

import argparse
import json
import os

import pytest

import rnncirc as rc
from rnncirc.cli.boolean import add_boolean_command
from rnncirc.export.boolean import FORMATS

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")


def run(*argv: str) -> None:
    parser = argparse.ArgumentParser(prog="rnncirc")
    add_boolean_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["boolean", *argv])
    args.run(args)


def test_report_and_every_format(tmp_path, capsys):
    model = os.path.join(EXAMPLES, "parity.py")
    for ext in list(FORMATS) + [".txt"]:
        out = str(tmp_path / f"parity{ext}")
        run(model, "--length", "8", "--width", "8", "-o", out)
        assert os.path.getsize(out) > 0
    text = capsys.readouterr().out
    assert "AND-depth" in text and "gates per level" in text and "wrote" in text
    assert "8-bit signed" in text and "symbols binary" in text


def test_json_report(tmp_path, capsys):
    model = os.path.join(EXAMPLES, "mamba.py")
    run(model, "-n", "4", "-w", "8", "--frac-bits", "3", "--adder", "brent-kung",
        "--outputs", "last", "--json", "-")
    report = json.loads(capsys.readouterr().out)
    for key in ("and_count", "xor_count", "depth", "and_depth", "aig_and_count", "aig_depth",
                "width_per_level", "ands_per_and_level", "compile_seconds"):
        assert key in report
    assert report["adder"] == "brent-kung" and report["frac_bits"] == 3
    assert sum(report["ands_per_and_level"]) == report["and_count"]
    assert sum(report["width_per_level"]) == report["and_count"] + report["xor_count"]
    assert report["output_bits"] == 16 * 8  # h_n only: 16 states of 8 bits


@pytest.mark.parametrize("argv, message", [
    (["-n", "2", "-w", "16"], "12 bits"),           # mamba's exp and softplus need a table
    (["-n", "2", "-w", "8", "-o", "x.json"], "extension"),
    (["-n", "2", "-w", "8", "--frac-bits", "9"], "frac_bits"),
])
def test_user_errors(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(rc.RnncircError, match=message):
        run(os.path.join(EXAMPLES, "mamba.py"), *argv)


def test_wired_into_the_cli(tmp_path, capsys):
    from rnncirc import cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "boolean" in commands.choices
    status = cli.main(["boolean", os.path.join(EXAMPLES, "mamba.py"), "-n", "2", "-w", "16"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("rnncirc: error:")
    out = str(tmp_path / "m.blif")
    assert cli.main(["boolean", os.path.join(EXAMPLES, "mamba.py"), "-n", "2", "-w", "8",
                     "-o", out]) == 0
