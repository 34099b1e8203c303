import rnncirc as rc


@rc.rnn(state=2, inputs=2)
def branchy(h, x):
    if h[0] > 0:
        return h + x
    return h - x
