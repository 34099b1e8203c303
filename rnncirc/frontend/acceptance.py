"""`rc.accepts`: the paper's acceptance of a language, as a program output.

Where this sits: the front end, beside `program`. A recognizer accepts a word when a linear
readout of its last output is positive (Merrill et al. 2026, Def. 9; PNC1 for LRNNs over Q) or,
for the equality classes, zero (ENC1 = C=NC1, Thm 4). `accepts` wraps a model into a program
whose output at position t is that test of the model's output at t, as one comparison gate:
1.0 when the prefix x_1..x_t is accepted, 0.0 when not. The comparison is an ordinary gate,
so the fast evaluator, exact evaluation and the boolean lowering (`rc.to_boolean`: bit 0 of
the output word is the answer) all carry it.
"""

from __future__ import annotations

import numbers

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program, program, scan
from rnncirc.frontend.tracer import elementwise
from rnncirc.ir.ops import Op

#: the tests of the readout: the name, its comparison with 0 and the class it defines
TESTS = {"positive": Op.GT, "zero": Op.EQ, "nonnegative": Op.GE}


def accepts(model, *, test: str = "positive", output: int = 0,
            name: str | None = None) -> Program:
    """A program that outputs 1.0 where `model` accepts the prefix and 0.0 where not.

    Parameters
    ----------
    model : an `RNN` or `Program` (e.g. from `rc.from_dfa`, `rc.from_wfa`,
        `rc.from_counter_machine`, `rc.imm_program`).
    test : ``"positive"`` (accept iff the readout is > 0: PNC1 acceptance, the default),
        ``"zero"`` (== 0: ENC1 acceptance) or ``"nonnegative"`` (>= 0).
    output : which element of the model's (flattened) output is the readout.
    name : the program's name (default: ``accepts_<model>``).

    Returns
    -------
    A `Program` with output shape ``(1,)``: 1.0 (accepted) or 0.0.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> parity = rc.from_dfa([[0, 1], [1, 0]], start=0, accepting=[1])
    >>> rc.accepts(parity).run(np.array([1, 0, 1, 1])).ravel().tolist()
    [1.0, 1.0, 0.0, 1.0]

    The (0, 0) entry of a product of matrices is 0 (ENC1 acceptance of Thm 10's program):

    >>> zero = rc.accepts(rc.imm_program(), test="zero")
    """
    if test not in TESTS:
        raise OptionError(f"rc.accepts: test must be one of {', '.join(TESTS)}, got {test!r}")
    if not isinstance(model, (RNN, Program)):
        raise OptionError(f"rc.accepts: expected an RNN or Program, got {type(model).__name__}")
    size = int(np.prod(model.state_shape))
    if not isinstance(output, numbers.Integral) or not -size <= output < size:
        raise OptionError(f"rc.accepts: output must be an index into the model's {size} "
                          f"output values, got {output!r}")
    label = name or f"accepts_{model.name}"
    outer = {"alphabet": model.alphabet} if model.alphabet else {"inputs": model.input_size}

    @program(**outer, name=label)
    def accepted(x):
        y = model.fn(x) if isinstance(model, Program) else scan(model, x)
        readout = y.reshape(-1)[output].reshape(1)
        return elementwise(TESTS[test], readout, 0.0)

    return accepted
