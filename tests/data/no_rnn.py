"""A valid Python file that defines no RNN."""

import numpy as np

W = np.eye(3)


def step(h, x):
    return W @ h + x
