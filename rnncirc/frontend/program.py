"""`rc.program`, `rc.scan`, `rc.shift` and the `Program` object: a model over a whole sequence.

Where this sits: the front end, beside `model` (one recurrence). A program is a function
``f(x) -> y`` written once over the sequence: it is traced once, like a step function, on a
symbolic value that stands for *one position* of the input sequence, so every operation of a
step function applies position-wise. Three node kinds cross positions and are recorded as
such in the `ProgramGraph`:

=========  ================================================================================
``scan``   the states h_1..h_n of an `RNN` run over its operand sequence (``arg``: the
           `Layer`); ``reverse`` layers run from the end
``shift``  the operand k positions earlier (``arg``: k), its second operand the fill value
``input``  the program's input sequence (symbols, one-hot, for alphabet programs)
=========  ================================================================================

`Program.run` is the reference semantics: it interprets the graph with numpy over all
positions at once and runs each layer with `RNN.run` (the step function itself, eagerly).
The lowering (`lower.program`) builds the circuit from the same graph independently.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnncirc.errors import (
    OptionError,
    RnncircError,
    ShapeError,
    StepOutputError,
    TracingError,
    UnsupportedOperationError,
    located,
)
from rnncirc.frontend.alphabet import SymbolSym
from rnncirc.frontend.model import (
    RNN,
    check_sequence_inputs,
    shape_option,
    where_defined,
    where_in_user_code,
    within_trace_limit,
)
from rnncirc.frontend.tracer import Sym, as_sym
from rnncirc.ir.cell import CellBuilder, Node
from rnncirc.ir.ops import Op, apply_op


class ProgramBuilder(CellBuilder):
    """The node recorder of a program: its values are sequences (see `Sym.__iter__`)."""

    over_positions = True

    def __init__(self) -> None:
        super().__init__()
        #: (model, reverse, operand node id) -> its scan node: one layer over one sequence
        #: is one set of values, however often the program asks for it
        self.scans: dict = {}


@dataclass(frozen=True, eq=False)
class Layer:
    """One recurrent layer of a program: an `RNN` scanned over a sequence."""

    model: RNN
    reverse: bool
    #: the name reports use: the model's name, made unique within the program
    name: str


@dataclass(frozen=True)
class ProgramGraph:
    """A traced program: nodes in topological order, its input node and output node."""

    nodes: tuple[Node, ...]
    input: Node
    output: Node
    alphabet: int | None
    name: str

    def live_nodes(self) -> list[Node]:
        """Nodes the output depends on, in topological order."""
        live = {self.output.id}
        for node in reversed(self.nodes):
            if node.id in live:
                live.update(o.id for o in node.operands)
        return [n for n in self.nodes if n.id in live]

    @property
    def layers(self) -> list[tuple[Node, Layer]]:
        """The live scan nodes and their layers, in order."""
        return [(n, n.arg) for n in self.live_nodes() if n.op == "scan"]


@dataclass(frozen=True, eq=False)
class Program:
    """A model over a whole sequence: recurrent layers, position-wise blocks, a readout.

    Create it with the `program` decorator. ``state_shape`` is the shape of the output at one
    position (what a circuit outputs per position, as an RNN's state).
    """

    fn: Callable
    input_size: int | None
    alphabet: int | None
    name: str
    graph: ProgramGraph

    @property
    def state_shape(self) -> tuple[int, ...]:
        return self.graph.output.shape

    output_shape = state_shape

    @property
    def layers(self) -> list[Layer]:
        """The recurrent layers the output depends on, in order."""
        return [layer for _, layer in self.graph.layers]

    def __repr__(self) -> str:
        inputs = f"alphabet={self.alphabet}" if self.alphabet else f"inputs={self.input_size}"
        names = ", ".join(layer.name for layer in self.layers)
        return (f"Program({self.name!r}, {inputs}, output={self.state_shape}, "
                f"layers=[{names}])")

    def _repr_svg_(self):
        """The layer diagram, inline in notebooks (None without Graphviz)."""
        from rnncirc.export.dot import repr_svg

        return repr_svg(self)

    def check_inputs(self, xs) -> tuple[np.ndarray, bool]:
        """Validate `xs`; return it as a batched array and whether a batch axis was given."""
        return check_sequence_inputs(self.name, self.input_size, self.alphabet, xs)

    def run(self, xs) -> np.ndarray:
        """Run the program eagerly with numpy: the reference semantics.

        Every layer runs with `RNN.run` (its step function, step by step); position-wise
        operations run on all positions at once.

        Parameters
        ----------
        xs : array of shape ``(n, inputs)`` or ``(batch, n, inputs)``; for alphabet programs
            integer symbols of shape ``(n,)`` or ``(batch, n)``.

        Returns
        -------
        The outputs y_1..y_n, shape ``(n, *output)`` or ``(batch, n, *output)``.

        Examples
        --------
        >>> import numpy as np, rnncirc as rc
        >>> @rc.rnn(state=1, inputs=1)
        ... def running_sum(h, x):
        ...     return h + x
        >>> @rc.program(inputs=1)
        ... def twice(x):
        ...     return 2 * rc.scan(running_sum, x)
        >>> twice.run(np.array([[1.0], [2.0], [3.0]])).ravel().tolist()
        [2.0, 6.0, 12.0]
        """
        batch, batched = self.check_inputs(xs)
        quiet = not self.alphabet and not np.isfinite(batch).all()
        with np.errstate(invalid="ignore") if quiet else contextlib.nullcontext():
            out = _interpret(self.graph, batch)
        return out if batched else out[0]


def _interpret(graph: ProgramGraph, batch: np.ndarray) -> np.ndarray:
    """Values of the output node at every position, ``(batch, n, *output)``."""
    b, n = batch.shape[:2]
    values: dict[int, np.ndarray] = {}
    for node in graph.live_nodes():
        lead = (b, n)
        if node.op == "input":
            value = batch if not graph.alphabet else \
                (batch[..., None] == np.arange(graph.alphabet)).astype(np.float64)
        elif node.op == "const":
            value = np.broadcast_to(node.arg, lead + node.shape)
        elif node.op == "gather":
            flat = np.concatenate([np.broadcast_to(values[o.id], lead + o.shape)
                                   .reshape(b, n, -1) for o in node.operands], axis=2)
            value = flat[:, :, node.arg.ravel()].reshape(lead + node.shape)
        elif node.op == "sum":
            value = values[node.operands[0].id].sum(axis=tuple(2 + a for a in node.arg))
        elif node.op == "scan":
            layer: Layer = node.arg
            seq = batch if layer.model.alphabet else values[node.operands[0].id]
            if layer.reverse:
                value = layer.model.run(seq[:, ::-1])[:, ::-1]
            else:
                value = layer.model.run(seq)
        elif node.op == "shift":
            value = shifted(node, values, n, lead)
        elif isinstance(node.op, Op):
            value = np.asarray(apply_op(node.op, *(values[o.id] for o in node.operands)),
                               dtype=np.float64)
        else:
            raise AssertionError(f"unknown program node {node.op!r}")
        values[node.id] = value
    out = values[graph.output.id]
    return np.array(np.broadcast_to(out, (b, n) + graph.output.shape), dtype=np.float64)


def shifted(node: Node, values: dict, n: int, lead: tuple) -> np.ndarray:
    """The value of a shift node over all n positions: its operand k positions later, the
    fill before (`values` holds every node's value, with the leading axes `lead`)."""
    k = node.arg
    check_shift(k, n, node)
    operand = values[node.operands[0].id]
    fill = np.broadcast_to(values[node.operands[1].id], lead + node.shape)
    return np.concatenate([fill[:, :k], operand[:, :n - k]], axis=1)


def check_shift(k: int, n: int, node: Node) -> None:
    """rc.shift by k needs a sequence longer than k: otherwise every value is the fill."""
    if k >= n:
        where = f"{node.where}: " if node.where else ""
        raise OptionError(f"{where}rc.shift by k={k} needs sequences longer than {k}, but the "
                          f"length is {n}: every position would be the fill value; use a "
                          f"smaller k or a length > {k}")


# -- what a program function calls -------------------------------------------------------------
def _program_sym(value, what: str) -> Sym:
    if not isinstance(value, Sym) or not getattr(value.builder, "over_positions", False):
        raise UnsupportedOperationError(located(
            f"{what} takes a sequence of an @rc.program function (its input x or a value "
            f"computed from it), got {type(value).__name__}; write the layers inside a "
            "function decorated with @rc.program(inputs=K)"))
    return value


def scan(model: RNN, seq, *, reverse: bool = False) -> Sym:
    """The states h_1..h_n of `model` run over `seq`, as a sequence (a recurrent layer).

    Only inside an ``@rc.program`` function. ``model(seq)`` is the same. ``reverse=True``
    runs the layer from the end (h_n first): a backward layer; a bidirectional layer is two
    scans and an ``rc.concat``.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=2, inputs=2)
    ... def decay(h, x):
    ...     return 0.5 * h + x
    >>> @rc.program(inputs=2)
    ... def both_ways(x):
    ...     return rc.concat([rc.scan(decay, x), rc.scan(decay, x, reverse=True)])
    >>> both_ways.run(np.ones((3, 2))).shape
    (3, 4)
    """
    if not isinstance(model, RNN):
        raise UnsupportedOperationError(located(
            f"rc.scan(model, seq): model must be an RNN made with @rc.rnn, got "
            f"{type(model).__name__}"))
    seq = _program_sym(seq, "rc.scan")
    builder = seq.builder
    if model.alphabet:
        if not isinstance(seq, SymbolSym) or seq.shape[0] != model.alphabet:
            got = f"symbols of an alphabet of {seq.shape[0]}" if isinstance(seq, SymbolSym) \
                else f"a real sequence of shape {seq.shape}"
            raise ShapeError(located(
                f"layer {model.name} reads symbols of an alphabet of {model.alphabet}, but is "
                f"given {got}; scan it over the input of an @rc.program(alphabet="
                f"{model.alphabet}) function"))
    else:
        if isinstance(seq, SymbolSym):
            raise ShapeError(located(
                f"layer {model.name} takes real inputs of shape ({model.input_size},) at each "
                "position, but is given the symbols of an alphabet program; turn symbols "
                "into vectors first with rc.lookup(table, x)"))
        if seq.shape != (model.input_size,):
            raise ShapeError(located(
                f"layer {model.name} takes inputs of shape ({model.input_size},) at each "
                f"position, but the sequence given to it has shape {seq.shape} per position"))
    key = (model, bool(reverse), seq.node.id)
    found = builder.scans.get(key)
    if found is not None:  # the same layer over the same sequence: the same values
        return Sym(found, builder)
    layer = Layer(model, bool(reverse), _layer_name(builder, model, bool(reverse)))
    node = builder.node("scan", model.state_shape, (seq.node,), layer)
    builder.scans[key] = node
    return Sym(node, builder)


def _layer_name(builder: ProgramBuilder, model: RNN, reverse: bool) -> str:
    base = model.name + (" (reverse)" if reverse else "")
    taken = {node.arg.name for node in builder.nodes if node.op == "scan"}
    name, k = base, 2
    while name in taken:
        name, k = f"{base} #{k}", k + 1
    return name


def shift(seq, k: int = 1, fill=0.0) -> Sym:
    """The sequence k positions later: position t holds seq's value at t - k (`fill` before).

    Only inside an ``@rc.program`` function. ``rc.shift(h)`` is h_{t-1} with h_0 = 0: a
    readout of the previous state. k must be >= 0 and smaller than the sequence length.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.program(inputs=1)
    ... def previous(x):
    ...     return rc.shift(x, 1, fill=-1.0)
    >>> previous.run(np.array([[1.0], [2.0], [3.0]])).ravel().tolist()
    [-1.0, 1.0, 2.0]
    """
    seq = _program_sym(seq, "rc.shift")
    if isinstance(seq, SymbolSym):
        seq._not_a_vector()
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 0:
        raise OptionError(located(f"rc.shift(seq, k): k must be an integer >= 0, got {k!r}"))
    if k == 0:
        return seq
    fill_sym = as_sym(fill, seq.builder, "fill value")
    if fill_sym.node.op != "const":
        raise UnsupportedOperationError(located(
            "rc.shift(seq, k, fill): fill must be a constant (a number or numpy array)"))
    try:
        fill_value = np.broadcast_to(fill_sym.node.arg, seq.shape)
    except ValueError:
        raise ShapeError(located(f"rc.shift: fill of shape {fill_sym.shape} does not "
                                 f"broadcast to the sequence's shape {seq.shape}")) from None
    fill_node = seq.builder.const(fill_value)
    return Sym(seq.builder.node("shift", seq.shape, (seq.node, fill_node), int(k)), seq.builder)


# -- the decorator -----------------------------------------------------------------------------
def program(inputs: int | None = None, *, alphabet: int | None = None, outputs=None,
            name: str | None = None) -> Callable[[Callable], Program]:
    """Decorator: turn ``f(x) -> y``, written over a whole sequence, into a `Program`.

    Inside `f`, x and every value computed from it stand for one position of the sequence
    (numpy semantics, every function a step function may call); `rc.scan` runs a recurrent
    layer over a sequence, `rc.shift` reads earlier positions. Python loops over positions
    cannot be traced (use `rc.scan`).

    Parameters
    ----------
    inputs : int — size of the real input vector at each position.
    alphabet : int — instead of `inputs`: each position is a symbol in ``range(alphabet)``.
    outputs : int or tuple — optional: the output shape at one position, checked.
    name : str — defaults to the function's name.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=2, inputs=2)
    ... def decay(h, x):
    ...     return 0.5 * h + x
    >>> @rc.program(inputs=2)
    ... def stack(x):
    ...     return rc.scan(decay, rc.relu(rc.scan(decay, x)))
    >>> stack
    Program('stack', inputs=2, output=(2,), layers=[decay, decay #2])
    """
    if (inputs is None) == (alphabet is None):
        raise OptionError("rc.program: give exactly one of inputs=K (real input vectors) or "
                          "alphabet=k (symbols)")
    size = shape_option(inputs if alphabet is None else alphabet,
                        "inputs" if alphabet is None else "alphabet", "rc.program")
    if len(size) != 1:
        raise OptionError("rc.program: inputs/alphabet must be an int")
    declared = None if outputs is None else shape_option(outputs, "outputs", "rc.program")

    def decorate(fn: Callable) -> Program:
        program_name = name or getattr(fn, "__name__", "program")
        input_size = None if alphabet is not None else size[0]
        alpha = size[0] if alphabet is not None else None
        graph = within_trace_limit(f"the program function {program_name}",
                                   lambda: _trace(fn, input_size, alpha, program_name))
        if declared is not None and graph.output.shape != declared:
            raise StepOutputError(
                f"{where_defined(fn)}{program_name}: the program returned shape "
                f"{graph.output.shape} at each position, but outputs={declared} was declared")
        return Program(fn, input_size, alpha, program_name, graph)

    return decorate


def _trace(fn: Callable, input_size: int | None, alphabet: int | None,
           name: str) -> ProgramGraph:
    builder = ProgramBuilder()
    if alphabet:
        x = SymbolSym(builder.node("input", (alphabet,)), builder)
    else:
        x = Sym(builder.node("input", (input_size,)), builder)
    try:
        y = fn(x)
        if y is None:
            raise StepOutputError(
                f"{where_defined(fn)}{name}: the program function returned None; it must "
                "return its output sequence (e.g. the last layer's states) - is `return` "
                "missing?")
        if isinstance(y, (tuple, list)) and any(isinstance(v, Sym) for v in y):
            raise StepOutputError(
                f"{where_defined(fn)}{name}: the program function returned a "
                f"{type(y).__name__} of {len(y)} values; it must return one sequence "
                "(combine outputs with rc.concat or rc.stack)")
        if not isinstance(y, Sym):
            raise StepOutputError(
                f"{where_defined(fn)}{name}: the program function returned a "
                f"{type(y).__name__}, not a sequence computed from its input; return e.g. "
                "rc.scan(layer, x) or a readout of it")
        if isinstance(y, SymbolSym):
            y._not_a_vector()
        y = as_sym(y, builder, "output")
    except RnncircError:
        raise
    except Exception as err:  # any other failure inside the user's program function
        raise TracingError(
            f"{where_in_user_code(err)}the program function {name} failed while tracing: "
            f"{type(err).__name__}: {err}") from None
    if y.node.op == "const":
        raise StepOutputError(
            f"{where_defined(fn)}{name}: the program's output does not depend on its input "
            "sequence (it is a constant); return a value computed from x")
    if not all(y.shape):
        raise StepOutputError(
            f"{where_defined(fn)}{name}: the program returned shape {y.shape} at each "
            "position; return at least one value per position (a scalar: y.reshape(1))")
    return ProgramGraph(tuple(builder.nodes), x.node, y.node, alphabet, name)


def is_model(value) -> bool:
    """Whether `value` is something rnncirc compiles: an `RNN` or a `Program`."""
    return isinstance(value, (RNN, Program))


def check_model(value, what: str = "expected") -> None:
    if not is_model(value):
        raise OptionError(f"{what} an rnncirc RNN or Program (made with @rc.rnn or "
                          f"@rc.program), got {type(value).__name__}")


