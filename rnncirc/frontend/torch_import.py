"""`rc.from_torch`: PyTorch recurrent modules and custom cells as rnncirc models.

Where this sits: the front end, beside `model` and `program`. It does not trace torch's own
kernels; it reads a module's weights (exact float64 copies) and writes the same recurrence as
an `rc.rnn` step function, which is then traced like any hand-written model:

===========================  ==============================================================
``nn.RNNCell/GRUCell``       one `RNN` whose state is the hidden state
``nn.LSTMCell``              a `Program`: one layer with state [h; c], output h
``nn.RNN/GRU/LSTM``          a `Program` of ``num_layers`` layers (a reverse scan beside each
                             one when ``bidirectional``; the two outputs concatenated); a
                             one-layer one-way nn.RNN or nn.GRU is the `RNN` itself
a custom ``nn.Module``       ``forward(x, h) -> h`` traced with torch.fx (`torch_fx`)
===========================  ==============================================================

Both biases of torch's modules are summed into one constant where they meet in one sum, as a
hand-written cell has one bias (two float32 biases add exactly in float64 unless their
magnitudes differ by more than 2^29); GRU keeps ``b_hn`` inside the reset gate, as torch does.
torch is imported only in these modules, and only when called: ``import rnncirc`` never
loads it.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from rnncirc.errors import ModelFileError, OptionError, RnncircWarning
from rnncirc.frontend import functions as rc
from rnncirc.frontend.model import RNN, rnn
from rnncirc.frontend.program import Program, program, scan

#: the packed gate blocks of torch's weights, in torch's order
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}

INSTALL_HINT = 'pip install "rnncirc[torch]"'


def require_torch():
    """The `torch` module, or one line saying how to install it."""
    try:
        import torch
    except ImportError:
        raise OptionError(f"rc.from_torch needs PyTorch, which is not installed: "
                          f"{INSTALL_HINT} (or pip install torch)") from None
    return torch


def from_torch(module, *, name: str | None = None, state=None,
               inputs: int | None = None) -> RNN | Program:
    """An rnncirc model that computes what a PyTorch recurrent module computes.

    ``model.run(xs)`` equals the module's output sequence: for ``nn.RNN/GRU/LSTM`` the
    ``output`` of its forward (the last layer's hidden states, both directions concatenated
    when bidirectional), for a cell (built-in or custom) its hidden state at every step, from
    a zero initial state. The module is compiled as at inference: ``dropout`` between layers
    is ignored (with a warning). ``batch_first`` only changes torch's layout; rnncirc's is
    always ``(batch, n, inputs)``. Weights are copied (float64), so later training does not
    change the model.

    Parameters
    ----------
    module : ``nn.RNN``, ``nn.GRU``, ``nn.LSTM`` (any ``num_layers``, ``bias``,
        ``bidirectional``, ``proj_size``, ``nonlinearity``), ``nn.RNNCell``, ``nn.GRUCell``,
        ``nn.LSTMCell``, or a custom cell: an ``nn.Module`` whose ``forward(x, h)`` returns
        the new state, written with common torch operations (see `rnncirc.frontend.torch_fx`).
    name : the model's name (default: the class name, lower case).
    state : custom cells only: the state's shape (an int or a tuple such as ``(dv, dk)``),
        or a list of shapes when forward takes and returns a tuple such as ``(h, c)``.
        Default: the module's ``state_shape`` or ``hidden_size`` attribute.
    inputs : custom cells only: the size of x. Default: the module's ``input_size``.

    Returns
    -------
    An `RNN` when the module is one recurrence whose state is its output (``nn.RNNCell``,
    ``nn.GRUCell``, a one-layer one-way ``nn.RNN``/``nn.GRU``, a custom cell with one state
    tensor); otherwise a `Program`.

    Examples
    --------
    >>> import torch, rnncirc as rc
    >>> gru = torch.nn.GRU(input_size=3, hidden_size=4, num_layers=2)
    >>> rc.from_torch(gru, name="gru")
    Program('gru', inputs=3, output=(4,), layers=[gru_l0, gru_l1])
    """
    torch = require_torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise OptionError(f"rc.from_torch takes a torch.nn.Module, got {type(module).__name__}")
    name = name or type(module).__name__.lower()
    builtin = isinstance(module, (nn.RNNBase, nn.RNNCellBase))
    if builtin and (state is not None or inputs is not None):
        raise OptionError(f"rc.from_torch: state= and inputs= are for custom cells; "
                          f"{type(module).__name__} knows its shapes")
    if isinstance(module, (nn.RNN, nn.GRU, nn.LSTM)):
        return _stacked(module, name)
    if isinstance(module, (nn.RNNCell, nn.GRUCell, nn.LSTMCell)):
        return _builtin_cell(module, name)
    if isinstance(module, nn.RNNBase):
        raise OptionError(f"rc.from_torch: {type(module).__name__} is not supported; "
                          "supported: nn.RNN, nn.GRU, nn.LSTM, nn.RNNCell, nn.GRUCell, "
                          "nn.LSTMCell, or a custom cell with forward(x, h)")
    from rnncirc.frontend.torch_fx import cell_from_module

    return cell_from_module(module, name, state, inputs)


# -- the built-in recurrences ------------------------------------------------------------------
def weights(tensor) -> np.ndarray:
    """An exact float64 copy of a parameter (read-only)."""
    array = tensor.detach().cpu().double().numpy().copy()
    array.setflags(write=False)
    return array


def cell_step(kind: str, w_ih, w_hh, b_ih, b_hh, w_hr=None, nonlinearity: str = "tanh"):
    """The step ``(state, x) -> state`` of one torch recurrence (weights as numpy arrays),
    and the size of its state. LSTM states are [h; c] (h of the projected size when
    ``w_hr`` is given).

    torch's equations: RNN h' = act(W_ih x + b_ih + W_hh h + b_hh); GRU r, z, n packed in
    that order with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); LSTM i, f, g, o packed
    in that order, c' = f c + i g, h' = o tanh(c') (times W_hr with a projection).
    """
    hidden = w_hh.shape[0] // _GATES[kind]
    zeros = np.zeros(w_hh.shape[0])
    b_ih = zeros if b_ih is None else b_ih
    b_hh = zeros if b_hh is None else b_hh
    if kind == "RNN":
        act = rc.tanh if nonlinearity == "tanh" else rc.relu
        bias = b_ih + b_hh

        def rnn_step(h, x):
            return act(w_ih @ x + w_hh @ h + bias)

        return rnn_step, hidden
    if kind == "GRU":
        h2 = 2 * hidden
        w_xrz, w_hrz, b_rz = w_ih[:h2], w_hh[:h2], b_ih[:h2] + b_hh[:h2]
        w_in, w_hn, b_in, b_hn = w_ih[h2:], w_hh[h2:], b_ih[h2:], b_hh[h2:]

        def gru_step(h, x):
            rz = rc.sigmoid(w_xrz @ x + w_hrz @ h + b_rz)
            r, z = rz[:hidden], rz[hidden:]
            n = rc.tanh(w_in @ x + b_in + r * (w_hn @ h + b_hn))
            return (1 - z) * n + z * h

        return gru_step, hidden
    out = hidden if w_hr is None else w_hr.shape[0]
    bias = b_ih + b_hh

    def lstm_step(state, x):
        h, c = state[:out], state[out:]
        pre = w_ih @ x + w_hh @ h + bias
        i, f = rc.sigmoid(pre[:hidden]), rc.sigmoid(pre[hidden:2 * hidden])
        g, o = rc.tanh(pre[2 * hidden:3 * hidden]), rc.sigmoid(pre[3 * hidden:])
        c_new = f * c + i * g
        h_new = o * rc.tanh(c_new)
        if w_hr is not None:
            h_new = w_hr @ h_new
        return rc.concat([h_new, c_new])

    return lstm_step, out + hidden


def _layer(module, layer: int, reverse: bool, name: str) -> tuple[RNN, int]:
    """Layer `layer` of an nn.RNN/GRU/LSTM (its reverse direction when `reverse`) as an
    `RNN` called `name`, and the size of its output (the h part of the state)."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")

    def param(what: str):
        tensor = getattr(module, what + suffix, None)
        return None if tensor is None else weights(tensor)

    w_ih = param("weight_ih")
    kind = "RNN" if module.mode.startswith("RNN_") else module.mode
    step, size = cell_step(kind, w_ih, param("weight_hh"), param("bias_ih"),
                           param("bias_hh"), param("weight_hr"),
                           "relu" if module.mode == "RNN_RELU" else "tanh")
    out = getattr(module, "proj_size", 0) or module.hidden_size
    return unplaced(rnn(state=size, inputs=w_ih.shape[1], name=name)(step)), out


def unplaced(model: RNN) -> RNN:
    """`model` with its nodes' source locations cleared: they would name rnncirc's caller,
    not a line of the user's (the step was written here, from torch's equations)."""
    for node in model.cell.nodes:
        node.where = ""
    return model


def _stacked(module, name: str) -> RNN | Program:
    """nn.RNN, nn.GRU, nn.LSTM: one scan per layer and direction."""
    if module.dropout and module.num_layers > 1:
        warnings.warn(f"{name}: dropout={module.dropout:g} between the layers of "
                      f"{type(module).__name__} is ignored: rnncirc compiles the module as "
                      "at inference (eval mode)", RnncircWarning, stacklevel=3)
    directions = (False, True) if module.bidirectional else (False,)
    if module.num_layers == 1 and not module.bidirectional and module.mode != "LSTM":
        return _layer(module, 0, False, name)[0]  # the state is the output
    layers = [[_layer(module, k, reverse, f"{name}_l{k}") for reverse in directions]
              for k in range(module.num_layers)]

    def stacked(x):
        seq = x
        for directions_of_layer in layers:
            outs = [scan(model, seq, reverse=reverse)[:size]
                    for reverse, (model, size) in zip(directions, directions_of_layer,
                                                      strict=True)]
            seq = rc.concat(outs) if len(outs) > 1 else outs[0]
        return seq

    return program(inputs=module.input_size, name=name)(stacked)


def _builtin_cell(module, name: str) -> RNN | Program:
    """nn.RNNCell, nn.GRUCell, nn.LSTMCell: the same step as one layer of nn.RNN & co."""
    nn = require_torch().nn
    kind = "LSTM" if isinstance(module, nn.LSTMCell) else \
        "GRU" if isinstance(module, nn.GRUCell) else "RNN"
    step, size = cell_step(
        kind, weights(module.weight_ih), weights(module.weight_hh),
        None if module.bias_ih is None else weights(module.bias_ih),
        None if module.bias_hh is None else weights(module.bias_hh),
        nonlinearity=getattr(module, "nonlinearity", "tanh"))
    if kind != "LSTM":
        return unplaced(rnn(state=size, inputs=module.input_size, name=name)(step))
    cell = unplaced(rnn(state=size, inputs=module.input_size, name=f"{name}_cell")(step))
    hidden = module.hidden_size
    return program(inputs=module.input_size, name=name)(lambda x: scan(cell, x)[:hidden])


# -- model files and pickles -------------------------------------------------------------------
def torch_models(namespace: dict, path: str) -> dict[str, RNN | Program]:
    """The recurrent torch modules model file `path` defines at module level, converted
    (under their variable names).

    Built-in recurrent modules always count; a custom module counts when its forward takes
    two arguments (x and the state). Other modules (an ``nn.Linear`` helper) are skipped; a
    file with only those is told what would count.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is None:  # the file did not import torch: it defines no torch module
        return {}
    found: dict[str, RNN | Program] = {}
    seen: list = []
    others = []
    for var, value in namespace.items():
        if var.startswith("_") or not isinstance(value, torch.nn.Module) \
                or any(value is s for s in seen):
            continue
        if not is_recurrent_module(value, torch):
            others.append(f"{var} ({type(value).__name__})")
            continue
        seen.append(value)
        found[var] = from_torch(value, name=var)
    if not found and others:
        raise ModelFileError(
            f"{path} defines torch modules ({', '.join(others)}) but none that rnncirc reads "
            "as a recurrence: nn.RNN, nn.GRU, nn.LSTM, their cells, or a cell whose "
            "forward(x, h) returns the new state")
    return found


def is_recurrent_module(module, torch) -> bool:
    """Whether `module` is a built-in recurrence or a custom cell ``forward(x, h)``."""
    nn = torch.nn
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return True
    if type(module).forward is nn.Module.forward:
        return False
    import inspect

    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 2


def load_pickle(path: str, trust: bool) -> dict[str, RNN | Program]:
    """A module saved whole with ``torch.save(module, path)``: refused unless `trust`."""
    if not trust:
        raise ModelFileError(
            f"{path} is a pickle: loading it runs whatever code it holds, so rnncirc does not "
            "open it; write a model file that builds the module and loads its weights with "
            "module.load_state_dict(torch.load(PATH, weights_only=True)) (see "
            "examples/torch_lstm.py), or pass --trust-pickle if you made this file yourself")
    torch = require_torch()
    try:
        value = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as err:  # a damaged or foreign file: say which and why
        raise ModelFileError(f"{path}: torch.load failed: {type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''}") from None
    if not isinstance(value, torch.nn.Module):
        what = "a state_dict" if isinstance(value, dict) else f"a {type(value).__name__}"
        raise ModelFileError(f"{path} holds {what}, not a module; write a model file that "
                             "builds the module and loads it with module.load_state_dict(...)")
    name = os.path.splitext(os.path.basename(path))[0]
    return {name: from_torch(value, name=name)}
