"""Viterbi scores of a hidden Markov model (Viterbi 1967; Rabiner 1989, "A tutorial on hidden
Markov models", eq. 33a): the best log-probability of a state path ending in each state.

delta_t[i] = max_j (delta_{t-1}[j] + log T[j, i]) + log E[i, x_t], with delta_0 = log pi. The
step is not linear over the reals (a max of the state), but it is linear over the (max, +)
semiring: delta_t = W(x_t) (x) delta_{t-1} with W(x)[i, j] = log T[j, i] + log E[i, x], a
(max, +) matrix product, so prefix networks combine the steps in log depth with + and max
gates (an entry of a product: 8 additions and a max-tree of depth 3). rnncirc classifies it as
max-plus; the paper's classes are for recurrences over Q and do not place it, and with
entries 0 and -inf it is the iterated Boolean matrix product, NC1-complete for 5 states and
more (Barrington 1989), so it is not in TC0 unless TC0 = NC1.
"""

import numpy as np

import rnncirc as rc

STATES, SYMBOLS = 8, 4
rng = np.random.default_rng(1967)
LOG_T = np.log(rng.dirichlet(np.ones(STATES), size=STATES))  # LOG_T[j, i]: state j -> i
LOG_E = np.log(rng.dirichlet(np.ones(SYMBOLS), size=STATES))  # LOG_E[i, s]: state i emits s
LOG_PI = np.log(np.full(STATES, 1.0 / STATES))


@rc.rnn(state=STATES, alphabet=SYMBOLS, init=LOG_PI)
def viterbi(delta, x):
    # scores[i, j]: reach state i from state j; the best predecessor of each state
    scores = delta[None, :] + LOG_T.T
    return scores.max(axis=1) + rc.lookup(LOG_E.T, x)
