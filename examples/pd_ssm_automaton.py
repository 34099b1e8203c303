"""A PD-SSM layer that runs an automaton, with a sign readout that accepts or rejects
(Terzic et al. 2025, arXiv 2509.22284; the paper's Thm. 8: a DFA is one permutation-diagonal
layer).

The automaton reads words over {a, b, c} and accepts when (#a - #b) mod 3 == 0: its state is
one-hot over Z_3, 'a' rotates it forward, 'b' backward, 'c' keeps it. The readout is
y_t = +1 if the prefix x_1..x_t is accepted, else -1: the sign of w . h_t with w = +1 on
the accepting state and -1 elsewhere, taken by a comparison gate.
"""

import numpy as np

import rnncirc as rc

STATES, SYMBOLS = 3, 3
FORWARD = np.roll(np.eye(STATES), 1, axis=0)  # column j -> row j + 1: state j moves to j + 1
PERMS = np.array([FORWARD, FORWARD.T, np.eye(STATES)])  # a, b, c
START = np.eye(STATES)[0]
ACCEPTING = np.array([1.0, -1.0, -1.0])  # + on the accepting state 0


@rc.rnn(state=STATES, alphabet=SYMBOLS, init=START)
def mod3_counter(h, symbol):
    return rc.lookup(PERMS, symbol) @ h


@rc.program(alphabet=SYMBOLS)
def mod3_acceptor(x):
    h = rc.scan(mod3_counter, x)
    return rc.where(ACCEPTING @ h > 0, 1.0, -1.0).reshape(1)
