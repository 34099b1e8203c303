import rnncirc as rc


@rc.rnn(state=2, inputs=2)
def pair(h, x):
    return h + x, h
