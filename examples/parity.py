"""Parity automaton over the alphabet {0, 1}: the simplest state-tracking LRNN.

Parity is the standard state-tracking probe for linear RNNs (Grazzi et al. 2025, "Unlocking
state-tracking in linear RNNs through negative eigenvalues"; Merrill et al. 2026, §5).

The state is the one-hot vector of the parity so far; symbol 1 swaps the two entries
(a permutation matrix chosen by the input), symbol 0 keeps them. h_t = P(x_t) h_{t-1}.
"""

import numpy as np

import rnncirc as rc

TRANSITIONS = np.array([
    [[1.0, 0.0], [0.0, 1.0]],  # symbol 0: identity
    [[0.0, 1.0], [1.0, 0.0]],  # symbol 1: swap
])


@rc.rnn(state=2, alphabet=2, init=np.array([1.0, 0.0]))
def parity(h, x):
    return rc.lookup(TRANSITIONS, x) @ h
