"""Run Berkeley ABC on exported files and read back its numbers (a test helper).

ABC is the outside checker of the boolean lowering: ``strash; print_stats`` gives the AIG's
AND count (``and =``) and depth (``lev =``), ``cec`` proves two files equivalent (inputs and
outputs matched by name) or prints a counterexample. Debian ships it as ``berkeley-abc``
(``apt-get install -y berkeley-abc``); tests that need it are skipped when it is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

ABC = shutil.which("berkeley-abc") or shutil.which("abc")

needs_abc = pytest.mark.skipif(ABC is None, reason="Berkeley ABC is not installed "
                               "(apt-get install -y berkeley-abc)")

_STATS = re.compile(r"i/o\s*=\s*(\d+)/\s*(\d+).*?and\s*=\s*(\d+)\s+lev\s*=\s*(\d+)")


def run_abc(script: str, cwd: str, timeout: float = 60) -> str:
    """ABC's console output for `script` (commands separated by ';'), run in `cwd`."""
    done = subprocess.run([ABC, "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0 or "Error" in output or "Cannot" in output:
        raise AssertionError(f"ABC failed on {script!r}:\n{output}")
    return output


def stats(output: str) -> list[dict]:
    """Every ``print_stats`` line of `output`: inputs, outputs, ands, levels."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    return [{"inputs": int(i), "outputs": int(o), "and": int(a), "lev": int(lev)}
            for i, o, a, lev in _STATS.findall(plain)]


def strash_stats(path: str, cwd: str) -> dict:
    """``and`` and ``lev`` of a file after ``strash`` (no rebalancing)."""
    return stats(run_abc(f"read {path}; strash; print_stats", cwd))[0]


def balance_stats(path: str, cwd: str) -> tuple[dict, dict]:
    """Stats after ``strash`` and after ``strash; balance`` (ABC's delay rebalancing)."""
    found = stats(run_abc(f"read {path}; strash; print_stats; balance; print_stats", cwd))
    return found[0], found[1]


def cec(first: str, second: str, cwd: str, timeout: float = 60) -> bool:
    """True if ABC proves the two files equivalent, False if it finds a counterexample."""
    output = run_abc(f"read {first}; cec {second}", cwd, timeout)
    if "NOT EQUIVALENT" in output or "Input pattern" in output:
        return False
    if "are equivalent" in output:
        return True
    raise AssertionError(f"ABC's cec gave no verdict:\n{output}")
