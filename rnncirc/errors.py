"""Error types: every mistake a user can make is a subclass of `RnncircError`.

The CLI prints these as one line on stderr and exits with status 2; any other exception is a
bug in rnncirc and exits with status 1. Messages say what is wrong *and* how to fix it.
"""

from __future__ import annotations

import inspect
import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class RnncircError(Exception):
    """Base class of all user errors (bad model, bad option, unsupported construct)."""


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


def user_location() -> str:
    """Return ``"file.py:LINE"`` of the innermost stack frame outside rnncirc, or ``""``.

    Tracing errors are raised deep inside rnncirc; the user needs the line of *their* step
    function that caused them.
    """
    for frame in inspect.stack(context=0)[1:]:
        path = os.path.abspath(frame.filename)
        if not path.startswith(_PACKAGE_DIR) and not frame.filename.startswith("<frozen"):
            if "numpy" in path.split(os.sep) or "site-packages" in path:
                continue
            return f"{os.path.basename(path)}:{frame.lineno}"
    return ""


def located(message: str) -> str:
    """Prefix `message` with the user's file and line when one can be found."""
    where = user_location()
    return f"{where}: {message}" if where else message
