"""Everything that takes an RNN takes a program: boolean lowering, diagrams, the commands."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.cli import main
from tests.conftest import EXAMPLES

STACK = os.path.join(EXAMPLES, "mamba_blocks.py")
AUTOMATON = os.path.join(EXAMPLES, "pd_ssm_automaton.py")
M = np.array([[1.0, 2.0], [0.0, -1.0]])


@rc.rnn(state=2, inputs=2)
def running(h, x):
    return h + x


@rc.rnn(state=2, inputs=2)
def mixing(h, x):
    return M @ h + x


@rc.program(inputs=2)
def integer_program(x):
    u = rc.scan(running, x)
    return rc.scan(mixing, 2 * u - x) + rc.shift(u)


def test_boolean_lowering_of_a_program_is_exact_on_integers():
    xs = np.random.default_rng(0).integers(-3, 4, size=(3, 6, 2))
    expected = integer_program.run(xs.astype(float))
    for topology in ("sequential", "sklansky"):
        booleans = rc.compile(integer_program, 6, topology=topology, domain="int", width=16)
        np.testing.assert_array_equal(booleans.evaluate(xs), expected.astype(np.int64))


def test_modular_evaluation_of_a_program():
    xs = np.random.default_rng(1).integers(-5, 6, size=(2, 9, 2))
    circuit = rc.compile(integer_program, 9, topology="brent-kung")
    expected = integer_program.run(xs.astype(float)).astype(np.int64) % 7
    np.testing.assert_array_equal(circuit.evaluate(xs, modulus=7), expected)


def test_diagrams_of_a_program(tmp_path):
    cell = rc.to_dot(integer_program, view="cell").to_string()
    assert "rc.scan(running" in cell and "rc.scan(mixing" in cell and "rc.shift by 1" in cell
    block = rc.to_dot(integer_program, view="block", length=5).to_string()
    assert block.count("subgraph cluster_block") == 4  # two layers, two position-wise blocks
    gate = rc.to_dot(rc.compile(integer_program, 3), view="gate").to_string()
    assert "mixing" in gate
    if shutil.which("dot") or os.environ.get("CI"):  # (CI installs Graphviz)
        rc.to_dot(integer_program, tmp_path / "cell.svg", view="cell")
        assert (tmp_path / "cell.svg").read_text().startswith("<?xml")


def test_every_command_takes_a_program_file(tmp_path, capsys):
    xs = tmp_path / "xs.npy"
    np.save(xs, np.random.default_rng(2).normal(size=(2, 16, 4)))
    symbols = tmp_path / "symbols.npy"
    np.save(symbols, np.random.default_rng(3).integers(0, 3, size=(4, 16)))
    commands = [
        ["compile", STACK, "-n", "16", "--json", tmp_path / "r.json"],
        ["classify", STACK],
        ["profile", STACK, "--model", "mamba_blocks", "--lengths", "4,8,16"],
        ["dot", STACK, "-n", "4", "--view", "block", "-o", tmp_path / "b.dot"],
        ["dot", STACK, "--view", "cell", "-o", tmp_path / "c.dot"],
        ["run", STACK, "-n", "16", "--input", xs, "--check", "--output", tmp_path / "y.npy"],
        ["run", AUTOMATON, "-n", "16", "--input", symbols, "--check"],
        ["boolean", AUTOMATON, "-n", "8", "-w", "8", "-o", tmp_path / "a.aig"],
    ]
    for command in commands:
        status = main([str(a) for a in command])
        out, err = capsys.readouterr()
        assert status == 0, (command, err)
    report = json.loads((tmp_path / "r.json").read_text())
    assert [layer["name"] for layer in report["layers"] if layer["kind"] != "position-wise"] \
        == ["mixer1", "mixer2"]
    assert {c["layer"] for c in report["layer_classes"]} == {"mixer1", "mixer2"}
    assert np.load(tmp_path / "y.npy").shape == (2, 16, 4)


@pytest.mark.parametrize("outputs", ["all", "last"])
def test_saved_and_loaded_program_circuit_runs_from_the_cli(tmp_path, capsys, outputs):
    saved = tmp_path / "c.npz"
    assert main(["compile", STACK, "-n", "8", "--outputs", outputs, "--save", str(saved),
                 "--no-formulas"]) == 0
    xs = tmp_path / "xs.npy"
    np.save(xs, np.ones((1, 8, 4)))
    assert main(["run", "--load", str(saved), "--input", str(xs), "--output",
                 str(tmp_path / "y.npy")]) == 0
    capsys.readouterr()
    loaded = np.load(tmp_path / "y.npy")
    assert loaded.shape == ((1, 8, 4) if outputs == "all" else (1, 4))
