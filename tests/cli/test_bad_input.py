"""Bad input from the command line and the API: one line, exit status 2, never a traceback,
a hang or a silent wrong answer."""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import rnncirc as rc
import rnncirc.analyze.profile
from rnncirc.cli import main
from rnncirc.cli.run import _check
from rnncirc.errors import CheckFailedError, RnncircWarning

from ..conftest import example

ROOT = Path(__file__).resolve().parents[2]
MAMBA = str(ROOT / "examples" / "mamba.py")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(status: int, err: str, *facts: str) -> str:
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("rnncirc: warning:")]
    assert len(lines) == 1 and lines[0].startswith("rnncirc: error: "), err
    for fact in facts:
        assert fact in lines[0], (fact, lines[0])
    return lines[0]


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "complex.npy", np.ones((2, 8, 4), dtype=complex))
    np.save(tmp_path / "f16.npy", np.ones((2, 8, 4), dtype=np.float16))
    np.save(tmp_path / "empty.npy", np.zeros((0, 8, 4)))
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(2, 8, 4)))
    (tmp_path / "corrupt.npz").write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "binary.py").write_bytes(b"\x00\x01\x02\xff\xfe")
    (tmp_path / "exit3.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "hang.py").write_text(
        "import rnncirc as rc\n@rc.rnn(state=1, inputs=1)\ndef f(h, x):\n"
        "    while True:\n        pass\n")
    (tmp_path / "nan_weight.py").write_text(
        "import numpy as np\nimport rnncirc as rc\nW = np.array([[np.nan]])\n"
        "@rc.rnn(state=1, inputs=1)\ndef f(h, x):\n    return 0.5 * h + W @ x\n")
    saved = rc.compile(example("mamba"), 8)
    saved.save(tmp_path / "m.npz")
    whole = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize("name,facts", [
    ("complex.npy", ["complex", "real and imaginary parts"]),
    ("empty.npy", ["empty"]),
])
def test_run_refuses_inputs_it_cannot_read(capsys, files, name, facts):
    status, _, err = run_cli(capsys, "run", MAMBA, "-n", 8, "-i", files / name)
    one_line_error(status, err, *facts)


def test_run_reads_float16_inputs_as_float64(capsys, files):
    status, out, err = run_cli(capsys, "run", MAMBA, "-n", 8, "-i", files / "f16.npy",
                               "-o", files / "hs.npy", "--check")
    assert status == 0, err
    assert np.load(files / "hs.npy").dtype == np.float64


@pytest.mark.parametrize("name", ["corrupt.npz", "truncated.npz"])
def test_corrupt_or_truncated_circuit_files(capsys, files, name):
    status, _, err = run_cli(capsys, "run", "--load", files / name, "-i", files / "x.npy")
    one_line_error(status, err, name)
    with pytest.raises(rc.RnncircError, match="cannot read circuit file"):
        rc.Circuit.load(files / name)


def test_profile_plot_extension_is_checked_before_the_profile(capsys, files, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("profiled before checking --plot")

    monkeypatch.setattr(rnncirc.analyze.profile, "depth_profile", never)
    status, _, err = run_cli(capsys, "profile", MAMBA, "--lengths", "1:8", "--plot",
                             files / "out.txt")
    one_line_error(status, err, "--plot", ".png, .svg or .pdf")


def test_output_naming_a_folder_is_refused_and_names_are_kept(capsys, files):
    status, _, err = run_cli(capsys, "run", MAMBA, "-n", 8, "-i", files / "x.npy", "-o",
                             files / "folder")
    one_line_error(status, err, "is a folder")
    status, out, err = run_cli(capsys, "run", MAMBA, "-n", 8, "-i", files / "x.npy", "-o",
                               files / "hs")
    assert status == 0 and os.path.exists(files / "hs") and not os.path.exists(files / "hs.npy")
    assert f"wrote {files / 'hs'}:" in out


@pytest.mark.parametrize("name,facts", [
    ("binary.py", ["is not Python source"]),
    ("exit3.py", ["exit3.py:2", "sys.exit(3)"]),
])
def test_model_files_that_are_not_models(capsys, files, name, facts):
    status, _, err = run_cli(capsys, "compile", files / name, "-n", 3)
    line = one_line_error(status, err, *facts)
    assert "None" not in line


def test_a_step_that_never_returns_is_stopped(capsys, files):
    status, _, err = run_cli(capsys, "--trace-seconds", "1", "compile", files / "hang.py",
                             "-n", 3)
    one_line_error(status, err, "hang.py:4", "longer than 1 s", "--trace-seconds")


@pytest.mark.parametrize("argv,facts", [
    (["dot", MAMBA, "--view", "gate", "-n", "2", "--max-gates", "0", "-o", "g.dot"],
     ["--max-gates", "at least 1"]),
    (["dot", MAMBA, "--view", "gate", "-n", "2", "--max-gates", "-5", "-o", "g.dot"],
     ["--max-gates", "at least 1"]),
    (["boolean", MAMBA, "-n", "2", "-w", "0"], ["--width", "from 2 to 32"]),
    (["boolean", MAMBA, "-n", "2", "-w", "1"], ["--width", "from 2 to 32"]),
    (["boolean", MAMBA, "-n", "2", "-w", "40"], ["--width", "from 2 to 32"]),
    (["dot", MAMBA, "--view", "gate", "-n", "8", "--max-gates", "10", "-o", "g.dot"],
     ["--max-gates G", "--view block"]),
])
def test_option_errors_name_the_options(capsys, files, monkeypatch, argv, facts):
    monkeypatch.chdir(files)
    status, _, err = run_cli(capsys, *argv)
    one_line_error(status, err, *facts)


def test_classify_of_something_else():
    with pytest.raises(rc.RnncircError, match="classify expects an rnncirc RNN or Program"):
        rc.classify(42)


def test_complex_inputs_are_refused_by_the_eager_run_too():
    with pytest.raises(rc.RnncircError, match="complex"):
        example("mamba").run(np.ones((3, 4), dtype=complex))


def test_nan_weights_and_inputs_warn_once_on_one_line(capsys, files):
    status, _, err = run_cli(capsys, "compile", files / "nan_weight.py", "-n", 3)
    assert status == 0
    assert err.strip() == err.strip().splitlines()[0]  # one line
    assert err.startswith("rnncirc: warning: NaN or inf in a constant") and \
        "nan_weight.py:6" in err
    x = np.random.default_rng(0).normal(size=(2, 8, 4))
    x[0, 3, 1] = np.nan
    np.save(files / "nan.npy", x)
    status, _, err = run_cli(capsys, "run", MAMBA, "-n", 8, "-i", files / "nan.npy",
                             "--check")
    assert status == 0, err
    assert err.count("rnncirc: warning:") == 1 and "index (0, 3, 1)" in err


def test_nan_warnings_from_python():
    x = np.ones((3, 4))
    x[1, 2] = np.inf
    with pytest.warns(RnncircWarning, match="NaN or inf in the inputs"):
        rc.compile(example("mamba"), 3).evaluate(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rc.compile(example("mamba"), 3).evaluate(np.ones((3, 4)))  # finite: no warning


def test_check_fails_on_nan_differences_and_past_the_tolerance(capsys):
    args = argparse.Namespace(check_tol=None, dtype="float64")
    expected = np.array([[1.0, 2.0], [3.0, np.nan]])
    _check(expected.copy(), expected, "m", args)  # NaN where the run has NaN: fine
    for got in (np.array([[1.0, np.nan], [3.0, np.nan]]),   # NaN where the run is finite
                np.array([[1.0, 2.0], [3.0, 4.0]]),         # finite where the run is NaN
                np.array([[1.0, 2.0 + 1e-6], [3.0, np.nan]])):  # past 1e-9
        with pytest.raises(CheckFailedError, match="--check failed"):
            _check(got, expected, "m", args)
    capsys.readouterr()
