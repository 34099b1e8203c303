import rnncirc as rc


@rc.rnn(state=2, inputs=1)
def broken(h, x)
    return h + x
