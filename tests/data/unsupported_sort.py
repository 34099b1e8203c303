import numpy as np

import rnncirc as rc


@rc.rnn(state=3, inputs=3)
def sorts(h, x):
    return np.sort(h + x)
