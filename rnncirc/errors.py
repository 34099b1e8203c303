"""Error types: every mistake a user can make is a subclass of `RnncircError`.

The CLI prints these as one line on stderr and exits with status 2; any other exception is a
bug in rnncirc and exits with status 1. Messages say what is wrong *and* how to fix it.
"""

from __future__ import annotations

import functools
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class RnncircError(Exception):
    """Base class of all user errors (bad model, bad option, unsupported construct)."""


class RnncircWarning(UserWarning):
    """Something will give NaN, inf or a wrong-looking answer, but is not an error (NaN in
    weights, inputs or init). The CLI prints these as one line ``rnncirc: warning: ...``."""


class CheckFailedError(RnncircError):
    """``rnncirc run --check``: the circuit's outputs differ from the model's eager run."""


class ModelFileError(RnncircError):
    """The model file cannot be loaded, or does not say which RNN to use."""


class TracingError(RnncircError):
    """The step function does something the tracer cannot turn into a circuit."""


class SymbolicControlFlowError(TracingError):
    """Python control flow (`if`, `int()`, `bool()`, ...) on a symbolic value."""


class ShapeError(TracingError):
    """Operands of an operation have incompatible shapes."""


class UnsupportedOperationError(TracingError):
    """A numpy function or Python operation that rnncirc does not support."""


class StepOutputError(TracingError):
    """The step function returned something other than a state of the declared shape."""


class InputError(RnncircError):
    """Data passed to `RNN.run` or `Circuit.evaluate` has the wrong shape or type."""


class OptionError(RnncircError):
    """An option has a value outside its range (for example `--length 0`)."""


class CircuitTooLargeError(RnncircError):
    """The requested circuit would not fit in memory; refused before building it."""


class NotLinearError(RnncircError):
    """A parallel topology was asked for a model whose step is not linear in the state."""


@functools.lru_cache(maxsize=1024)
def is_user_file(filename: str) -> bool:
    """Whether `filename` is the user's code, not rnncirc's, numpy's or Python's own."""
    if filename.startswith("<frozen"):
        return False
    path = os.path.abspath(filename)
    if path == _PACKAGE_DIR or path.startswith(_PACKAGE_DIR + os.sep):
        return False
    return "numpy" not in path.split(os.sep) and "site-packages" not in path


def user_frame() -> tuple[str, int] | None:
    """``(filename, line)`` of the innermost stack frame in the user's code, or None.

    Walks raw frames (cheap enough to call per traced node).
    """
    frame = sys._getframe(1)
    while frame is not None:
        if is_user_file(frame.f_code.co_filename):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


def user_location() -> str:
    """Return ``"file.py:LINE"`` of the innermost stack frame outside rnncirc, or ``""``.

    Tracing errors are raised deep inside rnncirc; the user needs the line of *their* step
    function that caused them.
    """
    found = user_frame()
    return f"{os.path.basename(found[0])}:{found[1]}" if found else ""


def located(message: str) -> str:
    """Prefix `message` with the user's file and line when one can be found."""
    where = user_location()
    return f"{where}: {message}" if where else message
