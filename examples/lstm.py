"""LSTM (Hochreiter and Schmidhuber 1997), with forget gate (Gers et al. 2000).

The state is [h; c] as one vector of size 2D. i, f, o = sigmoid(W x + U h + b),
g = tanh(Wg x + Ug h + bg), c' = f * c + i * g, h' = o * tanh(c').
"""

import numpy as np

import rnncirc as rc

D, K = 32, 8
rng = np.random.default_rng(2)
W = rng.normal(size=(4, D, K)) / np.sqrt(K)
U = rng.normal(size=(4, D, D)) / np.sqrt(D)
b = 0.1 * rng.normal(size=(4, D))
b[1] += 1.0  # the usual forget-gate bias


@rc.rnn(state=2 * D, inputs=K)
def lstm(state, x):
    h, c = state[:D], state[D:]
    pre = W @ x + U @ h + b  # (4, D): stacked matmul, one row per gate
    i, f, o = rc.sigmoid(pre[0]), rc.sigmoid(pre[1]), rc.sigmoid(pre[2])
    g = rc.tanh(pre[3])
    c_new = f * c + i * g
    return rc.concat([o * rc.tanh(c_new), c_new])
