"""A 2-layer stacked LSTM with a linear readout: the classic deep RNN (Graves et al. 2013,
"Speech recognition with deep recurrent neural networks", arXiv 1303.5778).

Layer 1 reads the input x_t, layer 2 reads layer 1's hidden state h1_t, and the output is
y_t = W_out h2_t. Each LSTM keeps [h; c] as one state vector (see examples/lstm.py). Both
layers are nonlinear in their state, so each is unrolled: the program's depth grows linearly
in n, and the report names the layers on the critical path.
"""

import numpy as np

import rnncirc as rc

K, D, OUT = 4, 8, 2
rng = np.random.default_rng(21)


def lstm_weights(inputs: int):
    W = rng.normal(size=(4, D, inputs)) / np.sqrt(inputs)
    U = rng.normal(size=(4, D, D)) / np.sqrt(D)
    b = 0.1 * rng.normal(size=(4, D))
    b[1] += 1.0  # the usual forget-gate bias
    return W, U, b


W1, U1, B1 = lstm_weights(K)
W2, U2, B2 = lstm_weights(D)
W_OUT = rng.normal(size=(OUT, D)) / np.sqrt(D)


def lstm_step(state, x, W, U, b):
    h, c = state[:D], state[D:]
    pre = W @ x + U @ h + b  # (4, D): input, forget, output gates and the candidate
    i, f, o = rc.sigmoid(pre[0]), rc.sigmoid(pre[1]), rc.sigmoid(pre[2])
    c_new = f * c + i * rc.tanh(pre[3])
    return rc.concat([o * rc.tanh(c_new), c_new])


@rc.rnn(state=2 * D, inputs=K)
def lstm1(state, x):
    return lstm_step(state, x, W1, U1, B1)


@rc.rnn(state=2 * D, inputs=D)
def lstm2(state, x):
    return lstm_step(state, x, W2, U2, B2)


@rc.program(inputs=K)
def stacked_lstm(x):
    h1 = rc.scan(lstm1, x)[:D]  # the hidden half of layer 1's state
    h2 = rc.scan(lstm2, h1)[:D]
    return W_OUT @ h2
