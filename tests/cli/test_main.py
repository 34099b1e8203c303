"""The command line: `rnncirc compile` on good and bad input (api.md §4).

Every user error must be exactly one line ``rnncirc: error: ...`` on stderr, exit status 2,
and no traceback; the line carries the facts needed to fix it (file:line, names, shapes).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy

import rnncirc as rc
import rnncirc.ir.memory
from rnncirc.cli import main

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
ELMAN = str(ROOT / "examples" / "elman.py")
TWO = str(DATA / "two_models.py")

REPORT_FIELDS = ("model", "length", "kind", "topology", "depth", "size", "op_counts",
                 "depth_formula", "size_formula", "compile_seconds")


def at(name: str, text: str) -> str:
    """``"name:LINE"`` of the first line of tests/data/`name` that contains `text`."""
    for number, line in enumerate((DATA / name).read_text().splitlines(), start=1):
        if text in line:
            return f"{name}:{number}"
    raise AssertionError(f"{text!r} not found in {name}")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def assert_user_error(status: int, err: str, facts) -> str:
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rnncirc: error: "), err
    for fact in facts:
        assert fact in lines[0], (fact, lines[0])
    return lines[0]


# -- one line, exit 2, no traceback, the right facts ---------------------------------------------
BAD_MODEL_FILES = {
    "syntax_error.py": [at("syntax_error.py", "def broken(h, x)"), "syntax error"],
    "no_rnn.py": ["no_rnn.py", "defines no RNN", "@rc.rnn"],
    "two_models.py": ["2 RNNs", "decay_model", "elman_small", "--model"],
    "load_error.py": [at("load_error.py", "W = np.ones"), "ValueError"],
    "if_symbolic.py": [at("if_symbolic.py", "if h[0] > 0"), "`if`", "rc.where"],
    "int_symbolic.py": [at("int_symbolic.py", "int(h[0])"), "int()", "rc.where"],
    "bool_symbolic.py": [at("bool_symbolic.py", "bool(x[0])"), "bool()", "rc.where"],
    "shape_mismatch.py": [at("shape_mismatch.py", "return W @ h"), "matmul", "(4, 3)", "(5,)"],
    "wrong_shape.py": [at("wrong_shape.py", "def shrinks"), "shrinks", "returned shape (3,)",
                       "state has shape (4,)"],
    "returns_tuple.py": [at("returns_tuple.py", "def pair"), "tuple", "rc.concat"],
    "unsupported_numpy.py": [at("unsupported_numpy.py", "np.linalg.inv"), "np.linalg.inv",
                             "not supported"],
    "unsupported_sort.py": [at("unsupported_sort.py", "np.sort"), "np.sort", "not supported"],
    "name_error.py": [at("name_error.py", "undefined_weight"), "NameError", "undefined_weight",
                      "typo"],
}


@pytest.mark.parametrize("name", sorted(BAD_MODEL_FILES))
def test_bad_model_file(capsys, name):
    status, _, err = run_cli(capsys, "compile", DATA / name, "--length", "3")
    line = assert_user_error(status, err, BAD_MODEL_FILES[name])
    # the location comes first, as compilers write it
    location = BAD_MODEL_FILES[name][0]
    if re.fullmatch(r"\w+\.py:\d+", location):
        assert line.startswith(f"rnncirc: error: {location}: "), line


@pytest.mark.parametrize("args, facts", [
    (["compile", DATA / "missing.py", "--length", "3"], ["missing.py", "does not exist"]),
    (["compile", DATA, "--length", "3"], ["not a Python file"]),
    (["compile", ELMAN, "--length", "0"], ["--length", "at least 1", "compile --help"]),
    (["compile", ELMAN, "--length", "-3"], ["--length", "at least 1"]),
    (["compile", ELMAN, "--length", "abc"], ["--length", "'abc'"]),
    (["compile", ELMAN, "--length", "2.5"], ["--length", "'2.5'"]),
    (["compile", ELMAN], ["--length"]),
    (["compile", ELMAN, "--length", "2", "--topology", "bogus"],
     ["'bogus'", "auto", "sequential", "kogge-stone"]),
    (["compile", ELMAN, "--length", "2", "--outputs", "first"], ["--outputs", "'first'"]),
    (["compile", ELMAN, "--length", "2", "--frobnicate"], ["--frobnicate"]),
    (["compile", TWO, "--length", "2", "--model", "nope"],
     ["'nope'", "decay_model", "elman_small"]),
    (["frobnicate"], ["'frobnicate'", "rnncirc --help"]),
    ([], ["COMMAND"]),
])
def test_bad_command_line(capsys, args, facts):
    status, out, err = run_cli(capsys, *args)
    assert_user_error(status, err, facts)
    assert out == ""


def test_parallel_topology_on_a_nonlinear_model_says_why(capsys):
    status, _, err = run_cli(capsys, "compile", ELMAN, "--length", "3", "--topology", "sklansky")
    assert_user_error(status, err, ["sklansky", "tanh", "sequential"])


def test_unwritable_output_path_is_a_user_error(capsys, tmp_path):
    target = tmp_path / "no" / "such" / "dir" / "report.json"
    status, _, err = run_cli(capsys, "compile", ELMAN, "--length", "2", "--json", target)
    assert_user_error(status, err, ["No such file or directory", str(target)])


def test_circuit_too_large_for_memory_is_refused_before_building(capsys, monkeypatch):
    monkeypatch.setattr(rnncirc.ir.memory, "available_bytes", lambda: 10 * 2**20)  # 10 MiB
    start = time.perf_counter()
    status, out, err = run_cli(capsys, "compile", ELMAN, "--length", "1000000")
    elapsed = time.perf_counter() - start
    line = assert_user_error(status, err, ["elman", "1,000,000 steps", "10.0 MiB", "--length"])
    match = re.search(r"about ([\d,]+) gates", line)
    assert match, line
    gates = int(match.group(1).replace(",", ""))
    assert gates > 9_000 * 1_000_000  # size(n) = 9280 n - 8192 for this model
    assert out == ""
    assert elapsed < 5.0  # refused from the estimate, not after trying to build it


def test_circuit_too_large_for_int32_ids_is_refused(capsys):
    status, _, err = run_cli(capsys, "compile", ELMAN, "--length", "300000000")
    assert_user_error(status, err, ["gates", "2^31"])


# -- what a good run writes -----------------------------------------------------------------------
def test_compile_prints_a_report(capsys):
    status, out, err = run_cli(capsys, "compile", ELMAN, "--length", "4")
    assert status == 0 and err == ""
    assert "elman" in out and "depth" in out and "size" in out


def test_compile_of_viterbi_states_the_semiring_caveat(capsys):
    viterbi = os.path.join(os.path.dirname(ELMAN), "viterbi.py")
    status, out, err = run_cli(capsys, "compile", viterbi, "--length", "64")
    assert status == 0 and err == ""
    assert "max-plus, complexity class NC1-hard (derived, not in the paper)" in out
    assert "caveat         the paper's classes are for recurrences over Q" in out
    assert "depth(n)       4*ceil(log2(n)) + 8" in out and "size(n)" in out


def test_json_report_has_the_api_fields(capsys, tmp_path):
    path = tmp_path / "report.json"
    status, out, err = run_cli(capsys, "compile", ELMAN, "--length", "4", "--json", path)
    assert status == 0 and err == ""
    assert f"wrote {path}" in out
    report = json.loads(path.read_text())
    for field in REPORT_FIELDS:
        assert field in report, field
    assert report["model"] == "elman" and report["length"] == 4
    assert report["topology"] == "sequential"
    assert isinstance(report["depth"], int) and isinstance(report["size"], int)
    assert sum(report["op_counts"].values()) == report["size"]
    assert report["compile_seconds"] >= 0
    n = sympy.Symbol("n")
    for field, key in (("depth_formula", "depth"), ("size_formula", "size")):
        formula = sympy.sympify(report[field], locals={"n": n})
        assert formula.subs(n, 4) == report[key], (field, report[field])


def test_json_report_kind_is_a_classification(capsys):
    status, out, _ = run_cli(capsys, "compile", ELMAN, "--length", "2", "--json", "-")
    assert status == 0
    assert json.loads(out)["kind"] == "nonlinear"


def test_json_to_stdout_and_outputs_last(capsys):
    status, out, err = run_cli(capsys, "compile", ELMAN, "--length", "3", "--json", "-",
                               "--outputs", "last")
    assert status == 0 and err == ""
    report = json.loads(out)  # stdout holds only the JSON
    assert report["outputs"] == "last" and report["length"] == 3


@pytest.mark.parametrize("name, model", [
    ("elman_small", "elman_small"), ("decay_model", "decay"), ("decay", "decay"),
])
def test_model_option_picks_one(capsys, name, model):
    status, out, err = run_cli(capsys, "compile", TWO, "--length", "3", "--model", name,
                               "--json", "-")
    assert status == 0 and err == ""
    assert json.loads(out)["model"] == model


def test_save_writes_a_loadable_circuit(capsys, tmp_path):
    path = tmp_path / "elman.npz"
    status, out, err = run_cli(capsys, "compile", TWO, "--length", "3", "--model",
                               "elman_small", "--save", path, "--json", tmp_path / "r.json")
    assert status == 0 and err == ""
    assert f"saved circuit to {path}" in out
    report = json.loads((tmp_path / "r.json").read_text())
    circuit = rc.Circuit.load(path)
    assert (circuit.depth, circuit.size, circuit.length) == (report["depth"], report["size"], 3)
    from rnncirc.frontend.loader import pick_model

    model = pick_model(TWO, "elman_small")
    xs = np.random.default_rng(0).normal(size=(2, 3, 2))
    np.testing.assert_allclose(circuit.evaluate(xs), model.run(xs), rtol=1e-9, atol=1e-12)


def test_save_writes_exactly_the_path_given(capsys, tmp_path):
    path = tmp_path / "elman.circuit"
    status, out, err = run_cli(capsys, "compile", ELMAN, "--length", "2", "--save", path)
    assert status == 0 and err == ""
    assert path.exists() and not (tmp_path / "elman.circuit.npz").exists()
    assert rc.Circuit.load(path).length == 2


def test_compile_help_mentions_every_option(capsys):
    status, out, err = run_cli(capsys, "compile", "--help")
    assert status == 0 and err == ""
    for option in ("MODEL.py", "--length", "--model", "--topology", "--outputs", "--json",
                   "--save"):
        assert option in out, option


def test_compile_help_mentions_dot(capsys):
    status, out, _ = run_cli(capsys, "compile", "--help")
    assert status == 0 and "--dot" in out


def test_version(capsys):
    status, out, _ = run_cli(capsys, "--version")
    assert status == 0 and rc.__version__ in out


# -- as a real process -----------------------------------------------------------------------------
def _python_m_rnncirc(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "rnncirc", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_subprocess_bad_input_is_one_line_exit_2(tmp_path):
    done = _python_m_rnncirc("compile", DATA / "if_symbolic.py", "--length", "3", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"rnncirc: error: {at('if_symbolic.py', 'if h[0] > 0')}: ")
    assert "rc.where" in done.stderr


def test_subprocess_good_run_writes_json(tmp_path):
    done = _python_m_rnncirc("compile", ELMAN, "--length", "2", "--json", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["model"] == "elman" and report["length"] == 2


def test_ctrl_c_is_one_line_and_status_130(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    import rnncirc.analyze.report

    monkeypatch.setattr(rnncirc.analyze.report, "compile_report", interrupted)
    status, out, err = run_cli(capsys, "compile", ELMAN, "--length", "2")
    assert status == 130 and err.strip() == "rnncirc: interrupted", err
