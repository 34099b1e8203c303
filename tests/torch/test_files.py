"""Torch modules in model files, the torch examples, and pickles on the command line."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import textwrap

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.cli import main
from rnncirc.frontend.loader import load_models, pick_model
from tests.conftest import EXAMPLES

torch = pytest.importorskip("torch")

LSTM_FILE = os.path.join(EXAMPLES, "torch_lstm.py")
SELECTIVE_FILE = os.path.join(EXAMPLES, "torch_selective.py")


def run_cli(capsys, *args) -> tuple[int, str, str]:
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_error(status: int, err: str, *facts: str) -> str:
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rnncirc: error: "), err
    for fact in facts:
        assert fact in lines[0], (fact, lines[0])
    return lines[0]


def module_of(path: str):
    spec = importlib.util.spec_from_file_location("torch_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the examples ------------------------------------------------------------------------------
def test_torch_lstm_example_equals_its_module():
    lstm = module_of(LSTM_FILE).lstm.double()
    model = pick_model(LSTM_FILE)
    assert isinstance(model, rc.Program) and len(model.layers) == 2
    xs = np.random.default_rng(0).normal(size=(7, lstm.input_size))
    with torch.no_grad():
        expected = lstm(torch.tensor(xs))[0].numpy()
    np.testing.assert_allclose(rc.compile(model, 7).evaluate(xs), expected, rtol=1e-9,
                               atol=1e-9)


def test_torch_selective_example_is_diagonal_and_equals_its_module():
    cell = module_of(SELECTIVE_FILE).selective.double()
    model = pick_model(SELECTIVE_FILE)
    assert rc.classify(model).kind == "diagonal"
    xs = np.random.default_rng(1).normal(size=(9, cell.input_size))
    h, expected = torch.zeros(cell.hidden_size, dtype=torch.float64), []
    with torch.no_grad():
        for x in torch.tensor(xs):
            h = cell(x, h)
            expected.append(h.numpy())
    circuit = rc.compile(model, 9)
    assert circuit.topology != "sequential"
    np.testing.assert_allclose(circuit.evaluate(xs), np.array(expected), rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """A model file with a small two-layer GRU: quick to compile on the command line."""
    path = tmp_path_factory.mktemp("tiny") / "tiny_gru.py"
    path.write_text("import torch\ntorch.manual_seed(0)\n"
                    "gru = torch.nn.GRU(2, 2, num_layers=2, batch_first=True)\n")
    return str(path)


@pytest.mark.parametrize("command", [
    ("compile", "{tiny}", "--length", 4, "--no-formulas"),
    ("classify", LSTM_FILE),
    ("classify", SELECTIVE_FILE),
    ("profile", SELECTIVE_FILE, "--lengths", "1,2"),
    ("dot", "{tiny}", "--length", 2, "--view", "block", "-o", "{tmp}/net.dot"),
    ("boolean", "{tiny}", "--length", 2, "--width", 8),
])
def test_every_command_reads_torch_model_files(capsys, tmp_path, tiny, command):
    args = [str(a).format(tmp=tmp_path, tiny=tiny) for a in command]
    status, out, err = run_cli(capsys, *args)
    assert status == 0, err
    assert out


def test_run_command_checks_a_torch_model(capsys, tmp_path, tiny):
    xs = tmp_path / "xs.npy"
    np.save(xs, np.random.default_rng(2).normal(size=(2, 6, 2)))
    status, out, err = run_cli(capsys, "run", tiny, "-n", 6, "--input", xs,
                               "--output", tmp_path / "hs.npy", "--check")
    assert status == 0, err
    assert np.load(tmp_path / "hs.npy").shape == (2, 6, 2)


def test_compile_json_names_the_layers(capsys, tmp_path, tiny):
    status, _, err = run_cli(capsys, "compile", tiny, "--length", 4, "--no-formulas",
                             "--json", tmp_path / "r.json")
    assert status == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["model"] == "gru" and report["kind"] == "nonlinear"
    assert [layer["name"] for layer in report["layers"]] == ["gru_l0", "gru_l1"]


# -- model files -------------------------------------------------------------------------------
def write(path, source: str) -> str:
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_a_model_file_may_load_a_state_dict(tmp_path):
    torch.manual_seed(3)
    trained = torch.nn.GRU(2, 3, num_layers=2)
    torch.save(trained.state_dict(), tmp_path / "weights.pt")
    path = write(tmp_path / "gru_file.py", """\
        import os
        import torch
        gru = torch.nn.GRU(2, 3, num_layers=2)
        here = os.path.dirname(os.path.abspath(__file__))
        gru.load_state_dict(torch.load(os.path.join(here, "weights.pt"), weights_only=True))
        """)
    model = pick_model(path)
    xs = np.random.default_rng(4).normal(size=(5, 2))
    with torch.no_grad():
        expected = trained.double()(torch.tensor(xs))[0].numpy()
    np.testing.assert_allclose(model.run(xs), expected, rtol=1e-9, atol=1e-9)


def test_model_picks_among_torch_modules(capsys, tmp_path):
    path = write(tmp_path / "two.py", """\
        import torch
        encoder = torch.nn.GRU(2, 3)
        decoder = torch.nn.LSTMCell(3, 2)
        projection = torch.nn.Linear(3, 3)  # not a recurrence: not a model
        """)
    assert sorted(load_models(path)) == ["decoder", "encoder"]
    status, _, err = run_cli(capsys, "classify", path, "--model", "nope")
    one_line_error(status, err, "no RNN or program called 'nope'", "decoder", "encoder")
    status, _, err = run_cli(capsys, "compile", path, "--length", 2, "--no-formulas")
    one_line_error(status, err, "defines 2 torch modules (decoder, encoder)", "--model")
    status, out, err = run_cli(capsys, "compile", path, "--length", 2, "--model", "decoder",
                               "--no-formulas")
    assert status == 0 and "decoder" in out, err


def test_rc_models_of_a_file_come_before_its_torch_modules(tmp_path):
    path = write(tmp_path / "both.py", """\
        import torch
        import rnncirc as rc
        cell = torch.nn.GRUCell(2, 3)
        model = rc.from_torch(cell, name="gru")
        """)
    assert list(load_models(path)) == ["model"]


def test_custom_cell_without_shapes_in_a_file(capsys, tmp_path):
    path = write(tmp_path / "shapeless.py", """\
        import torch
        class Cell(torch.nn.Module):
            def forward(self, x, h):
                return h + x
        cell = Cell()
        """)
    status, _, err = run_cli(capsys, "classify", path)
    one_line_error(status, err, "custom cell", "hidden_size and input_size")


def test_unsupported_op_in_a_file_exits_2(capsys, tmp_path):
    path = write(tmp_path / "cumulative.py", """\
        import torch
        class Cell(torch.nn.Module):
            input_size = hidden_size = 3
            def forward(self, x, h):
                return torch.cumsum(x, 0) * h
        cell = Cell()
        """)
    status, _, err = run_cli(capsys, "compile", path, "--length", 4)
    one_line_error(status, err, "cumulative.py:5:", "torch.cumsum", "cell (Cell.forward)",
                   "not supported; supported:", "sigmoid")


# -- pickles -----------------------------------------------------------------------------------
@pytest.fixture
def pickled(tmp_path):
    torch.manual_seed(5)
    module = torch.nn.LSTM(2, 3, num_layers=2)
    torch.save(module, tmp_path / "lstm.pt")
    torch.save(module.state_dict(), tmp_path / "state.pth")
    return tmp_path, module


@pytest.mark.parametrize("command", [("compile", "--length", 3), ("classify",),
                                     ("profile", "--lengths", "1,2")])
def test_pickles_are_refused(capsys, pickled, command):
    folder, _ = pickled
    status, out, err = run_cli(capsys, command[0], folder / "lstm.pt", *command[1:])
    one_line_error(status, err, "lstm.pt is a pickle", "runs whatever code",
                   "load_state_dict", "weights_only=True", "--trust-pickle")
    assert not out


def test_trusted_pickle_is_loaded(capsys, pickled):
    folder, module = pickled
    status, out, err = run_cli(capsys, "classify", folder / "lstm.pt", "--trust-pickle")
    assert status == 0, err
    assert "lstm: program, nonlinear" in out and "layer lstm_l1" in out
    model = load_models(str(folder / "lstm.pt"), trust_pickle=True)["lstm"]
    xs = np.random.default_rng(6).normal(size=(4, 2))
    with torch.no_grad():
        expected = module.double()(torch.tensor(xs))[0].numpy()
    np.testing.assert_allclose(model.run(xs), expected, rtol=1e-9, atol=1e-9)


def test_trusted_state_dict_says_to_write_a_model_file(capsys, pickled):
    folder, _ = pickled
    status, _, err = run_cli(capsys, "classify", folder / "state.pth", "--trust-pickle")
    one_line_error(status, err, "state.pth holds a state_dict, not a module",
                   "load_state_dict")


def test_model_file_without_torch_says_how_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails
    status, _, err = run_cli(capsys, "classify", LSTM_FILE)
    one_line_error(status, err, "torch_lstm.py:", 'pip install "rnncirc[torch]"')


def test_file_with_only_other_torch_modules(capsys, tmp_path):
    path = write(tmp_path / "mlp.py", """\
        import torch
        mlp = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())
        """)
    status, _, err = run_cli(capsys, "classify", path)
    one_line_error(status, err, "defines torch modules (mlp (Sequential))",
                   "forward(x, h) returns the new state")
