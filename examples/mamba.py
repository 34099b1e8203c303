"""Selective diagonal state-space model, Mamba/S6-style (Gu and Dao 2023, arXiv 2312.00752).

delta = softplus(w_delta x + b_delta) per channel, a = exp(-delta * A), and
h' = a * h + delta * (B x): the transition is diagonal and depends on the input only, so the
step is linear in the state (a diagonal LRNN, in TC0).
"""

import numpy as np

import rnncirc as rc

D, K = 16, 4
rng = np.random.default_rng(3)
A = np.exp(rng.normal(size=D))  # positive decay rates
W_delta = rng.normal(size=(D, K)) / np.sqrt(K)
b_delta = rng.normal(size=D) - 1.0
B = rng.normal(size=(D, K)) / np.sqrt(K)


@rc.rnn(state=D, inputs=K)
def mamba(h, x):
    delta = rc.softplus(W_delta @ x + b_delta)
    a = rc.exp(-delta * A)
    return a * h + delta * (B @ x)
