import rnncirc as rc


@rc.rnn(state=2, inputs=2)
def typo(h, x):
    return h + undefined_weight @ x  # noqa: F821
