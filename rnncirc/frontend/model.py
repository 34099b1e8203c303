"""`rc.rnn` and the `RNN` object: a step function, its declared shapes, and its traced cell.

`RNN.run` is the reference semantics of everything rnncirc builds: it calls the user's step
function eagerly on numpy arrays, one step at a time. Every circuit is tested against it.
"""

from __future__ import annotations

import contextlib
import linecache
import numbers
import os
import signal
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from rnncirc.errors import (
    InputError,
    OptionError,
    RnncircError,
    RnncircWarning,
    StepOutputError,
    TracingError,
    is_user_file,
)
from rnncirc.frontend.alphabet import SymbolSym
from rnncirc.frontend.tracer import Sym, as_sym
from rnncirc.ir.cell import CellBuilder, CellGraph
from rnncirc.ir.circuit import check_real, non_finite, warn_non_finite
from rnncirc.ir.ops import Op


class Real(np.ndarray):
    """A float array whose comparisons give 1.0/0.0, as comparison gates do in a circuit.

    Plain numpy returns booleans, and ``(h > 0) + (x > 0)`` would then be a logical or (True)
    where the circuit computes 2.0; the eager reference must mean what the circuit means.
    """

    def _compare(self, other, ufunc):
        return ufunc(np.asarray(self), np.asarray(other)).astype(np.float64).view(Real)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    __hash__ = None


@dataclass(frozen=True, eq=False)
class RNN:
    """A recurrent model h_t = step(h_{t-1}, x_t), traced once into `cell`.

    Create it with the `rnn` decorator rather than directly.
    """

    step: Callable
    state_shape: tuple[int, ...]
    input_size: int | None
    alphabet: int | None
    init: np.ndarray
    name: str
    cell: CellGraph

    def __repr__(self) -> str:
        inputs = f"alphabet={self.alphabet}" if self.alphabet else f"inputs={self.input_size}"
        return f"RNN({self.name!r}, state={self.state_shape}, {inputs})"

    def _repr_svg_(self):
        """The cell diagram, inline in notebooks (None without Graphviz)."""
        from rnncirc.export.dot import repr_svg

        return repr_svg(self)

    def check_inputs(self, xs) -> tuple[np.ndarray, bool]:
        """Validate `xs`; return it as a batched array and whether a batch axis was given."""
        return check_sequence_inputs(self.name, self.input_size, self.alphabet, xs)

    def __call__(self, seq):
        """``model(seq)`` inside an ``@rc.program`` function is ``rc.scan(model, seq)``."""
        from rnncirc.frontend.program import scan

        return scan(self, seq)

    def run(self, xs) -> np.ndarray:
        """Run the model eagerly with numpy: the reference semantics.

        Parameters
        ----------
        xs : array of shape ``(n, inputs)`` or ``(batch, n, inputs)``; for alphabet models
            integer symbols of shape ``(n,)`` or ``(batch, n)``.

        Returns
        -------
        The states h_1..h_n, shape ``(n, *state)`` or ``(batch, n, *state)``.

        Examples
        --------
        >>> import rnncirc as rc
        >>> @rc.rnn(state=1, inputs=1)
        ... def running_sum(h, x):
        ...     return h + x
        >>> running_sum.run(np.array([[1.0], [2.0], [3.0]])).ravel().tolist()
        [1.0, 3.0, 6.0]
        """
        batch, batched = self.check_inputs(xs)
        out = np.empty((batch.shape[0], batch.shape[1]) + self.state_shape)
        # NaN inputs were warned about once (check_inputs): numpy need not repeat it per op
        quiet = not self.alphabet and not np.isfinite(batch).all()
        with np.errstate(invalid="ignore") if quiet else contextlib.nullcontext():
            self._run(batch, out)
        return out if batched else out[0]

    def _run(self, batch: np.ndarray, out: np.ndarray) -> None:
        for b in range(batch.shape[0]):
            h = self.init.copy().view(Real)  # a step may update h in place (h += ...)
            for t in range(batch.shape[1]):
                x = int(batch[b, t]) if self.alphabet else batch[b, t].view(Real)
                h = np.array(self.step(h, x), dtype=np.float64).view(Real)
                out[b, t] = h


def check_sequence_inputs(name: str, input_size: int | None, alphabet: int | None,
                          xs) -> tuple[np.ndarray, bool]:
    """Validate the inputs of a model or program called `name`; return them as a batched
    array and whether a batch axis was given."""
    xs = np.asarray(xs)
    if alphabet:
        if xs.ndim not in (1, 2):
            raise InputError(f"{name} reads symbols: inputs must have shape (n,) or (batch, n), "
                             f"got {xs.shape}")
        if xs.size and (not np.issubdtype(xs.dtype, np.integer)
                        or xs.min() < 0 or xs.max() >= alphabet):
            raise InputError(f"{name} reads symbols: inputs must be integers in "
                             f"range({alphabet})")
        batched = xs.ndim == 2
    else:
        if xs.ndim not in (2, 3) or xs.shape[-1] != input_size:
            raise InputError(
                f"{name} takes {input_size} inputs per step: inputs must have shape "
                f"(n, {input_size}) or (batch, n, {input_size}), got {xs.shape}")
        check_real(xs)
        xs = xs.astype(np.float64)
        batched = xs.ndim == 3
    return (xs if batched else xs[None]), batched


def shape_option(value, what: str, who: str = "rc.rnn") -> tuple[int, ...]:
    """A declared shape (an int or a tuple of positive ints) as a tuple; `who` names the
    decorator in the message."""
    if callable(value):
        example = "state=D, inputs=K" if who == "rc.rnn" else "inputs=K"
        raise OptionError(f"{who} needs the shapes: write @{who}({example}) above the "
                          f"function, not a bare @{who}")
    shape = (value,) if isinstance(value, numbers.Integral) else value
    if not isinstance(shape, tuple) or not shape or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0
            for s in shape):
        raise OptionError(f"{who}: {what} must be a positive int or a tuple of positive ints, "
                          f"got {value!r}")
    return tuple(int(s) for s in shape)


def where_in_user_code(err: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if is_user_file(f.filename)]
    return f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno}: " if frames else ""


def where_defined(step: Callable) -> str:
    """``"file.py:LINE: "`` of the ``def`` line of the step function (past decorators)."""
    code = getattr(step, "__code__", None)
    if code is None:
        return ""
    line = code.co_firstlineno
    if linecache.getline(code.co_filename, line).lstrip().startswith("@"):
        for offset in range(1, 50):  # co_firstlineno is the first decorator's line
            text = linecache.getline(code.co_filename, line + offset).lstrip()
            if text.startswith(("def ", "async def ")):
                line += offset
                break
    return f"{os.path.basename(code.co_filename)}:{line}: "


#: seconds one trace of a step function may take: a step that never returns would otherwise
#: hang the caller without a word. ``RNNCIRC_TRACE_SECONDS`` or ``rnncirc --trace-seconds``
#: set it; 0 means no limit.
TRACE_SECONDS = float(os.environ.get("RNNCIRC_TRACE_SECONDS", "60"))


class _TraceTimeout(BaseException):
    """Raised by the alarm inside the user's step (not an Exception: no handler of theirs
    swallows it)."""


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise `_TraceTimeout` after `seconds` of wall time (main thread, POSIX only: where a
    signal cannot be used the trace runs without a limit)."""
    if (seconds <= 0 or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def alarm(signum, frame):
        raise _TraceTimeout(frame)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def trace(step: Callable, state_shape: tuple[int, ...], input_size: int | None,
          alphabet: int | None, name: str) -> CellGraph:
    """Run `step` once on symbolic h and x; return the recorded `CellGraph`."""
    return within_trace_limit(
        f"the step function of {name}",
        lambda: _trace(step, state_shape, input_size, alphabet, name))


def within_trace_limit(what: str, run: Callable):
    """``run()`` under the trace time limit; past it, one `TracingError` naming `what` and the
    user's line that was running."""
    try:
        with _time_limit(TRACE_SECONDS):
            return run()
    except _TraceTimeout as timeout:
        frame, where = timeout.args[0], ""
        while frame is not None and not is_user_file(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is not None:
            where = f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}: "
        raise TracingError(
            f"{where}tracing {what} took longer than {TRACE_SECONDS:g} "
            "s, so it was stopped (a loop that never ends?); tracing runs it once on "
            "symbolic values. If it is just slow, raise the limit: rnncirc --trace-seconds S, "
            "or RNNCIRC_TRACE_SECONDS=S (0: no limit)") from None


def _trace(step: Callable, state_shape: tuple[int, ...], input_size: int | None,
           alphabet: int | None, name: str) -> CellGraph:
    builder = CellBuilder()
    h = Sym(builder.node("state", state_shape), builder)
    if alphabet:
        x = SymbolSym(builder.node("input", (alphabet,)), builder)
    else:
        x = Sym(builder.node("input", (input_size,)), builder)
    try:
        new_h = step(h, x)
        if new_h is None:
            raise StepOutputError(
                f"{where_defined(step)}{name}: the step function returned None; it must "
                f"return the new state (an array of shape {state_shape}) - is `return` missing?")
        if isinstance(new_h, (tuple, list)) and any(isinstance(v, Sym) for v in new_h):
            raise StepOutputError(
                f"{where_defined(step)}{name}: the step function returned a "
                f"{type(new_h).__name__} of {len(new_h)} values; it must return one array of "
                f"the state's shape {state_shape} (combine parts with rc.concat or rc.stack)")
        new_h = as_sym(new_h, builder, "new state")
    except RnncircError:
        raise
    except Exception as err:  # any other failure inside the user's step function
        raise TracingError(
            f"{where_in_user_code(err)}the step function of {name} failed while tracing: "
            f"{type(err).__name__}: {err}") from None
    if new_h.shape != state_shape:
        raise StepOutputError(
            f"{where_defined(step)}{name}: the step function returned shape {new_h.shape}, "
            f"but the state has shape {state_shape}; it must return the new state")
    return CellGraph(nodes=tuple(builder.nodes), state=h.node, input=x.node, output=new_h.node,
                     alphabet=alphabet, name=name)


def rnn(state, inputs: int | None = None, *, alphabet: int | None = None, init=None,
        name: str | None = None) -> Callable[[Callable], RNN]:
    """Decorator: turn a step function ``(h, x) -> h_new`` into an `RNN`.

    Parameters
    ----------
    state : int or tuple — the state shape (a tuple such as ``(dk, dv)`` for a matrix state).
    inputs : int — size of the real input vector x_t.
    alphabet : int — instead of `inputs`: x_t is a symbol in ``range(alphabet)``.
    init : array — the initial state h_0 (zeros by default).
    name : str — defaults to the step function's name.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=2, inputs=1)
    ... def decay(h, x):
    ...     return 0.5 * h + x
    >>> decay
    RNN('decay', state=(2,), inputs=1)
    """
    state_shape = shape_option(state, "state")
    if (inputs is None) == (alphabet is None):
        raise OptionError("rc.rnn: give exactly one of inputs=K (real input vectors) or "
                          "alphabet=k (symbols)")
    size = shape_option(inputs if alphabet is None else alphabet,
                  "inputs" if alphabet is None else "alphabet")
    if len(size) != 1:
        raise OptionError("rc.rnn: inputs/alphabet must be an int")
    if init is None:
        h0 = np.zeros(state_shape)
    else:
        try:
            h0 = np.array(init, dtype=np.float64)  # a copy: the user's array stays writable
        except (TypeError, ValueError) as err:
            raise OptionError(f"rc.rnn: init must be a numeric array of the state's shape "
                              f"{state_shape}: {err}") from None
        if h0.shape != state_shape:
            raise OptionError(f"rc.rnn: init has shape {h0.shape}, but the state has shape "
                              f"{state_shape}")
        inexact = [v for v in np.ravel(np.array(init, dtype=object))
                   if isinstance(v, Fraction) and Fraction(float(v)) != v]
        if inexact:  # h_0 is held as floats: a rational that is not one would be rounded
            raise OptionError(f"rc.rnn: init holds the rational {inexact[0]}, which a float "
                              "cannot hold exactly; start from integers and put the rational "
                              "factor into the step or the readout (rc.from_wfa does so)")
    h0.setflags(write=False)

    def decorate(step: Callable) -> RNN:
        model_name = name or getattr(step, "__name__", "rnn")
        input_size = None if alphabet is not None else size[0]
        alpha = size[0] if alphabet is not None else None
        cell = trace(step, state_shape, input_size, alpha, model_name)
        warn_non_finite(h0, f"the init of {model_name}")
        for node in cell.nodes:  # the weights: one warning, for the first constant with any
            found = node.op == "const" and non_finite(node.arg)
            if found:
                where = f" at {node.where}" if node.where else ""
                # -inf is the zero of a (max, +) recurrence (log 0: a forbidden transition)
                absorbed = not np.isnan(node.arg).any() and any(
                    n.op in (Op.MAX, Op.MIN) for n in cell.nodes)
                consequence = ("an infinity reaches every output that depends on it unless "
                               "a max or min drops it" if absorbed else
                               "every output that depends on it will be NaN or inf")
                warnings.warn(f"NaN or inf in a constant of {model_name}'s step{where} "
                              f"({found}); {consequence}", RnncircWarning, stacklevel=2)
                break
        return RNN(step, state_shape, input_size, alpha, h0, model_name, cell)

    return decorate
