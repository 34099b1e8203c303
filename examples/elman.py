"""Elman RNN (Elman 1990, "Finding structure in time"): h_t = tanh(W h_{t-1} + U x_t + b).

The tanh on a value that depends on h_{t-1} makes the step nonlinear in the state, so the
circuit can only be unrolled: its depth grows linearly with n.
"""

import numpy as np

import rnncirc as rc

D, K = 64, 8
rng = np.random.default_rng(0)
W = rng.normal(size=(D, D)) / np.sqrt(D)
U = rng.normal(size=(D, K)) / np.sqrt(K)
b = 0.1 * rng.normal(size=D)


@rc.rnn(state=D, inputs=K)
def elman(h, x):
    return rc.tanh(W @ h + U @ x + b)
