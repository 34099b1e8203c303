"""Two valid RNNs in one file: `--model` must pick one."""

import numpy as np

import rnncirc as rc

D, K = 3, 2
rng = np.random.default_rng(1)
W = rng.normal(size=(D, D)) / 2
U = rng.normal(size=(D, K))


@rc.rnn(state=D, inputs=K)
def elman_small(h, x):
    return rc.tanh(W @ h + U @ x)


@rc.rnn(state=D, inputs=K, name="decay")
def decay_model(h, x):
    return 0.5 * h + U @ x
