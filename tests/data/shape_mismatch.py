import numpy as np

import rnncirc as rc

W = np.ones((4, 3))


@rc.rnn(state=5, inputs=2)
def mismatch(h, x):
    return W @ h
