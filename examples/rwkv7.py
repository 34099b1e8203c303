"""RWKV-7 "Goose" (Peng et al. 2025, "RWKV-7 Goose with expressive dynamic state evolution",
arXiv 2503.14456): the generalised delta rule of one head.

S_t = S_{t-1} (diag(w_t) - kappa_t^T (a_t * kappa_t)) + v_t^T k~_t with S in R^{dv x dk}:
decay w_t = exp(-e^{-1/2} sigmoid(W_w x_t)) per key channel, in-context learning rate
a_t = sigmoid(W_a x_t), removal key kappa_t = normalised W_k x_t, replacement key
k~_t = k_t * (1 + (a_t - 1) xi). Diagonal minus rank one: DPLR (PNC1; Merrill et al. 2026,
Def. 5 and Thm. 5).
"""

import numpy as np

import rnncirc as rc

DK, DV, K = 4, 8, 8
rng = np.random.default_rng(17)
W_w = rng.normal(size=(DK, K)) / np.sqrt(K)
W_a = rng.normal(size=(DK, K)) / np.sqrt(K)
W_k = rng.normal(size=(DK, K)) / np.sqrt(K)
W_v = rng.normal(size=(DV, K)) / np.sqrt(K)
xi = rng.uniform(0.0, 1.0, size=DK)


@rc.rnn(state=(DV, DK), inputs=K)
def rwkv7(S, x):
    w = rc.exp(-np.exp(-0.5) * rc.sigmoid(W_w @ x))
    a = rc.sigmoid(W_a @ x)
    k = W_k @ x
    kappa = k / rc.sqrt((k * k).sum() + 1e-6)
    k_new = k * (1 + (a - 1) * xi)
    return S * w - rc.outer(S @ kappa, a * kappa) + rc.outer(W_v @ x, k_new)
