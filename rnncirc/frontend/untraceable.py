"""What cannot be traced, and what to write instead: the part of `Sym` that refuses.

The tracer (`rnncirc.frontend.tracer`) records array operations on symbolic values; Python
control flow, conversions to concrete numbers and in-place assignment cannot be recorded. The
`Untraceable` mixin gives `Sym` those methods, each raising one error that names the construct
the user wrote (read from their source line) and its fix.
"""

from __future__ import annotations

import linecache
import re

from rnncirc.errors import SymbolicControlFlowError, UnsupportedOperationError, located, user_frame

_WHERE_FIX = ("write both branches and pick one with "
              "rc.where(condition, value_if_true, value_if_false)")

#: (pattern on the user's source line, construct, fix) for `Untraceable.__bool__`, first match wins
_TRUTH_CONSTRUCTS = (
    (r"^\s*if\b", "Python `if`", _WHERE_FIX),
    (r"^\s*elif\b", "Python `elif`", _WHERE_FIX),
    (r"^\s*while\b", "Python `while`",
     "loop a fixed number of times and use rc.where to keep or update values"),
    (r"^\s*assert\b", "`assert`",
     "drop the assert (check values with RNN.run), or clamp with rc.where"),
    (r"\bbool\s*\(", "bool()",
     "keep it symbolic and pick values with rc.where(condition, value_if_true, value_if_false)"),
    (r"\b(max|min)\s*\(", "Python's max()/min()",
     "use rc.maximum / rc.minimum (elementwise), or rc.where"),
    (r"\bif\b.*\belse\b", "a conditional expression (`a if cond else b`)",
     "use rc.where(cond, a, b)"),
    (r"\b(and|or|not)\b", "Python `and`/`or`/`not`",
     "use arithmetic on 0/1 values (a * b for and, a + b - a * b for or, 1 - a for not) "
     "or rc.where"),
)


def truth_construct() -> tuple[str, str]:
    """Name the Python construct that asked for the truth value of a `Sym`, and its fix."""
    found = user_frame()
    line = linecache.getline(*found) if found else ""
    line = line.split("#", 1)[0]
    for pattern, construct, fix in _TRUTH_CONSTRUCTS:
        if re.search(pattern, line):
            return construct, fix
    return "Python `if`/`while`/`and`/`or`/`not`/bool()", _WHERE_FIX


def numpy_name(func) -> str:
    """``np.linalg.inv`` rather than ``inv``: the name the user wrote."""
    module = getattr(func, "__module__", None) or "numpy"
    parts = [p for p in module.split(".") if not p.startswith("_")]
    prefix = ".".join(["np"] + parts[1:]) if parts and parts[0] == "numpy" else ".".join(parts)
    return f"{prefix}.{func.__name__}" if prefix else func.__name__


class Untraceable:
    """The methods of a symbolic value that Python calls for control flow and conversions:
    each raises with the fix. Mixed into `Sym`, which carries ``builder``."""

    __slots__ = ()

    def _no_loop_over_positions(self) -> None:
        if getattr(self.builder, "over_positions", False):
            raise SymbolicControlFlowError(located(
                "a loop over the positions of a sequence cannot be traced: inside "
                "@rc.program a value stands for every position at once; run a recurrence "
                "over the sequence with rc.scan(model, x) (index features with x[i])"))

    def __bool__(self):
        construct, fix = truth_construct()
        raise SymbolicControlFlowError(located(
            f"{construct} on a symbolic value cannot be traced (its value differs at every "
            f"step); {fix}"))

    def _no_conversion(self, what: str):
        raise SymbolicControlFlowError(located(
            f"{what} of a symbolic value cannot be traced (the value is only known when the "
            "circuit runs); keep it symbolic and use rc.where for decisions"))

    def __int__(self):
        self._no_conversion("int()")

    def __float__(self):
        self._no_conversion("float()")

    def __index__(self):
        self._no_conversion("using it as an integer index or in range()")

    def __complex__(self):
        self._no_conversion("complex()")

    def __setitem__(self, key, value):
        raise UnsupportedOperationError(located(
            "assigning into a symbolic value (h[i] = ...) cannot be traced; build a new value "
            "instead, e.g. with rc.concat, rc.stack or rc.where(mask, new, h)"))

    def __array__(self, dtype=None, copy=None):
        raise UnsupportedOperationError(located(
            "a symbolic value cannot be converted to a numpy array (np.asarray/np.array); "
            "use the rc.* functions or operators on it directly"))
