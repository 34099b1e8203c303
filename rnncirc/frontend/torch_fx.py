"""Custom PyTorch cells: ``forward(x, h) -> h`` traced with torch.fx, replayed with rc.* ops.

Where this sits: the front end, called by `torch_import.from_torch` for a module that is not
one of torch's own recurrences. torch.fx records ``forward`` once as a graph of calls
(functions, Tensor methods, leaf modules such as ``nn.Linear``). Each call is mapped to the
rnncirc operation that means the same (`torch_ops` holds the table), and the graph becomes
the step function of an `rc.rnn`: it runs on numpy arrays in `RNN.run` and on symbolic values
when traced, so the cell graph is the one a hand-written twin of the cell would give (a
linear-in-state cell classifies and lowers like its twin).

A call outside the table is refused before anything runs, with one line naming the call, the
module path and its source line, and listing what is supported.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

from rnncirc.errors import (
    OptionError,
    RnncircError,
    RnncircWarning,
    ShapeError,
    StepOutputError,
    TracingError,
    UnsupportedOperationError,
    is_user_file,
)
from rnncirc.frontend import functions as rc
from rnncirc.frontend.model import RNN, rnn, shape_option, where_in_user_code
from rnncirc.frontend.program import Program, program, scan
from rnncirc.frontend.torch_import import require_torch, weights
from rnncirc.frontend.torch_ops import (
    IGNORED_AT_INFERENCE,
    function_table,
    method_table,
    module_handler,
    supported_text,
)
from rnncirc.frontend.tracer import Sym


@dataclass
class _Cell:
    """A traced custom cell: its fx graph and everything the replay reads."""

    name: str
    cls: str
    nodes: list
    #: get_attr target -> float64 copy of the tensor
    constants: dict = field(default_factory=dict)
    #: call_module target -> (handler, the submodule, its parameters as float64 copies)
    modules: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)
    methods: dict = field(default_factory=dict)
    #: ids of the cell-graph nodes the replay made, each located at its forward line
    placed: set = field(default_factory=set)


def cell_from_module(module, name: str, state, inputs) -> RNN | Program:
    """A custom cell (an ``nn.Module`` with ``forward(x, h)``) as an `RNN` (one state tensor)
    or a `Program` (a tuple state such as ``(h, c)``: the output is its first part)."""
    torch = require_torch()
    cls = type(module).__name__
    shapes, several = _state_shapes(module, name, state)
    input_size = _input_size(module, name, inputs)
    cell = _trace(module, name, torch)
    run = _replayer(cell)
    if not several:
        def step(h, x):
            out = run(x, h)
            if isinstance(out, (tuple, list)):
                raise StepOutputError(
                    f"{name}: {cls}.forward returns {len(out)} values, but the state was "
                    "declared as one tensor; for forward(x, (h, c)) give state=[shape of h, "
                    "shape of c]")
            return out

        return place(rnn(state=shapes[0], inputs=input_size, name=name)(step), cell)

    sizes = [math.prod(s) for s in shapes]
    bounds = [sum(sizes[:k]) for k in range(len(sizes) + 1)]

    def tuple_step(flat, x):
        parts = tuple(flat[lo:hi].reshape(shape)
                      for lo, hi, shape in zip(bounds, bounds[1:], shapes, strict=False))
        out = run(x, parts)
        if not isinstance(out, (tuple, list)) or len(out) != len(parts):
            got = f"{len(out)} values" if isinstance(out, (tuple, list)) else "one tensor"
            raise StepOutputError(f"{name}: {cls}.forward returns {got}, but the state was "
                                  f"declared with {len(parts)} parts; it must return the new "
                                  "state in the same form as it takes it")
        return rc.concat([o.reshape(-1) for o in out])

    layer = place(rnn(state=bounds[-1], inputs=input_size, name=f"{name}_cell")(tuple_step),
                  cell)
    first = shapes[0]
    return program(inputs=input_size, name=name)(
        lambda x: scan(layer, x)[:sizes[0]].reshape(first))


def place(model: RNN, cell: _Cell) -> RNN:
    """Clear the location of the nodes the replay did not make (reshapes around it): what
    `user_location` found for them is the caller of rc.from_torch, not the cell."""
    for node in model.cell.nodes:
        if node.id not in cell.placed:
            node.where = ""
    return model


def _state_shapes(module, name: str, state) -> tuple[list[tuple[int, ...]], bool]:
    if state is None:
        state = getattr(module, "state_shape", None)
    if state is None:
        state = getattr(module, "hidden_size", None)
    if state is None:
        raise OptionError(
            f"rc.from_torch: {name} is a custom cell, and the shape of its state is not "
            "known: call rc.from_torch(cell, state=D, inputs=K) (state=[H, H] for "
            "forward(x, (h, c))), or give the module attributes hidden_size and input_size")
    several = isinstance(state, list)
    shapes = [shape_option(s, "state", "rc.from_torch") for s in (state if several else [state])]
    return shapes, several


def _input_size(module, name: str, inputs) -> int:
    size = inputs if inputs is not None else getattr(module, "input_size", None)
    if size is None:
        raise OptionError(
            f"rc.from_torch: {name} is a custom cell, and the size of its input is not known: "
            "call rc.from_torch(cell, state=D, inputs=K), or give the module an attribute "
            "input_size")
    shape = shape_option(size, "inputs", "rc.from_torch")
    if len(shape) != 1:
        raise OptionError(f"rc.from_torch: inputs must be an int, got {size!r}")
    return shape[0]


# -- tracing and checking ----------------------------------------------------------------------
def _trace(module, name: str, torch) -> _Cell:
    """Record forward with torch.fx; check every call is supported; copy the weights."""
    cls = type(module).__name__
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True  # the user's source line, for messages
    training = module.training
    module.eval()  # `if self.training:` branches take the inference side, as compiled
    try:
        graph = tracer.trace(module)
    except RnncircError:
        raise
    except Exception as err:  # control flow on tensors and the like: torch.fx's own reasons
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise TracingError(
            f"{where_in_user_code(err)}rc.from_torch: {name}: torch.fx cannot trace "
            f"{cls}.forward ({type(err).__name__}: {first}); write forward without Python "
            "control flow on tensor values (torch.where chooses between values)") from None
    finally:
        module.train(training)
    cell = _Cell(name, cls, list(graph.nodes), functions=function_table(torch),
                 methods=method_table())
    placeholders = [n for n in cell.nodes if n.op == "placeholder"]
    if len(placeholders) < 2 or any(not n.args for n in placeholders[2:]):
        raise UnsupportedOperationError(
            f"rc.from_torch: {name}: {cls}.forward must take (x, h): the input of one step "
            "and the state (or a tuple of states such as (h, c)), and return the new state; "
            f"it takes {len(placeholders)} arguments")
    for node in cell.nodes:
        _check(cell, node, module, torch)
    return cell


def _check(cell: _Cell, node, root, torch) -> None:
    """Refuse a call that has no rnncirc meaning; fetch what a supported one reads."""
    if node.op == "get_attr":
        value = root
        for part in node.target.split("."):
            value = getattr(value, part)
        cell.constants[node.target] = weights(value) if isinstance(value, torch.Tensor) \
            else value
        return
    if node.op == "call_function":
        supported = node.target in cell.functions
        what = cell.functions[node.target][0] if supported else _function_name(node.target)
    elif node.op == "call_method":
        supported = node.target in cell.methods
        what = f"Tensor.{node.target}"
    elif node.op == "call_module":
        sub = root.get_submodule(node.target)
        handler = module_handler(sub, torch)
        supported = handler is not None
        what = f"nn.{type(sub).__name__}" if type(sub).__module__.startswith("torch.") \
            else type(sub).__name__
        if supported:
            params = {k: weights(v) for k, v in sub.named_parameters(recurse=False)}
            params.update({k: weights(v) for k, v in sub.named_buffers(recurse=False)
                           if v.is_floating_point()})
            cell.modules[node.target] = (handler, sub, params)
    else:
        return
    if not supported:
        raise UnsupportedOperationError(
            f"{_where(node)}rc.from_torch: {what} in {_path(cell, node)} is not supported; "
            f"supported: {supported_text(torch)}")
    if what in IGNORED_AT_INFERENCE and _dropout_rate(node, root) != 0:
        warnings.warn(f"{cell.name}: {what} in {_path(cell, node)} is ignored: rnncirc "
                      "compiles the module as at inference (eval mode)", RnncircWarning,
                      stacklevel=5)


def _dropout_rate(node, root):
    """The p of an nn.Dropout or F.dropout call (None when it is not a constant); 0 where
    it is off (``training=self.training``, traced in eval mode)."""
    if node.op == "call_module":
        return root.get_submodule(node.target).p
    p = node.kwargs.get("p", node.args[1] if len(node.args) > 1 else 0.5)
    if node.kwargs.get("training", node.args[2] if len(node.args) > 2 else True) is False:
        return 0
    return p if isinstance(p, (int, float)) else None


def _function_name(target) -> str:
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if module in ("torch._C._nn", "torch.nn.functional"):
        return f"F.{name}"
    if module.startswith("torch") or module == "":
        return f"torch.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    return f"{module}.{name}"


def _path(cell: _Cell, node) -> str:
    """``"gate.proj (Linear)"``: where in the module tree a node was recorded."""
    if node.op == "call_module":
        stack = node.meta.get("nn_module_stack") or {}
        cls = next(reversed(stack.values()))[1].__name__ if stack else ""
        return f"{cell.name}.{node.target}" + (f" ({cls})" if cls else "")
    stack = node.meta.get("nn_module_stack")
    if stack:
        path, (_, cls) = next(reversed(stack.items()))
        return f"{cell.name}.{path} ({cls.__name__}.forward)"
    return f"{cell.name} ({cell.cls}.forward)"


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
_LOCATION = re.compile(r"^\S+:\d+: ")


def _where(node) -> str:
    """``"cell.py:12: "``: the user's line that made `node` (innermost user frame)."""
    found = [(f, line) for f, line in _FRAME.findall(node.stack_trace or "")
             if is_user_file(f)]
    if not found:
        return ""
    path, line = found[-1]
    return f"{path.rsplit('/', 1)[-1]}:{line}: "


# -- replay ------------------------------------------------------------------------------------
def _replayer(cell: _Cell):
    """``run(x, h) -> new state``: the fx graph evaluated with rc.* operations."""
    from torch.fx.node import map_arg

    def run(x, h):
        values: dict = {}
        given = iter((x, h))
        builder = x.builder if isinstance(x, Sym) else None  # None: an eager run
        for node in cell.nodes:
            if node.op == "output":
                return map_arg(node.args[0], values.__getitem__)
            made = len(builder.nodes) if builder else 0
            try:
                values[node] = _evaluate(cell, node, given, map_arg, values)
                if builder:  # error messages about the circuit point at the forward line
                    where = _where(node).rstrip(": ")
                    for new in builder.nodes[made:]:
                        new.where = where
                        cell.placed.add(new.id)
            except RnncircError as err:  # the tracer's location is rc.from_torch's caller
                message = _LOCATION.sub("", str(err))
                if isinstance(err, ShapeError):  # often a forward written for a batch
                    message += _unbatched(x, h)
                raise type(err)(f"{_where(node)}{cell.name}: {_describe(cell, node)}: "
                                f"{message}") from None
            except Exception as err:  # torch semantics rnncirc does not follow: say where
                raise TracingError(f"{_where(node)}{cell.name}: {_describe(cell, node)} "
                                   f"failed: {type(err).__name__}: {err}") from None
        raise AssertionError("an fx graph ends with its output node")

    return run


def _unbatched(x, h) -> str:
    states = " and ".join(str(tuple(p.shape)) for p in h) if isinstance(h, tuple) \
        else str(tuple(h.shape))
    return (f" (forward runs on one step without a batch axis: x has shape "
            f"{tuple(x.shape)}, the state {states})")


def _evaluate(cell: _Cell, node, given, map_arg, values):
    if node.op == "placeholder":
        value = next(given, None)
        return node.args[0] if value is None and node.args else value
    if node.op == "get_attr":
        return cell.constants[node.target]
    args = map_arg(node.args, values.__getitem__)
    kwargs = map_arg(node.kwargs, values.__getitem__)
    if node.op == "call_function":
        return cell.functions[node.target][1](*args, **kwargs)
    if node.op == "call_method":
        return cell.methods[node.target](*args, **kwargs)
    handler, sub, params = cell.modules[node.target]
    return handler(sub, params, *args, **kwargs)


def _describe(cell: _Cell, node) -> str:
    if node.op == "call_function":
        return cell.functions[node.target][0] + f" in {_path(cell, node)}"
    if node.op == "call_method":
        return f"Tensor.{node.target} in {_path(cell, node)}"
    return _path(cell, node)
