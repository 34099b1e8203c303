"""Mamba-2 (Dao and Gu 2024, "Transformers are SSMs", arXiv 2405.21060): the SSD layer.

One head with a matrix state S in R^{N x P}: dt = softplus(w_dt . x + b_dt), a = exp(-dt * A)
(one scalar per step), S_t = a_t S_{t-1} + B_t (dt * X_t)^T with B_t = W_B x_t, X_t = W_X x_t.
The transition is a scalar times the identity: the scalar kind (TC0), the cheapest combine.
"""

import numpy as np

import rnncirc as rc

N, P, K = 8, 8, 8
rng = np.random.default_rng(12)
A = 0.5  # per-head decay rate (positive)
w_dt = rng.normal(size=K) / np.sqrt(K)
b_dt = -1.0
W_B = rng.normal(size=(N, K)) / np.sqrt(K)
W_X = rng.normal(size=(P, K)) / np.sqrt(K)


@rc.rnn(state=(N, P), inputs=K)
def mamba2(S, x):
    dt = rc.softplus(w_dt @ x + b_dt)
    a = rc.exp(-dt * A)
    return a * S + rc.outer(W_B @ x, dt * (W_X @ x))
