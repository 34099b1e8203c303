"""rnncirc: compile recurrent neural networks into arithmetic circuits and measure them.

>>> import numpy as np, rnncirc as rc
>>> @rc.rnn(state=4, inputs=2)
... def elman(h, x):
...     return rc.tanh(0.5 * h + np.ones((4, 2)) @ x)
>>> rc.compile(elman, 16).depth > 0
True
"""

from rnncirc.analyze.classify import Classification, classify
from rnncirc.analyze.profile import DepthProfile, depth_profile
from rnncirc.boolean import BooleanCircuit, to_boolean
from rnncirc.compiler import compile
from rnncirc.errors import RnncircError
from rnncirc.export.dot import to_dot
from rnncirc.frontend.functions import (
    abs,
    concat,
    exp,
    log,
    lookup,
    maximum,
    minimum,
    outer,
    relu,
    sigmoid,
    silu,
    softplus,
    sqrt,
    stack,
    tanh,
    where,
)
from rnncirc.frontend.model import RNN, rnn
from rnncirc.ir.circuit import Circuit

__version__ = "0.1.0"

__all__ = [
    "RNN", "BooleanCircuit", "Circuit", "Classification", "DepthProfile", "RnncircError", "abs",
    "classify", "to_boolean",
    "compile", "concat", "depth_profile", "exp", "log", "lookup", "to_dot",
    "maximum", "minimum", "outer", "relu", "rnn", "sigmoid", "silu", "softplus", "sqrt",
    "stack", "tanh", "where",
]
