import rnncirc as rc


@rc.rnn(state=3, inputs=3)
def int_cast(h, x):
    k = int(h[0])
    return h * k + x
