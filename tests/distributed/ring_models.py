"""Small linear models of every kind whose gates are all ring operations (add, sub, mul,
neg), so that their circuits evaluate exactly modulo p; and a 2-layer program of them."""

from __future__ import annotations

import numpy as np

import rnncirc as rc

from ..models import symbol_permutation

_rng = np.random.default_rng(3)
K = 2
W1, W2, W3 = (_rng.normal(size=(4, K)) * 0.5 for _ in range(3))
PERM = [2, 0, 3, 1]


@rc.rnn(state=4, inputs=K, init=np.array([1.0, -2.0, 0.5, 3.0]))
def ring_diagonal(h, x):
    return (W1 @ x) * h + W2 @ x


@rc.rnn(state=4, inputs=K, init=np.array([1.0, 0.0, 0.0, 0.0]))
def ring_permutation(h, x):
    return (W1 @ x) * h[PERM] + W2 @ x


#: one nonzero per column: states 0 and 1 both move to 0 (a reset), 2 to 3, 3 to 1
MERGE = np.eye(4)[[0, 0, 3, 1]].T


@rc.rnn(state=4, inputs=K, init=np.array([1.0, 2.0, -1.0, 0.5]))
def ring_merge(h, x):
    return MERGE @ ((W1 @ x) * h) + W2 @ x


@rc.rnn(state=4, inputs=K)
def ring_dplr(h, x):
    k = W1 @ x
    return h - (W3[0] @ x) * k * (k @ h) + W2 @ x


@rc.rnn(state=3, inputs=K)
def ring_dense(h, x):
    A = np.ones((3, 3, K)) * 0.25 @ x + np.arange(9.0).reshape(3, 3) / 9
    return A @ h + W2[:3] @ x


@rc.rnn(state=4, inputs=4)
def ring_dense_4(h, u):
    return (np.ones((4, 4, 4)) * 0.1 @ u) @ h + u


@rc.program(inputs=K)
def ring_program(x):
    h = rc.scan(ring_diagonal, x)
    u = h * h[PERM] + 2 * h
    return rc.scan(ring_dense_4, u)[:3] + rc.shift(h)[:3]


DECAYS = _rng.normal(size=(3, 4)).round(2)


@rc.rnn(state=4, alphabet=3, init=np.array([1.0, 2.0, 0.0, -1.0]))
def ring_symbol_diagonal(h, x):
    return rc.lookup(DECAYS, x) * h + rc.lookup(DECAYS[::-1] - 1, x)


@rc.program(inputs=K)
def ring_backward(x):
    back = rc.scan(ring_permutation, x, reverse=True)
    late = rc.shift(back, 5, fill=np.array([1.0, 2.0, 3.0, 4.0]))  # across several chunks
    return rc.scan(ring_merge, back[:2] * late[2:] + x) - 3 * late


@rc.program(alphabet=3)
def ring_symbols(x):
    h = rc.scan(symbol_permutation, x)
    return h * h + rc.shift(h, 1) + rc.lookup(np.arange(12.0).reshape(3, 4), x)


RING = {"diagonal": ring_diagonal, "permutation": ring_permutation, "merge": ring_merge,
        "dplr": ring_dplr, "symbols": symbol_permutation, "symbol_diagonal": ring_symbol_diagonal,
        "dense": ring_dense}
