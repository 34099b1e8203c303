"""Time-invariant diagonal SSM: LRU (Orvieto et al. 2023, "Resurrecting recurrent neural
networks for long sequences", arXiv 2303.06349) / S4D (Gu et al. 2022, "On the
parameterization and initialization of diagonal state space models", arXiv 2206.11893).

h_t = lambda * h_{t-1} + gamma * (B x_t), with lambda = exp(-exp(nu)) in (0, 1) fixed (it does
not depend on the input: "ungated") and LRU's normalisation gamma = sqrt(1 - lambda^2).
LRU and S4D use complex eigenvalues; rnncirc computes over the reals, where a complex
eigenvalue would be a 2x2 rotation block, so this is the real-eigenvalue variant (S4D-Real),
which keeps A diagonal: a diagonal LRNN (TC0, Merrill et al. 2024).
"""

import numpy as np

import rnncirc as rc

D, K = 16, 8
rng = np.random.default_rng(11)
nu = np.log(-np.log(rng.uniform(0.9, 0.999, size=D)))  # LRU's ring init (r_min, r_max)
lam = np.exp(-np.exp(nu))
gamma = np.sqrt(1 - lam**2)
B = rng.normal(size=(D, K)) / np.sqrt(2 * K)


@rc.rnn(state=D, inputs=K)
def lru(h, x):
    return lam * h + gamma * (B @ x)
