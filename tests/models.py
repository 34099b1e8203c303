"""Small linear models of every kind, shared by the classification and lowering tests."""

from __future__ import annotations

import numpy as np

import rnncirc as rc

K = 3
_rng = np.random.default_rng(7)
W1, W2, W3 = (_rng.normal(size=(4, K)) * 0.5 for _ in range(3))
Wv = _rng.normal(size=(3, K)) * 0.5
PERM_TABLE = np.array([np.eye(4), np.eye(4)[[1, 2, 3, 0]], np.eye(4)[[1, 0, 3, 2]] * 0.5])


@rc.rnn(state=4, inputs=K, init=np.array([0.5, -1.0, 0.0, 2.0]))
def scalar(h, x):
    return rc.sigmoid(W1[0] @ x) * h + W2 @ x


@rc.rnn(state=4, inputs=K)
def diagonal(h, x):
    return rc.exp(-rc.softplus(W1 @ x)) * h + W2 @ x


@rc.rnn(state=4, inputs=K, init=np.array([1.0, 0.0, 0.0, 0.0]))
def permutation(h, x):
    return rc.sigmoid(W1 @ x) * h[[2, 0, 3, 1]] + W2 @ x


@rc.rnn(state=4, alphabet=3, init=np.array([1.0, 0.0, 0.0, 0.0]))
def symbol_permutation(h, x):
    return rc.lookup(PERM_TABLE, x) @ h


@rc.rnn(state=4, inputs=K, init=np.array([0.1, 0.2, 0.3, 0.4]))
def dplr(h, x):
    k = W1 @ x
    k = k / rc.sqrt((k * k).sum() + 1.0)
    beta = rc.sigmoid(W3[0] @ x)
    return h - beta * k * (k @ h) + W2 @ x


@rc.rnn(state=(3, 4), inputs=K)
def deltanet(S, x):
    k = W1 @ x
    k = k / rc.sqrt((k * k).sum() + 1.0)
    beta = rc.sigmoid(W3[0] @ x)
    return S - beta * rc.outer(S @ k, k) + beta * rc.outer(Wv @ x, k)


@rc.rnn(state=4, inputs=K)
def dense(h, x):
    A = 0.4 * rc.tanh(np.ones((4, 4, K)) * 0.1 @ x + np.arange(16.0).reshape(4, 4) / 16)
    return A @ h + W2 @ x


@rc.rnn(state=(4, 3), inputs=K)
def gated_matrix(S, x):
    alpha = rc.sigmoid(W1 @ x)
    return alpha[:, None] * S + rc.outer(W1 @ x, Wv @ x)


# a constant A: every entry of every product of A's is a sum of constants only
W_CONST = _rng.normal(size=(4, 4)) * 0.4


@rc.rnn(state=4, inputs=K)
def constant_dense(h, x):
    return W_CONST @ h + W2 @ x


# x0 C + x1 S (C a 4-cycle, S a swap): structural zeros that fill in over several steps, so
# combines of equally long segments clipped at one bound differ in cost
CYCLE, SWAP = np.roll(np.eye(4), 1, axis=0), np.eye(4)[[1, 0, 2, 3]]


@rc.rnn(state=4, inputs=K)
def slow_fill_in(h, x):
    return x[0] * (CYCLE @ h) + x[1] * (SWAP @ h) + W2 @ x


# the plainest scalar recurrence, and three channels with h_0 != 0 (the segment-sum tests)
@rc.rnn(state=1, inputs=2)
def affine(h, x):
    return x[0] * h + x[1]


@rc.rnn(state=3, inputs=6, init=np.array([2.0, -1.0, 3.0]))
def channels(h, x):
    return x[:3] * h + x[3:]


@rc.rnn(state=4, inputs=K)
def nonlinear(h, x):
    return rc.tanh(h) * 0.5 + W2 @ x


LINEAR = {
    "scalar": (scalar, "scalar", None),
    "diagonal": (diagonal, "diagonal", None),
    "permutation": (permutation, "permutation-diagonal", None),
    "symbol_permutation": (symbol_permutation, "permutation-diagonal", None),
    "dplr": (dplr, "dplr", 1),
    "deltanet": (deltanet, "dplr", 1),
    "dense": (dense, "dense", None),
    "gated_matrix": (gated_matrix, "diagonal", None),
}

#: dense models whose constant entries the builder folds: the cost of a combine depends on
#: more than its segments' lengths (lowering and `measure` checks; the size of `slow_fill_in`
#: has no closed form in n)
CONSTANT_ENTRIES = {"constant_dense": constant_dense, "slow_fill_in": slow_fill_in}


def assert_circuits_equal_run(model, name: str, topologies, rtol: float,
                              lengths=(1, 2, 3, 5, 8)) -> None:
    """Every topology and both outputs at each length evaluate to `model.run`."""
    for n in lengths:
        xs = random_inputs(model, n, seed=n)
        want = model.run(xs)
        for topology in topologies:
            for outputs in ("all", "last"):
                got = rc.compile(model, n, topology=topology, outputs=outputs).evaluate(xs)
                np.testing.assert_allclose(got, want if outputs == "all" else want[:, -1],
                                           rtol=rtol, atol=1e-12,
                                           err_msg=f"{name} n={n} {topology} {outputs}")


def random_inputs(model, n: int, batch: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if model.alphabet:
        return rng.integers(0, model.alphabet, size=(batch, n))
    return rng.normal(size=(batch, n, model.input_size))
