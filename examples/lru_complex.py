"""LRU with complex eigenvalues (Orvieto et al. 2023, "Resurrecting recurrent neural networks
for long sequences", arXiv 2303.06349): h_t = lambda * h_{t-1} + gamma * (B x_t) over the
complex numbers, lambda = exp(-exp(nu) + i theta) fixed (ungated), gamma = sqrt(1 - |lambda|^2).

rnncirc computes over the reals: each complex state entry is a pair (re, im), and multiplying
by lambda = a + ib is the 2x2 rotation-scaling block [[a, -b], [b, a]] on that pair. A is
block-diagonal with such blocks, the kind "complex-diagonal" (TC0, like any diagonal LRNN,
Merrill et al. 2024); `--topology segment-sum` builds one d = 2 recurrence per block, 2 levels
per complex product, below the scan's 3 (`lru.py` is the real-eigenvalue variant).
"""

import numpy as np

import rnncirc as rc

UNITS, K = 8, 8  # complex state entries (16 reals), inputs
rng = np.random.default_rng(11)
radius = rng.uniform(0.9, 0.999, size=UNITS)  # LRU's ring init (r_min, r_max)
theta = rng.uniform(0, np.pi / 10, size=UNITS)  # phases (max_phase = pi / 10)
a, b = radius * np.cos(theta), radius * np.sin(theta)
gamma = np.sqrt(1 - radius**2)
B = rng.normal(size=(2 * UNITS, K)) / np.sqrt(2 * K)  # (re, im) rows of the complex B


@rc.rnn(state=2 * UNITS, inputs=K)
def lru_complex(h, x):
    re, im = h[0::2], h[1::2]
    u = B @ x
    new_re = a * re - b * im + gamma * u[0::2]
    new_im = b * re + a * im + gamma * u[1::2]
    return rc.stack([new_re, new_im], axis=1).reshape(-1)
