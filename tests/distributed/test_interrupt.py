"""Ctrl-C end to end: ``rnncirc run --scheduler local:2`` interrupted while its workers
evaluate exits at once with one line and status 130, and leaves no worker process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

psutil = pytest.importorskip("psutil")  # (a dependency of distributed)
pytest.importorskip("distributed")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples")


def _workers(parent: psutil.Process) -> list:
    """The LocalCluster's worker processes (its nannies spawn them from the run's process)."""
    try:
        return [p for p in parent.children() if "spawn_main" in " ".join(p.cmdline())]
    except psutil.Error:
        return []


def _cpu_seconds(workers: list) -> float:
    try:
        return sum(w.cpu_times().user for w in workers)
    except psutil.Error:  # a worker ended: the run did too
        return 0.0


def _alive(worker) -> bool:
    try:
        return worker.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_on_a_local_cluster(tmp_path):
    # 2000 sequences of 1024 steps: several seconds of evaluation on 2 workers even on an idle
    # machine (256 steps took 1.6 s, and the run could end before the workers looked busy), so
    # that the interrupt lands while the tasks run (the circuit is compiled before the cluster
    # starts)
    np.save(tmp_path / "xs.npy", np.random.default_rng(0).normal(size=(2000, 1024, 4)))
    command = [sys.executable, "-m", "rnncirc", "run", os.path.join(EXAMPLES, "mamba.py"),
               "-n", "1024", "-i", str(tmp_path / "xs.npy"), "--scheduler", "local:2"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    parent = psutil.Process(child.pid)
    try:
        assert _wait(lambda: len(_workers(parent)) >= 2, 60), "the workers never started"
        workers = _workers(parent)
        # started: both workers busy (their CPU time grows past their start-up's)
        busy = _wait(lambda: _cpu_seconds(workers) > 2.0, 30)
        assert busy and child.poll() is None, "the run ended before it was interrupted"
        os.kill(child.pid, signal.SIGINT)
        sent = time.monotonic()
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert time.monotonic() - sent < 15, "not prompt"  # (about 5 s: the cluster closes)
    assert child.returncode == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["rnncirc: interrupted"], err
    assert out == ""
    assert _wait(lambda: not any(_alive(w) for w in workers), 5), \
        "worker processes were left running"
