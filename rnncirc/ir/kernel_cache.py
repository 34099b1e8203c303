"""Numba's on-disk cache for rnncirc's kernels, stamped by every file they compile from.

Where this sits: in the ground floor, under every disk-cached Numba function of any layer
that compiles code or constants of another file into its own machine code: the evaluator's
entry points (`eval.kernels.run`, `fill_rows`, with the leaf kernels of `segment_kernels`,
`tree_kernels`, `vector_ops`, `scalar_ops`), the scheduler's passes (`eval.schedule.fusion`,
`registers`, `segments`, `grouping`, with the constants of `eval.isa`), `eval.boolean` (with
`ir.aig`'s) and `analyze.counts` (with `ir.ops`'). Numba's own cache (``cache=True``) stamps
an entry with the source of the file that defines the cached function only, so an edit to a
callee or a constant in another file would leave the caller's stale machine code in the
cache, and the next process would run it (tests/ir/test_kernel_cache.py checks that no
``cache=True`` function is compiled from another module). `cached` gives a dispatcher the
same cache (same directory, same file names) with a stamp that also covers the source of
every rnncirc module the defining file imports at module level, transitively: an edit to any
of them recompiles on next use.

(The stamp is Numba's own, the defining file's content hash, next to a hash of those sources.
Numba's ``NUMBA_CACHE_LOCATOR_CLASSES`` setting replaces the locators, and with them this
stamp; rnncirc does not set it.)
"""

from __future__ import annotations

import hashlib
import pathlib
import re

from numba.core.caching import FunctionCache

_PACKAGE = "rnncirc"


def _root_of(path: pathlib.Path) -> pathlib.Path:
    """The directory holding the rnncirc package `path` is in (a copy has its own)."""
    return next(parent.parent for parent in path.parents if parent.name == _PACKAGE)


def _module_file(root: pathlib.Path, name: str) -> pathlib.Path | None:
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


#: an import of an rnncirc module at the start of a line (module level): ``from rnncirc.m
#: import a, b`` (or a parenthesized list) or ``import rnncirc.m`` (a regular expression, not
#: `ast`: parsing the kernels' files took most of a cached start's import time)
_IMPORT = re.compile(r"^from (rnncirc[\w.]*) import (\([^)]*\)|[^\n]*)|^import (rnncirc[\w.]*)",
                     re.M)


def _imported_files(root: pathlib.Path, path: pathlib.Path) -> set[pathlib.Path]:
    """Files of the rnncirc modules `path` imports at module level (``from m import name``
    counts m, and name where it is a module)."""
    found = set()
    for module, names, plain in _IMPORT.findall(path.read_text(encoding="utf-8")):
        file = _module_file(root, plain or module)
        if file is None:
            continue
        found.add(file)
        if file.name == "__init__.py":  # from a package: the names may be its modules
            listed = [line.split("#")[0] for line in names.strip("()").splitlines()]
            for name in ",".join(listed).split(","):
                name = name.split(" as ")[0].strip()
                if name and (sub := _module_file(root, f"{module}.{name}")) is not None:
                    found.add(sub)
    return found


def kernel_sources(path) -> list[pathlib.Path]:
    """`path` and the files of every rnncirc module it imports at module level, transitively."""
    todo = [pathlib.Path(path).resolve()]
    root = _root_of(todo[0])
    seen: set[pathlib.Path] = set()
    while todo:
        file = todo.pop()
        if file not in seen:
            seen.add(file)
            todo.extend(_imported_files(root, file))
    return sorted(seen)


def source_stamp(path) -> str:
    """A hash of the names and contents of `kernel_sources(path)`."""
    digest = hashlib.sha256()
    files = kernel_sources(path)
    root = _root_of(files[0])
    for file in files:
        digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


class _WithKernelSources:
    """Mixed into each of Numba's cache locators: its stamp, and `source_stamp`."""

    @classmethod
    def from_function(cls, py_func, py_file):
        locator = super().from_function(py_func, py_file)
        if locator is not None:
            locator.kernel_file = py_file
        return locator

    def get_source_stamp(self):
        own = super().get_source_stamp()
        if not pathlib.Path(self.kernel_file).is_file():  # (e.g. inside a zip: Numba's alone)
            return own
        return own, source_stamp(self.kernel_file)


class _KernelCacheImpl(FunctionCache._impl_class):
    _locator_classes = [type(locator.__name__, (_WithKernelSources, locator),
                             {"__module__": __name__})
                        for locator in FunctionCache._impl_class._locator_classes]


class _KernelCache(FunctionCache):
    _impl_class = _KernelCacheImpl


def cached(dispatcher):
    """`dispatcher` (a ``numba.njit`` function, without ``cache=True``) with Numba's on-disk
    cache stamped by every file it compiles from: what ``cache=True`` does
    (``Dispatcher.enable_caching``), with the stamp of this module."""
    dispatcher._cache = _KernelCache(dispatcher.py_func)
    return dispatcher
