"""Requests too large for the machine are refused before anything is built, with the estimate
and the largest length that would fit."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import rnncirc as rc
import rnncirc.compiler
import rnncirc.ir.memory
from rnncirc.cli import main
from rnncirc.errors import CircuitTooLargeError

from .conftest import example

#: a pretend machine: rnncirc may plan 80 % of this
SMALL_MACHINE = 64 << 20


@pytest.fixture
def small_machine(monkeypatch):
    monkeypatch.setattr(rnncirc.ir.memory, "available_bytes", lambda: SMALL_MACHINE)


def _largest(message: str) -> int:
    found = re.search(r"the largest length that fits is (?:at most )?([\d,]+)", message)
    assert found, message
    return int(found.group(1).replace(",", ""))


@pytest.mark.parametrize("name,topology", [("mamba", "auto"), ("mamba", "brent-kung"),
                                           ("gru", "auto"), ("deltanet", "kogge-stone")])
def test_the_largest_length_named_fits_and_one_more_does_not(small_machine, name, topology):
    model = example(name)
    with pytest.raises(CircuitTooLargeError) as refused:
        rc.compile(model, 10**12, topology=topology)
    message = str(refused.value)
    assert "80%" in message and "available" in message
    largest = _largest(message)
    assert 1 < largest < 10**6
    rnncirc.compiler.ensure_feasible(model, largest, topology)
    with pytest.raises(CircuitTooLargeError):
        rnncirc.compiler.ensure_feasible(model, largest + 1, topology)


def test_a_profile_refuses_its_longest_length_before_building_any(small_machine, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a circuit was built before the refusal")

    monkeypatch.setattr(rnncirc.compiler, "compile_model", never)
    with pytest.raises(CircuitTooLargeError, match="largest length that fits"):
        rc.depth_profile([example("elman"), example("mamba")], [1, 2, 4, 10**9])


def test_block_view_of_a_long_model_is_refused_before_compiling(monkeypatch, tmp_path):
    def never(*args, **kwargs):
        raise AssertionError("compiled before the refusal")

    monkeypatch.setattr(rnncirc.compiler, "compile", never)
    with pytest.raises(rc.RnncircError, match="at least 1,000,000 nodes"):
        rc.to_dot(example("mamba"), view="block", length=10**6)


@pytest.mark.parametrize("argv", [
    ["compile", "examples/mamba.py", "--length", "1000000000000"],
    ["compile", "examples/mamba.py", "--length", "100000000"],
    ["compile", "examples/gru.py", "--length", "100000000"],
    ["profile", "examples/mamba.py", "--lengths", "1:1000000000000"],
    ["boolean", "examples/mamba.py", "-n", "10000000", "-w", "32"],
    ["dot", "examples/mamba.py", "--view", "block", "-n", "1000000", "-o", "x.svg"],
    ["run", "examples/mamba.py", "--length", "100000000", "--input", "xs.npy",
     "--output", "hs.npy"],
])
def test_the_command_line_refuses_in_a_second_and_little_memory(argv, tmp_path):
    # a fresh process, as a user runs it: one line, exit 2, under 200 MB and fast
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    argv = [str(root / a) if a.startswith("examples/") else a for a in argv]
    if "--input" in argv:
        import numpy as np

        np.save(tmp_path / "xs.npy", np.zeros((1, 1, 4)))
    # the child's peak resident memory, as /usr/bin/time -v reports it
    wrapper = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(done.returncode)")
    done = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "rnncirc",
                           *argv], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    *lines, peak_kib = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("rnncirc: error: "), done.stderr
    assert int(peak_kib) < 200 << 10, f"peak memory {int(peak_kib) >> 10} MiB before refusing"


def test_cli_message_is_one_line_with_the_estimate(capsys):
    model_file = example("mamba").step.__code__.co_filename
    status = main(["compile", model_file, "--length", "1000000000000"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "gates" in err and "largest length that fits" in err


def test_boolean_lowering_is_estimated_before_it_is_built(monkeypatch):
    # a 12-bit lowering costs lookup tables: tens of AND/XOR nodes per arithmetic gate
    monkeypatch.setattr(rnncirc.ir.memory, "available_bytes", lambda: 1 << 30)
    model = example("mamba")
    with pytest.raises(CircuitTooLargeError, match="boolean lowering") as refused:
        rnncirc.compiler.compile_boolean(model, 20_000, 12)  # its arithmetic circuit fits
    # far too long: judged on the first (cheap) sample alone, whose largest length is a bound
    assert "fits is at most" in str(refused.value)
    bound = _largest(str(refused.value))
    assert 64 < bound < 20_000
    with pytest.raises(CircuitTooLargeError):
        rnncirc.compiler._ensure_boolean_fits(model, bound + 1, "auto", "all", 12, {})
    # near the bound both samples judge (each op costs more at 500 steps than at 16), and
    # their largest length is the boundary
    with pytest.raises(CircuitTooLargeError) as closer:
        rnncirc.compiler._ensure_boolean_fits(model, bound, "auto", "all", 12, {})
    assert "fits is at most" not in str(closer.value)
    largest = _largest(str(closer.value))
    assert 64 < largest < bound
    rnncirc.compiler._ensure_boolean_fits(model, largest, "auto", "all", 12, {})
    with pytest.raises(CircuitTooLargeError):
        rnncirc.compiler._ensure_boolean_fits(model, largest + 1, "auto", "all", 12, {})


@pytest.mark.parametrize("topology,width,length", [("segment-sum", 4, 1024),
                                                   ("sklansky", 8, 512)])
def test_boolean_estimate_covers_what_the_builder_makes(monkeypatch, topology, width, length):
    # an op costs more nodes the longer the circuit (fewer operands fold to constants): an
    # estimate from one short sample was 0.6x the builder's nodes at these lengths
    from rnncirc.ir.aig import PEAK_BYTES_PER_NODE
    from rnncirc.lower.boolean.lowering import _lower
    from rnncirc.lower.boolean.semantics import IntSemantics

    model = example("mamba")
    circuit = rc.compile(model, length, topology=topology)
    built = _lower(circuit, IntSemantics(width, True, 0), "sklansky", "dadda", "binary")[0].count
    needed = built * PEAK_BYTES_PER_NODE / rnncirc.ir.memory.BUDGET
    monkeypatch.setattr(rnncirc.ir.memory, "available_bytes", lambda: int(0.999 * needed))
    with pytest.raises(CircuitTooLargeError):
        rnncirc.compiler._ensure_boolean_fits(model, length, topology, "all", width, {})
    # and not far above it: twice the builder's nodes fit
    monkeypatch.setattr(rnncirc.ir.memory, "available_bytes", lambda: int(2 * needed))
    rnncirc.compiler._ensure_boolean_fits(model, length, topology, "all", width, {})
