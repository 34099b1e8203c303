"""Gated linear attention, GLA (Yang et al. 2024, "Gated linear attention transformers with
hardware-efficient training", arXiv 2312.06635).

S_t = diag(alpha_t) S_{t-1} + k_t^T v_t with the key-side gate
alpha_t = sigmoid(W_a x_t + b_a)^(1/tau), tau = 16, written as exp(-softplus(-z) / tau).
A diagonal, input-dependent transition on a matrix state: the diagonal kind (TC0).
"""

import numpy as np

import rnncirc as rc

DK, DV, K = 8, 8, 8
TAU = 16.0
rng = np.random.default_rng(14)
W_a = rng.normal(size=(DK, K)) / np.sqrt(K)
b_a = rng.normal(size=DK) + 2.0
W_K = rng.normal(size=(DK, K)) / np.sqrt(K)
W_V = rng.normal(size=(DV, K)) / np.sqrt(K)


@rc.rnn(state=(DK, DV), inputs=K)
def gla(S, x):
    alpha = rc.exp(-rc.softplus(-(W_a @ x + b_a)) / TAU)  # sigmoid(z) ** (1 / TAU)
    return alpha[:, None] * S + rc.outer(W_K @ x, W_V @ x)
