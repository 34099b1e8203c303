"""GRU (Cho et al. 2014, "Learning phrase representations using RNN encoder-decoder").

z = sigmoid(Wz x + Uz h + bz), r = sigmoid(Wr x + Ur h + br),
c = tanh(Wc x + r * (Uc h) + bc), h' = (1 - z) * c + z * h.
The gates read h_{t-1} through sigmoid and tanh: nonlinear in the state.
"""

import numpy as np

import rnncirc as rc

D, K = 32, 8
rng = np.random.default_rng(1)
Wz, Wr, Wc = (rng.normal(size=(D, K)) / np.sqrt(K) for _ in range(3))
Uz, Ur, Uc = (rng.normal(size=(D, D)) / np.sqrt(D) for _ in range(3))
bz, br, bc = (0.1 * rng.normal(size=D) for _ in range(3))


@rc.rnn(state=D, inputs=K)
def gru(h, x):
    z = rc.sigmoid(Wz @ x + Uz @ h + bz)
    r = rc.sigmoid(Wr @ x + Ur @ h + br)
    c = rc.tanh(Wc @ x + r * (Uc @ h) + bc)
    return (1 - z) * c + z * h
