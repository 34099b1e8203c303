"""PD-SSM (Terzic et al. 2025, "Structured sparse transition matrices to enable state tracking
in state-space models", arXiv 2509.22284), over a finite alphabet.

h_t = P(x_t) D(x_t) h_{t-1} + b(x_t): each symbol selects a permutation P (a one-hot column
matrix) and a diagonal D. Products of PD matrices stay PD, so the prefix combines stay cheap:
the permutation-diagonal kind, NC1-complete (Merrill et al. 2026, Thm. 7 and 8).
"""

import numpy as np

import rnncirc as rc

D, SYMBOLS = 8, 4
rng = np.random.default_rng(18)
PERMS = np.array([np.eye(D)[rng.permutation(D)] for _ in range(SYMBOLS)])  # P[s] @ h permutes
DIAG = rng.uniform(0.5, 1.0, size=(SYMBOLS, D))
OFFSET = rng.normal(size=(SYMBOLS, D))


@rc.rnn(state=D, alphabet=SYMBOLS)
def pd_ssm(h, x):
    return rc.lookup(PERMS, x) @ (rc.lookup(DIAG, x) * h) + rc.lookup(OFFSET, x)
