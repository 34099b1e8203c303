"""RetNet's recurrent retention (Sun et al. 2023, "Retentive network", arXiv 2307.08621).

S_t = gamma S_{t-1} + k_t^T v_t with k_t = W_K x_t, v_t = W_V x_t and a fixed decay gamma per
head (here head 0 of RetNet's schedule, gamma = 1 - 2^-5). A = gamma I, constant: the scalar
kind (TC0).
"""

import numpy as np

import rnncirc as rc

DK, DV, K = 8, 8, 8
rng = np.random.default_rng(13)
GAMMA = 1 - 2.0**-5
W_K = rng.normal(size=(DK, K)) / np.sqrt(K)
W_V = rng.normal(size=(DV, K)) / np.sqrt(K)


@rc.rnn(state=(DK, DV), inputs=K)
def retnet(S, x):
    return GAMMA * S + rc.outer(W_K @ x, W_V @ x)
