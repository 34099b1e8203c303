"""`rc.compile`: the whole lowering as one short function of named steps."""

from __future__ import annotations

import numbers

from rnncirc.errors import OptionError
from rnncirc.frontend.model import RNN
from rnncirc.ir.circuit import Circuit

TOPOLOGIES = ("auto", "sequential", "sklansky", "kogge-stone", "brent-kung", "ladner-fischer",
              "han-carlson")
OUTPUTS = ("all", "last")


def check_options(model, length, topology: str, outputs: str) -> None:
    if not isinstance(model, RNN):
        raise OptionError(f"expected an rnncirc RNN (made with @rc.rnn), got "
                          f"{type(model).__name__}")
    if not isinstance(length, numbers.Integral) or isinstance(length, bool) or length < 1:
        raise OptionError(f"length must be an integer >= 1, got {length!r}")
    if topology not in TOPOLOGIES:
        raise OptionError(f"unknown topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")
    if outputs not in OUTPUTS:
        raise OptionError(f"outputs must be 'all' or 'last', got {outputs!r}")


def compile(model: RNN, length: int, *, topology: str = "auto",  # noqa: A001 - public name
            outputs: str = "all") -> Circuit:
    """Compile `model` over `length` steps into a gate-level `Circuit`.

    Parameters
    ----------
    model : RNN — made with ``@rc.rnn``.
    length : int — the sequence length n (>= 1).
    topology : str — ``"auto"``, ``"sequential"`` or a prefix-network family.
    outputs : ``"all"`` (every h_t) or ``"last"`` (only h_n).

    Examples
    --------
    >>> import rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def running_sum(h, x):
    ...     return h + x
    >>> circuit = rc.compile(running_sum, 8, topology="sequential")
    >>> circuit.size, circuit.depth
    (7, 7)
    """
    from rnncirc.lower.unroll import unroll

    check_options(model, length, topology, outputs)
    # trace (done by @rc.rnn) -> templates of one step -> tiles chained over n steps
    return unroll(model, int(length), outputs)
