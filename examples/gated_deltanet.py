"""Gated DeltaNet (Yang, Kautz and Hatamizadeh 2025, "Gated delta networks: improving Mamba2
with delta rule", arXiv 2412.06464).

S_t = S_{t-1} (alpha_t (I - beta_t k_t k_t^T)) + beta_t v_t k_t^T: DeltaNet's update with a
Mamba-2 style scalar decay alpha_t = exp(-softplus(w_a . x_t + b_a)). The transition is a
scalar times the identity minus rank one: DPLR (PNC1).
"""

import numpy as np

import rnncirc as rc

DK, DV, K = 4, 8, 8
rng = np.random.default_rng(16)
W_K = rng.normal(size=(DK, K)) / np.sqrt(K)
W_V = rng.normal(size=(DV, K)) / np.sqrt(K)
w_b = rng.normal(size=K) / np.sqrt(K)
w_a = rng.normal(size=K) / np.sqrt(K)
b_a = -2.0


@rc.rnn(state=(DV, DK), inputs=K)
def gated_deltanet(S, x):
    k = W_K @ x
    k = k / rc.sqrt((k * k).sum() + 1e-6)
    beta = rc.sigmoid(w_b @ x)
    alpha = rc.exp(-rc.softplus(w_a @ x + b_a))
    return alpha * (S - beta * rc.outer(S @ k, k)) + beta * rc.outer(W_V @ x, k)
