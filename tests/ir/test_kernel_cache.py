"""No function cached on disk by Numba's own ``cache=True``, whose stamp is its own file
only, is compiled from another rnncirc module's functions or constants: those are cached
through `kernel_cache.cached`, stamped by every file they import (ir/kernel_cache.py). The
check reads code and module sources; it compiles nothing."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib
import pkgutil
import sys
import types

from numba.core.caching import NullCache
from numba.core.dispatcher import Dispatcher

import rnncirc
from rnncirc.analyze import counts
from rnncirc.eval import kernels
from rnncirc.eval.schedule import fusion, registers
from rnncirc.ir import kernel_cache


def _foreign_names(module: types.ModuleType) -> dict[str, str]:
    """The globals of `module` that hold something of another rnncirc module, and which: bound
    by a module-level rnncirc import, or assigned at module level from such a name."""
    found: dict[str, str] = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnncirc"):
            found.update({alias.asname or alias.name: node.module for alias in node.names})
        elif isinstance(node, ast.Import):
            found.update({alias.asname or alias.name.partition(".")[0]: alias.name
                          for alias in node.names if alias.name.startswith("rnncirc")})
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            sources = sorted({found[name.id] for name in ast.walk(node.value)
                              if isinstance(name, ast.Name) and name.id in found})
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update({name.id: sources[0] for target in targets for name in ast.walk(target)
                          if sources and isinstance(name, ast.Name)})
    return found


def _global_reads(code: types.CodeType) -> set[str]:
    return set(code.co_names).union(*(_global_reads(const) for const in code.co_consts
                                      if isinstance(const, types.CodeType)))


def _compiled_from(dispatcher: Dispatcher) -> set[str]:
    """The other rnncirc modules whose functions or constants Numba compiles into `dispatcher`:
    what its code reads, and the code of the jitted functions of its own module it calls."""
    module = sys.modules[dispatcher.py_func.__module__]
    foreign, todo, seen, found = _foreign_names(module), [dispatcher], set(), set()
    while todo:
        for name in _global_reads(todo.pop().py_func.__code__) - seen:
            seen.add(name)
            value = vars(module).get(name)
            if name in foreign:
                found.add(foreign[name])
            elif isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__:
                todo.append(value)
    return found


def _disk_cached_functions():
    for info in pkgutil.walk_packages(rnncirc.__path__, "rnncirc."):
        if info.name.endswith("__main__"):  # (runs the CLI)
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__
                    and not isinstance(value._cache, NullCache)):
                yield f"{module.__name__}.{name}", value


def test_the_check_sees_what_a_kernel_is_compiled_from():
    # jitted callees in other files
    assert {"rnncirc.eval.segment_kernels", "rnncirc.eval.tree_kernels"} <= _compiled_from(
        kernels.run)
    assert {"rnncirc.eval.schedule.fusion", "rnncirc.eval.isa"} <= _compiled_from(
        registers.allocate_registers)
    # constants made at module level from another module's, read directly or by a callee
    # of the same module (`fusion._tree_op`)
    assert _compiled_from(counts._multiplicative_scan) == {"rnncirc.ir.ops"}
    assert "rnncirc.ir.ops" in _compiled_from(fusion.fuse_trees)
    assert _compiled_from(counts._op_levels) == set()


def test_a_disk_cached_function_compiled_from_another_module_is_stamped_by_it():
    """Numba's ``cache=True`` would keep such a function's machine code after an edit to the
    other module: it must be cached through `kernel_cache.cached` instead, whose stamp then
    covers that module's file."""
    wrong = []
    for name, dispatcher in _disk_cached_functions():
        others = _compiled_from(dispatcher)
        if others and not isinstance(dispatcher._cache, kernel_cache._KernelCache):
            wrong.append(f"{name} (cache=True) is compiled from {sorted(others)}")
        elif others:
            stamped = set(kernel_cache.kernel_sources(dispatcher.py_func.__code__.co_filename))
            files = {pathlib.Path(sys.modules[other].__file__).resolve() for other in others}
            wrong += [f"{name}'s stamp misses {file}" for file in sorted(files - stamped)]
    assert not wrong, "\n".join(wrong)
