"""Linear attention as an RNN (Katharopoulos et al. 2020, "Transformers are RNNs").

The state is a matrix S in R^{dk x dv}: S_t = S_{t-1} + phi(k_t) v_t^T with phi = elu + 1,
here written as 1 + silu-free form relu(k) + exp(min(k, 0)) (equal to elu(k) + 1).
A = I: the scalar kind, the simplest LRNN.
"""

import numpy as np

import rnncirc as rc

DK, DV, K = 8, 8, 8
rng = np.random.default_rng(4)
Wk = rng.normal(size=(DK, K)) / np.sqrt(K)
Wv = rng.normal(size=(DV, K)) / np.sqrt(K)


@rc.rnn(state=(DK, DV), inputs=K)
def linear_attention(S, x):
    k = Wk @ x
    phi = rc.relu(k) + rc.exp(rc.minimum(k, 0.0))  # elu(k) + 1
    return S + rc.outer(phi, Wv @ x)
