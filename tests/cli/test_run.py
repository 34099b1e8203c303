"""``rnncirc run``: evaluate a compiled or loaded circuit on an .npy file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import rnncirc as rc
from rnncirc import cli
from rnncirc.cli.run import _ProgressBar, add_run_command

ROOT = Path(__file__).resolve().parent.parent.parent
GRU = str(ROOT / "examples" / "gru.py")
PARITY = str(ROOT / "examples" / "parity.py")
TWO = str(ROOT / "tests" / "data" / "two_models.py")


@pytest.fixture
def run(monkeypatch, capsys):
    """Call the CLI with `run` registered (wired here if cli.py does not do it yet)."""
    build = cli.build_parser

    def with_run():
        parser = build()
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        if "run" not in sub.choices:
            add_run_command(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_run)

    def call(*args):
        status = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return status, out, err

    return call


def assert_user_error(status, err, *facts):
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnncirc: error: "), err
    for fact in facts:
        assert fact in lines[0], (fact, lines[0])


def test_compile_and_run_writes_states(run, tmp_path):
    model = rc.frontend.loader.pick_model(GRU)
    xs = np.random.default_rng(0).normal(size=(3, 10, 8))
    np.save(tmp_path / "xs.npy", xs)
    status, out, err = run("run", GRU, "--length", 10, "--input", tmp_path / "xs.npy",
                           "--output", tmp_path / "hs.npy", "--check")
    assert status == 0, err
    hs = np.load(tmp_path / "hs.npy")
    np.testing.assert_allclose(hs, model.run(xs), rtol=1e-9, atol=1e-12)
    assert "check against gru.run" in out and "register file" in out and "wrote" in out
    assert "schedule: " in out and "thread" in out


def test_load_saved_circuit_last_output_float32(run, tmp_path):
    model = rc.frontend.loader.pick_model(GRU)
    rc.compile(model, 6, outputs="last").save(tmp_path / "c.npz")
    xs = np.random.default_rng(1).normal(size=(6, 8))  # one sequence, unbatched
    np.save(tmp_path / "xs.npy", xs)
    status, out, err = run("run", "--load", tmp_path / "c.npz", "-i", tmp_path / "xs.npy",
                           "-o", tmp_path / "hs.npy", "--dtype", "float32")
    assert status == 0, err
    hs = np.load(tmp_path / "hs.npy")
    assert hs.shape == (32,) and hs.dtype == np.float32
    np.testing.assert_allclose(hs, model.run(xs)[-1], rtol=1e-4, atol=1e-5)


def test_alphabet_model_modular(run, tmp_path):
    symbols = np.random.default_rng(2).integers(0, 2, size=(4, 12))
    np.save(tmp_path / "s.npy", symbols)
    status, out, err = run("run", PARITY, "-n", 12, "--topology", "sequential", "-i",
                           tmp_path / "s.npy", "-o", tmp_path / "hs.npy", "--modulus", 101)
    assert status == 0, err
    parity = np.cumsum(symbols, axis=1) % 2
    np.testing.assert_array_equal(np.load(tmp_path / "hs.npy")[..., 1], parity)


@pytest.mark.parametrize("args,facts", [
    (["run", GRU, "-i", "{xs}"], ["--length N is required"]),
    (["run", "-i", "{xs}"], ["give a model file"]),
    (["run", GRU, "-n", 9, "-i", "{xs}"], ["length 9", "(3, 10, 8)"]),
    (["run", GRU, "-n", 10, "-i", "{missing}"], ["does not exist"]),
    (["run", GRU, "-n", 10, "-i", "{xs}", "--modulus", 7], ["add, sub, mul and neg only"]),
    (["run", GRU, "-n", 10, "-i", "{xs}", "--modulus", 8], ["prime"]),
    (["run", GRU, "-n", 10, "-i", "{xs}", "-o", "{nodir}"], ["does not exist"]),
    (["run", "--load", "{xs}", "-i", "{xs}"], ["cannot read circuit file"]),
    (["run", TWO, "-n", 3, "-i", "{xs}"], ["choose one with --model"]),
    (["run", GRU, "-n", 10, "-i", "{bad}"], ["cannot read"]),
])
def test_user_errors_are_one_line(run, tmp_path, args, facts):
    np.save(tmp_path / "xs.npy", np.zeros((3, 10, 8)))
    (tmp_path / "bad.npy").write_text("not an array")
    paths = {"xs": tmp_path / "xs.npy", "missing": tmp_path / "nope.npy",
             "nodir": tmp_path / "no" / "such" / "hs.npy", "bad": tmp_path / "bad.npy"}
    argv = [str(a).format(**paths) for a in args]
    status, out, err = run(*argv)
    assert_user_error(status, err, *facts)


def test_progress_bar_draws_after_delay():
    stream = io.StringIO()
    bar = _ProgressBar(True, delay=0.0, stream=stream)
    bar(50, 100)
    bar(100, 100)
    bar.close()
    text = stream.getvalue()
    assert "100.0%" in text and "gates" in text and text.endswith("\n")
    quiet = io.StringIO()
    bar = _ProgressBar(False, stream=quiet)
    bar(100, 100)
    bar.close()
    assert quiet.getvalue() == ""


def test_progress_flag_on_a_real_run(run, tmp_path, capsys):
    np.save(tmp_path / "xs.npy", np.zeros((2, 40, 8)))
    status, out, err = run("run", GRU, "-n", 40, "-i", tmp_path / "xs.npy", "--progress")
    assert status == 0, err


def test_hint_when_auto_picks_many_more_gates_than_brent_kung(run, tmp_path):
    # auto: segment-sum-optimal, least depth, 1.75x Brent-Kung's gates at n = 300
    mamba = str(ROOT / "examples" / "mamba.py")
    np.save(tmp_path / "xs.npy", np.random.default_rng(0).normal(size=(2, 300, 4)))
    status, out, err = run("run", mamba, "--length", 300, "--input", tmp_path / "xs.npy")
    assert status == 0, err
    hint = [line for line in out.splitlines() if line.startswith("hint: ")]
    assert len(hint) == 1 and "--topology brent-kung gives" in hint[0], out
    assert "--objective size" in hint[0]
    bk = rc.compile(rc.frontend.loader.pick_model(mamba), 300, topology="brent-kung")
    assert f"{bk.size:,} gates" in hint[0] and f"depth {bk.depth} " in hint[0]
    for option in (("--topology", "brent-kung"), ("--objective", "size")):
        status, out, err = run("run", mamba, "--length", 300, "--input", tmp_path / "xs.npy",
                               *option)
        assert status == 0 and "hint:" not in out, err


def test_kernel_compilation_is_said_and_kept_out_of_the_rate(capsys):
    import numba
    from numba.core import event

    from rnncirc.cli.run import _CompileWatch

    watch = _CompileWatch()
    with event.install_listener("numba:compile", watch.listener):
        assert numba.njit(lambda v: v + 1)(1) == 2  # a function never compiled before
    assert watch.seconds > 0
    assert "compiling the evaluator's kernels" in capsys.readouterr().out


def test_unreadable_input_files_are_one_line(tmp_path, capsys):
    from rnncirc.cli import main

    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "cut.npy").write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr'")
    for name in ("empty.npy", "cut.npy"):
        status = main(["run", str(ROOT / "examples" / "mamba.py"), "-n", "8", "-i",
                       str(tmp_path / name)])
        err = capsys.readouterr().err
        assert status == 2 and err.startswith("rnncirc: error: cannot read") \
            and len(err.strip().splitlines()) == 1, err
