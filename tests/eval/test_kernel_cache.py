"""The kernels' on-disk cache is stamped by every file they compile from (ir/kernel_cache.py):
an edit to a leaf kernel in another file than `kernels.run`'s recompiles `run`."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from rnncirc.eval import kernels
from rnncirc.ir import kernel_cache

PACKAGE = pathlib.Path(kernels.__file__).resolve().parents[1]

#: the leaf kernels `run` is compiled with, and the instruction set they read
KERNEL_MODULES = {"eval/kernels.py", "eval/segment_kernels.py", "eval/tree_kernels.py",
                  "eval/vector_ops.py", "eval/scalar_ops.py", "eval/isa.py", "ir/ops.py"}


def _copy_package(tmp_path) -> pathlib.Path:
    root = tmp_path / "tree"
    shutil.copytree(PACKAGE, root / "rnncirc", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _edit(path: pathlib.Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_the_stamp_covers_every_kernel_module():
    found = {str(p.relative_to(PACKAGE)) for p in kernel_cache.kernel_sources(kernels.__file__)}
    assert KERNEL_MODULES <= found, KERNEL_MODULES - found
    assert "eval/fast.py" not in found and "eval/schedule/build.py" not in found


def test_editing_a_callee_changes_the_stamp_of_its_caller(tmp_path):
    root = _copy_package(tmp_path)
    run_file = root / "rnncirc" / "eval" / "kernels.py"
    before = kernel_cache.source_stamp(run_file)
    assert before == kernel_cache.source_stamp(run_file)
    _edit(root / "rnncirc" / "eval" / "tree_kernels.py", "    s = x + y\n", "    s = y + x\n")
    assert kernel_cache.source_stamp(run_file) != before


#: evaluates a running sum (ADD gates only) and prints its outputs and the cache hits of `run`
_SCRIPT = """
import json
import numpy as np, rnncirc as rc
from rnncirc.eval import kernels

@rc.rnn(state=1, inputs=1)
def running_sum(h, x):
    return h + x

out = rc.compile(running_sum, 6).evaluate(np.arange(1.0, 7.0).reshape(6, 1))
print(json.dumps([np.asarray(out).ravel().tolist(), sum(kernels.run.stats.cache_hits.values())]))
"""


def _evaluate(root: pathlib.Path, cache: pathlib.Path) -> tuple[list, int]:
    env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    values, hits = json.loads(done.stdout.strip().splitlines()[-1])
    return values, hits


@pytest.mark.slow
def test_a_cached_run_recompiles_when_a_callee_in_another_file_changes(tmp_path):
    root = _copy_package(tmp_path)
    cache = tmp_path / "numba-cache"
    sums = [1.0, 3.0, 6.0, 10.0, 15.0, 21.0]
    assert _evaluate(root, cache) == (sums, 0)  # compiled, and written to the cache
    assert _evaluate(root, cache) == (sums, 1)  # read back from it
    # every path an ADD gate can take: the scalar form (affine segments), the vector
    # intrinsic (gates and fused trees); kernels.py, which defines `run`, is not touched
    _edit(root / "rnncirc" / "eval" / "scalar_ops.py", "    return x + y\n", "    return x - y\n")
    _edit(root / "rnncirc" / "eval" / "vector_ops.py",
          "vadd = _vector_op(2, lambda b, vt, p, x, y: b.fadd(x, y))",
          "vadd = _vector_op(2, lambda b, vt, p, x, y: b.fsub(x, y))")
    values, hits = _evaluate(root, cache)
    assert hits == 0 and values != sums
