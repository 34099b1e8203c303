"""`rc.from_counter_machine`: a real-time counter machine as a one-layer ReLU RNN (Lemma 3).

Where this sits: the front end, beside `automata`. It builds an ordinary `rc.program` of one
`rc.scan` layer and a position-wise readout; the layer is nonlinear in its state, so the
lowering unrolls it and the circuit's depth grows linearly in n (Merrill et al. 2026, Sec. 3:
log-precision RNNs are in L, and no log-depth circuit is known for L-complete problems).

The construction (Lemma 3, with the digest's exact zero gadget and a sink):

* the state is ``[one-hot control state | counters]``; counters are signed integers;
* each step tests every counter for zero exactly with ReLUs, z = relu(1 - relu(c) - relu(-c))
  (1 at c = 0, 0 at every other integer);
* a ReLU AND per configuration (control state q, zero pattern Z) gives the one-hot vector g
  of the configuration, g_{q,Z} = relu(h_q + sum_i [Z_i ? z_i : 1 - z_i] - k);
* the symbol x_t picks three tables (lookups, linear in the symbol's one-hot bits): the next
  control state T_x g, the increments U_x g in {-1, 0, +1} and the keep bits K_x g (0 where the
  move resets the counter, the paper's "x0" update); the counters become c * (K_x g) + U_x g,
  the selector multiplying a counter by a bit;
* moves the machine does not define go to an absorbing sink that never accepts (the sink fix:
  without it an undefined move would zero the control state and the machine's later moves and
  acceptance would read an all-zero state).

The readout is +1 when the configuration after x_1..x_t is accepting and -1 otherwise.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Iterable, Mapping

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.functions import concat, lookup, relu
from rnncirc.frontend.model import rnn
from rnncirc.frontend.program import Program, program, scan

#: what a counter update may be: add -1, 0 or +1, or reset the counter to 0
UPDATES = (-1, 0, 1, "reset")


def from_counter_machine(delta, start, accepting, *, counters: int, alphabet: int,
                         name: str | None = None) -> Program:
    """A one-layer ReLU RNN program that runs a real-time counter machine.

    Parameters
    ----------
    delta : the moves: a callable ``delta(q, a, zeros) -> (q2, updates)`` or a dict
        ``{(q, a, zeros): (q2, updates)}``; ``zeros`` is a tuple of bools (counter i is 0),
        ``updates`` a tuple with one of ``-1, 0, +1, "reset"`` per counter. A missing key, or
        None from the callable, is no move: the machine rejects from then on.
    start : the start state (counters start at 0). States are any hashable values.
    accepting : a callable ``accepting(q, zeros) -> bool``, or the accepting states.
    counters : the number of counters k.
    alphabet : the number of symbols (``0..alphabet-1``).
    name : the program's name (default ``"counter_machine"``).

    Returns
    -------
    A `Program` over the alphabet whose output at position t (shape ``(1,)``) is +1 when the
    machine accepts x_1..x_t and -1 otherwise.

    Examples
    --------
    Balanced words over {a, b} (as many a's as b's), one counter:

    >>> import numpy as np, rnncirc as rc
    >>> balanced = rc.from_counter_machine(
    ...     lambda q, a, zeros: (q, (1,) if a == 0 else (-1,)), "q", lambda q, zeros: zeros[0],
    ...     counters=1, alphabet=2)
    >>> balanced.run(np.array([0, 1, 1, 0, 0])).ravel().tolist()
    [-1.0, 1.0, -1.0, 1.0, -1.0]
    >>> rc.classify(balanced).kind
    'nonlinear'
    """
    k = _count(counters, "counters")
    symbols = _count(alphabet, "alphabet")
    moves = _moves(delta, start, k, symbols)
    states = list(dict.fromkeys([start, *(q for q, _ in moves), *(q2 for q2, _ in
                                                                  moves.values())]))
    sink = len(states)  # the last one-hot slot
    patterns = list(itertools.product((False, True), repeat=k))
    configs = [(q, z) for q in range(sink + 1) for z in patterns]
    tables = _tables(moves, states, patterns, configs, symbols, k)
    accept = np.array([q < sink and _accepts(accepting, states[q], z) for q, z in configs],
                      dtype=np.float64)
    pick_state, zero_sign, bias = _and_gates(configs, sink + 1, k)
    label = name or "counter_machine"

    def configuration(h):
        """One-hot configuration (control state, zero pattern) of the state h."""
        c = h[sink + 1:]
        zero = relu(1.0 - relu(c) - relu(-c))
        return relu(pick_state @ h[:sink + 1] + zero_sign @ zero + bias)

    @rnn(state=sink + 1 + k, alphabet=symbols, init=np.eye(sink + 1 + k)[0],
         name=f"{label}_step")
    def step(h, x):
        g = configuration(h)
        control = lookup(tables["next"], x) @ g
        keep = lookup(tables["keep"], x) @ g
        add = lookup(tables["add"], x) @ g
        return concat([control, h[sink + 1:] * keep + add])

    @program(alphabet=symbols, name=label)
    def machine(x):
        return (2.0 * (accept @ configuration(scan(step, x))) - 1.0).reshape(1)

    return machine


def _count(value, what: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise OptionError(f"rc.from_counter_machine: {what} must be an int >= 1, got {value!r}")
    return int(value)


def _moves(delta, start, k: int, symbols: int) -> dict:
    """``{(q, (a, zeros)): (q2, updates)}`` over the configurations reachable from start."""
    if isinstance(delta, Mapping):
        def lookup_move(q, a, z):
            return delta.get((q, a, z))
    elif callable(delta):
        lookup_move = delta
    else:
        raise OptionError("rc.from_counter_machine: delta must be a callable "
                          "delta(q, a, zeros) -> (q2, updates) or a dict of such moves")
    moves, todo, seen = {}, [start], {start}
    patterns = list(itertools.product((False, True), repeat=k))
    while todo:  # the states reachable from start, whatever the counters
        q = todo.pop()
        for a, z in itertools.product(range(symbols), patterns):
            move = lookup_move(q, a, z)
            if move is None:
                continue
            q2, updates = _check_move(q, a, z, move, k)
            moves[(q, (a, z))] = (q2, updates)
            if q2 not in seen:
                seen.add(q2)
                todo.append(q2)
    return moves


def _check_move(q, a, z, move, k: int):
    try:
        q2, updates = move
        updates = tuple(updates)
    except (TypeError, ValueError):
        raise OptionError(f"rc.from_counter_machine: the move from {(q, a, z)!r} must be "
                          f"(next state, updates), got {move!r}") from None
    if len(updates) != k or any(u not in UPDATES or isinstance(u, bool) for u in updates):
        raise OptionError(f"rc.from_counter_machine: the move from {(q, a, z)!r} has updates "
                          f"{updates!r}; give one of -1, 0, +1, 'reset' for each of the {k} "
                          "counters")
    return q2, updates


def _accepts(accepting, q, z) -> bool:
    if callable(accepting):
        return bool(accepting(q, z))
    if isinstance(accepting, Iterable) and not isinstance(accepting, str):
        return q in set(accepting)
    raise OptionError("rc.from_counter_machine: accepting must be a callable "
                      "accepting(q, zeros) -> bool or an iterable of states")


def _tables(moves: dict, states: list, patterns: list, configs: list, symbols: int,
            k: int) -> dict[str, np.ndarray]:
    """Per symbol, the next control state, keep bits and increments of each configuration."""
    index = {s: i for i, s in enumerate(states)}
    sink = len(states)
    tables = {"next": np.zeros((symbols, sink + 1, len(configs))),
              "keep": np.ones((symbols, k, len(configs))),
              "add": np.zeros((symbols, k, len(configs)))}
    for col, (q, z) in enumerate(configs):
        for a in range(symbols):
            move = moves.get((states[q], (a, z))) if q < sink else None
            if move is None:
                tables["next"][a, sink, col] = 1.0
                continue
            q2, updates = move
            tables["next"][a, index[q2], col] = 1.0
            for i, u in enumerate(updates):
                if u == "reset":
                    tables["keep"][a, i, col] = 0.0
                else:
                    tables["add"][a, i, col] = float(u)
    return tables


def _and_gates(configs: list, slots: int, k: int):
    """The ReLU AND of each configuration: weights on the control one-hot and on the zero
    bits, and the bias, so that the sum is 1 exactly on the configuration and <= 0 off it."""
    pick_state = np.zeros((len(configs), slots))
    zero_sign = np.zeros((len(configs), k))
    bias = np.zeros(len(configs))
    for row, (q, z) in enumerate(configs):
        pick_state[row, q] = 1.0
        zero_sign[row] = np.where(z, 1.0, -1.0)
        bias[row] = float(np.count_nonzero(~np.asarray(z, dtype=bool))) - k
    return pick_state, zero_sign, bias

