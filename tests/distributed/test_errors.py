"""What a user sees when the cluster is missing or interrupted: one line, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.cli import main
from rnncirc.eval.distributed import gather

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")


@pytest.fixture
def inputs(tmp_path):
    path = tmp_path / "xs.npy"
    np.save(path, np.zeros((8, 4)))
    return [os.path.join(EXAMPLES, "mamba.py"), "-n", "8", "-i", str(path)]


def test_unreachable_scheduler(inputs, capsys):
    # a port nothing listens on: refused at once, reported after the connect timeout
    assert main(["run", *inputs, "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "cannot reach a Dask scheduler at tcp://127.0.0.1:9" in err


def test_without_dask(inputs, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    assert main(["run", *inputs, "--scheduler", "local:2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs Dask distributed, which is not installed: pip install" in err
    assert "\n" not in err
    circuit = rc.compile(rc.rnn(state=1, inputs=1)(lambda h, x: h + x), 2)
    with pytest.raises(rc.RnncircError, match=r"rnncirc\[distributed\]"):
        circuit.evaluate(np.zeros((2, 1)), client=object())


def test_option_mistakes(inputs, capsys):
    assert main(["run", *inputs, "--chunks", "2"]) == 2
    assert "give --scheduler" in capsys.readouterr().err
    assert main(["run", *inputs, "--scheduler", "local:x"]) == 2
    assert "worker count N >= 1" in capsys.readouterr().err


def test_import_rnncirc_does_not_import_dask():
    code = "import sys, rnncirc; print('dask' in sys.modules, 'distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]


class _Interrupted:
    """A client whose gather is interrupted (Ctrl-C), recording what it cancels."""

    def __init__(self):
        self.cancelled = []

    def gather(self, futures):
        raise KeyboardInterrupt

    def cancel(self, futures):
        self.cancelled.extend(futures)


def test_ctrl_c_cancels_the_futures():
    client = _Interrupted()
    with pytest.raises(KeyboardInterrupt):
        gather(client, ["a", "b"])
    assert client.cancelled == ["a", "b"]
