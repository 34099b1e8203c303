import rnncirc as rc


@rc.rnn(state=2, inputs=2)
def bool_cast(h, x):
    flag = bool(x[0])
    return h + flag
