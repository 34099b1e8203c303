"""`rc.from_dfa` and `rc.from_wfa`: automata as one-layer linear RNN programs (Thm 8).

Where this sits: the front end, beside `program`. Each function builds an ordinary
`rc.program` of one `rc.scan` layer and a readout, so everything downstream (classification,
lowering to a prefix circuit, evaluation, boolean lowering) treats it as any other program.

The construction (Merrill et al. 2026, Thm 8, App. E.2; Terzic et al. 2025):

* the state is the one-hot vector of the automaton's state, h_0 = e_start;
* symbol a applies the column one-hot matrix M_a with ``M_a[delta(q, a), q] = 1``, so
  h_t = M_{x_t} h_{t-1} = e_{delta(q, x_t)}. A permutation move is a permutation matrix; a
  move that merges states is still one nonzero per column, a product of such matrices is
  again one (the permutation-diagonal kind's "DFA columns"); a move the table leaves out
  (a partial DFA) is a zero column, which zeroes the state: the word is rejected from then on;
* the readout is w . h_t with w = +1 on accepting states and -1 elsewhere: positive exactly
  when the prefix x_1..x_t is accepted, -1 when it is not, 0 once a missing move was taken
  (the paper's acceptance, Def. 9: accept iff o^T y_n > 0).

A weighted automaton (alpha, {M_a}, omega) computes f(w) = alpha^T M_{w_1} ... M_{w_n} omega;
its layer is h_t = M_{x_t}^T h_{t-1} with h_0 = alpha and the linear readout omega . h_t. A
deterministic one (one nonzero per row of every M_a) classifies as permutation-diagonal.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from fractions import Fraction

import numpy as np

from rnncirc.errors import OptionError
from rnncirc.frontend.functions import lookup
from rnncirc.frontend.model import rnn
from rnncirc.frontend.program import Program, program, scan
from rnncirc.ir.rational import EXACT_INTEGER, has_fraction


def from_dfa(delta, start, accepting: Iterable, *, name: str | None = None) -> Program:
    """A one-layer permutation-diagonal program that accepts exactly a DFA's language.

    Parameters
    ----------
    delta : the transition function, one of
        * a table: ``delta[q][a]`` is the state after reading symbol a in state q (a list of
          lists, or an int array of shape ``(states, alphabet)``); ``-1`` or ``None`` marks
          a missing move (the word is rejected);
        * a dict ``{(q, a): q2}``;
        * a networkx (Multi)DiGraph with an edge q -> q2 for each move, its symbol (or a
          list of symbols) in the edge attribute ``symbol`` (or ``label``).
        Symbols are ``0..k-1``; states of a dict or graph may be any hashable values.
    start : the start state.
    accepting : the accepting states.
    name : the program's name (default ``"dfa"``).

    Returns
    -------
    A `Program` over the alphabet whose output at position t (shape ``(1,)``) is positive
    exactly when the DFA accepts x_1..x_t, and <= 0 otherwise. Its layer classifies as
    permutation-diagonal, or as a special case of it (every move the identity: scalar).

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> parity = rc.from_dfa([[0, 1], [1, 0]], start=0, accepting=[1])  # odd number of 1s
    >>> parity.run(np.array([1, 0, 1, 1])).ravel().tolist()
    [1.0, 1.0, -1.0, 1.0]
    >>> rc.classify(parity).kind
    'permutation-diagonal'
    """
    table, states = _transition_table(delta, start)
    n_states, n_symbols = table.shape
    index = {s: i for i, s in enumerate(states)}
    accept = _states_in(accepting, index, "accepting")
    moves = np.zeros((n_symbols, n_states, n_states))
    q, a = np.nonzero(table >= 0)
    moves[a, table[q, a], q] = 1.0
    sign = np.where(np.isin(np.arange(n_states), accept), 1.0, -1.0)
    label = name or "dfa"

    @rnn(state=n_states, alphabet=n_symbols, init=np.eye(n_states)[index[start]],
         name=f"{label}_states")
    def transitions(h, x):
        return lookup(moves, x) @ h

    @program(alphabet=n_symbols, name=label)
    def dfa(x):
        return (sign @ scan(transitions, x)).reshape(1)

    return dfa


def from_wfa(initial, transitions, final, *, name: str | None = None) -> Program:
    """A one-layer linear program computing a weighted automaton's value on every prefix.

    f(w) = alpha^T M_{w_1} ... M_{w_t} omega over the reals, or exactly when weights are
    given as `fractions.Fraction` (see `Circuit.evaluate` with ``exact=True`` or
    ``modulus=p``). A deterministic WFA (one nonzero per row of every M_a) gives a
    permutation-diagonal layer; one state gives a diagonal (scalar) layer; others are dense.

    Parameters
    ----------
    initial : alpha, shape ``(states,)``.
    transitions : the matrices M_a, shape ``(alphabet, states, states)`` (or a list of them);
        ``M_a[q, q2]`` is the weight of the move q -> q2 on symbol a.
    final : omega, shape ``(states,)``.
    name : the program's name (default ``"wfa"``).

    Returns
    -------
    A `Program` over the alphabet whose output at position t (shape ``(1,)``) is
    f(x_1..x_t).

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> halves = rc.from_wfa([1.0], [[[0.5]], [[1.0]]], [1.0])  # 2^-(number of 0s)
    >>> halves.run(np.array([0, 1, 0])).ravel().tolist()
    [0.5, 0.5, 0.25]
    >>> rc.classify(halves).kind
    'scalar'
    """
    exact = any(has_fraction(v) for v in (initial, transitions, final))
    kind = object if exact else np.float64
    try:
        alpha, omega, moves = (np.array(v, dtype=kind) for v in (initial, final, transitions))
    except (TypeError, ValueError) as err:
        raise OptionError(f"rc.from_wfa: the weights must be numbers: {err}") from None
    if alpha.ndim != 1 or omega.shape != alpha.shape or moves.ndim != 3 or \
            moves.shape[1:] != (len(alpha), len(alpha)) or not len(moves):
        raise OptionError(
            f"rc.from_wfa: initial and final must be vectors of the states' length and "
            f"transitions an array (alphabet, states, states); got initial {alpha.shape}, "
            f"final {omega.shape}, transitions {moves.shape}")
    scale = 1
    if exact:  # h_0 is stored as floats: start from integers, divide in the readout
        alpha = np.array([Fraction(v) for v in alpha], dtype=object)
        scale = math.lcm(*(v.denominator for v in alpha))
        if scale * max(abs(v) for v in alpha) >= EXACT_INTEGER:
            raise OptionError("rc.from_wfa: the initial weights' common denominator is too "
                              "large to scale them to integers below 2^53; give them as "
                              "Fractions with small denominators")
        omega = omega / Fraction(scale)
        alpha = alpha * scale
    label = name or "wfa"
    steps = np.transpose(moves, (0, 2, 1))  # column state: h_t = M_a^T h_{t-1}

    @rnn(state=len(alpha), alphabet=len(moves), init=alpha.astype(np.float64),
         name=f"{label}_weights")
    def weights(h, x):
        return lookup(steps, x) @ h

    @program(alphabet=len(moves), name=label)
    def wfa(x):
        return (scan(weights, x) @ omega).reshape(1)

    return wfa


# -- reading the transition function ------------------------------------------------------------
def _transition_table(delta, start) -> tuple[np.ndarray, list]:
    """``(table, states)``: table[i, a] the index of the next state (-1: no move)."""
    if _is_graph(delta):
        moves = {}
        for q, q2, data in delta.edges(data=True):
            symbols = data.get("symbol", data.get("label"))
            if symbols is None:
                raise OptionError(f"rc.from_dfa: the edge {q!r} -> {q2!r} has no 'symbol' "
                                  "attribute; label every edge with its symbol (or symbols)")
            for a in (symbols if isinstance(symbols, (list, tuple, set, frozenset))
                      else [symbols]):
                if moves.setdefault((q, a), q2) != q2:
                    raise OptionError(f"rc.from_dfa: state {q!r} has two moves on symbol "
                                      f"{a!r}; a DFA has one")
        return _from_moves(moves, [start, *delta.nodes])
    if isinstance(delta, Mapping):
        return _from_moves(delta, [start])
    try:
        rows = [[-1 if v is None else v for v in row] for row in delta]
        table = np.asarray(rows)
    except (TypeError, ValueError):
        table = np.asarray([], dtype=object)
    if table.ndim != 2 or not table.size or not np.issubdtype(table.dtype, np.integer):
        raise OptionError("rc.from_dfa: delta must be a table delta[q][a] of state numbers "
                          "(states x alphabet), a dict {(q, a): q2} or a networkx graph with "
                          "symbol-labelled edges")
    if table.min() < -1 or table.max() >= len(table):
        raise OptionError(f"rc.from_dfa: delta holds the state {int(table.max())}, but the "
                          f"table has {len(table)} states (rows); states are 0..{len(table) - 1}"
                          " (-1 or None: no move)")
    states = list(range(len(table)))
    _states_in([start], dict(zip(states, states, strict=True)), "start")
    return table.astype(np.int64), states


def _from_moves(moves: Mapping, first: list) -> tuple[np.ndarray, list]:
    states = list(dict.fromkeys(first + [s for (q, _), q2 in moves.items() for s in (q, q2)]))
    index = {s: i for i, s in enumerate(states)}
    symbols = [a for _, a in moves]
    bad = [a for a in symbols if not isinstance(a, numbers.Integral) or a < 0]
    if bad or not symbols:
        raise OptionError(f"rc.from_dfa: symbols must be integers 0..k-1, got {bad[0]!r}"
                          if bad else "rc.from_dfa: the DFA has no moves")
    table = np.full((len(states), max(symbols) + 1), -1, dtype=np.int64)
    for (q, a), q2 in moves.items():
        table[index[q], a] = index[q2]
    return table, states


def _states_in(values: Iterable, index: dict, what: str) -> np.ndarray:
    try:
        found = [index[v] for v in values]
    except KeyError as err:
        raise OptionError(f"rc.from_dfa: the {what} state {err.args[0]!r} is not a state "
                          f"of the DFA (states: {list(index)[:8]}...)") from None
    except TypeError:
        raise OptionError(f"rc.from_dfa: {what} must be an iterable of states") from None
    return np.asarray(found, dtype=np.int64)


def _is_graph(value) -> bool:
    return hasattr(value, "edges") and hasattr(value, "nodes") and callable(value.edges)
