"""rnncirc: compile recurrent neural networks into arithmetic circuits and measure them.

>>> import numpy as np, rnncirc as rc
>>> @rc.rnn(state=4, inputs=2)
... def elman(h, x):
...     return rc.tanh(0.5 * h + np.ones((4, 2)) @ x)
>>> rc.compile(elman, 16).depth > 0
True
"""

from rnncirc.analyze.profile import DepthProfile, depth_profile
from rnncirc.compiler import compile
from rnncirc.errors import RnncircError
from rnncirc.eval.fast import Evaluator
from rnncirc.eval.sequence import ShardedEvaluation, evaluate_sharded
from rnncirc.export.dot import to_dot
from rnncirc.frontend.acceptance import accepts
from rnncirc.frontend.automata import from_dfa, from_wfa
from rnncirc.frontend.counter_machine import from_counter_machine
from rnncirc.frontend.functions import (
    abs,
    clip,
    concat,
    exp,
    layer_norm,
    log,
    lookup,
    maximum,
    minimum,
    outer,
    relu,
    rms_norm,
    rsqrt,
    sigmoid,
    silu,
    softmax,
    softplus,
    sqrt,
    stack,
    tanh,
    where,
)
from rnncirc.frontend.imm import imm_program
from rnncirc.frontend.model import RNN, rnn
from rnncirc.frontend.program import Program, program, scan, shift
from rnncirc.frontend.torch_import import from_torch
from rnncirc.ir.circuit import Circuit
from rnncirc.lower.boolean import BooleanCircuit, to_boolean
from rnncirc.lower.classify import Classification
from rnncirc.lower.layers import ProgramClassification, classify
from rnncirc.lower.pairs import to_integer_pairs
from rnncirc.version import __version__

__all__ = [
    "RNN", "BooleanCircuit", "Circuit", "Classification", "DepthProfile", "Evaluator",
    "Program", "ProgramClassification", "RnncircError", "abs", "accepts",
    "classify", "clip", "to_boolean",
    "compile", "concat", "depth_profile", "exp", "from_counter_machine", "from_dfa",
    "from_wfa", "imm_program", "layer_norm", "log", "lookup", "to_dot",
    "maximum", "minimum", "outer", "program", "relu", "rms_norm", "rnn", "rsqrt", "scan",
    "shift", "sigmoid", "silu", "softmax", "softplus", "sqrt", "to_integer_pairs", "from_torch",
    "stack", "tanh", "where", "__version__",
    "ShardedEvaluation", "evaluate_sharded",
]
