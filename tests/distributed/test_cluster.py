"""A cluster of worker processes: a worker killed mid-run, and the command line on it."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.cli import main
from rnncirc.eval import distributed as dist
from rnncirc.eval import sequence

from ..models import LINEAR, random_inputs

distributed = pytest.importorskip("distributed")
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", memory_limit="1GiB") as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster) as connected:
        connected.wait_for_workers(2, timeout=60)
        yield connected


def killing_gather(client, module, monkeypatch) -> list:
    """Make `module.gather` kill one worker process (SIGKILL) once every task of the run is
    submitted and before any result is read; returns the pids killed."""
    killed = []
    real = module.gather

    def gather(the_client, futures):
        pids = client.run(os.getpid)
        pid = pids[sorted(pids)[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        return real(the_client, futures)

    monkeypatch.setattr(module, "gather", gather)
    return killed


def test_a_killed_worker_changes_nothing(client, monkeypatch):
    model = LINEAR["dense"][0]
    circuit = rc.compile(model, 40)
    xs = random_inputs(model, 40, batch=6, seed=0)
    want = circuit.evaluate(xs)
    killed = killing_gather(client, dist, monkeypatch)
    np.testing.assert_array_equal(circuit.evaluate(xs, client=client), want)
    assert len(killed) == 1
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it

    killed = killing_gather(client, sequence, monkeypatch)
    done = rc.evaluate_sharded(model, xs, chunks=3, client=client, modulus=None)
    np.testing.assert_allclose(done.values, want, rtol=1e-12, atol=1e-12)
    assert len(killed) == 2  # phase 1 and phase 3 each lost a worker


def test_cli_on_a_running_scheduler(cluster, client, tmp_path, capsys):
    xs = np.random.default_rng(0).normal(size=(3, 64, 4))
    np.save(tmp_path / "xs.npy", xs)
    model = os.path.join(EXAMPLES, "mamba.py")
    common = [model, "-n", "64", "-i", str(tmp_path / "xs.npy")]
    assert main(["run", *common, "-o", str(tmp_path / "local.npy")]) == 0
    for extra in ([], ["--chunks", "5"]):
        out = str(tmp_path / "there.npy")
        assert main(["run", *common, "-o", out, "--scheduler", cluster.scheduler_address,
                     "--check", *extra]) == 0
        np.testing.assert_allclose(np.load(out), np.load(tmp_path / "local.npy"),
                                   rtol=1e-12, atol=1e-12)
    printed = capsys.readouterr().out
    assert "on 2 Dask workers (the batch split over them" in printed
    assert "(summaries sent as diagonal)" in printed
    assert "mamba: 5 chunks of 12 or 13 steps on 2 Dask workers" in printed
    assert "depth of the whole computation:" in printed


def test_profile_command_on_a_running_scheduler(cluster, client, capsys):
    # the model file's RNN travels to the worker processes with each row's task
    model = os.path.join(EXAMPLES, "mamba.py")
    assert main(["profile", model, "--lengths", "1:8", "--json", "-"]) == 0
    here = capsys.readouterr().out
    assert main(["profile", model, "--lengths", "1:8", "--json", "-", "--scheduler",
                 cluster.scheduler_address]) == 0
    there = capsys.readouterr().out
    strip = [line for line in here.splitlines() if "seconds" not in line]
    assert [line for line in there.splitlines() if "seconds" not in line] == strip
