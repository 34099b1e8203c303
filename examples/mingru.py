"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?", arXiv 2410.01201).

z_t = sigmoid(W_z x_t), h~_t = W_h x_t, h_t = (1 - z_t) * h_{t-1} + z_t * h~_t.
Dropping the GRU's dependence of the gates on h_{t-1} makes the step linear in the state with
a diagonal, input-dependent transition: a diagonal LRNN (TC0), built as a log-depth scan.
"""

import numpy as np

import rnncirc as rc

D, K = 16, 8
rng = np.random.default_rng(10)
W_z = rng.normal(size=(D, K)) / np.sqrt(K)
b_z = 0.1 * rng.normal(size=D)
W_h = rng.normal(size=(D, K)) / np.sqrt(K)


@rc.rnn(state=D, inputs=K)
def mingru(h, x):
    z = rc.sigmoid(W_z @ x + b_z)
    return (1 - z) * h + z * (W_h @ x)
