"""DeltaNet (Schlag et al. 2021, "Linear transformers are secretly fast weight programmers";
Yang et al. 2024, "Parallelizing linear transformers with the delta rule", arXiv 2406.06484).

S_t = S_{t-1} (I - beta_t k_t k_t^T) + beta_t v_t k_t^T, with S in R^{dv x dk}, k_t = W_K x_t
normalised to unit length, v_t = W_V x_t and beta_t = sigmoid(w_b . x_t). The transition is
identity minus rank one: diagonal plus low rank, DPLR (PNC1; Merrill et al. 2026, Thm. 5).
"""

import numpy as np

import rnncirc as rc

DK, DV, K = 4, 8, 8
rng = np.random.default_rng(15)
W_K = rng.normal(size=(DK, K)) / np.sqrt(K)
W_V = rng.normal(size=(DV, K)) / np.sqrt(K)
w_b = rng.normal(size=K) / np.sqrt(K)


@rc.rnn(state=(DV, DK), inputs=K)
def deltanet(S, x):
    k = W_K @ x
    k = k / rc.sqrt((k * k).sum() + 1e-6)
    beta = rc.sigmoid(w_b @ x)
    return S - beta * rc.outer(S @ k, k) + beta * rc.outer(W_V @ x, k)
