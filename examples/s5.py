"""The S5 word problem as a state-tracking automaton: the NC1-complete problem (Barrington
1989, "Bounded-width polynomial-size branching programs recognize exactly those languages in
NC1"; the PD-LRNN upper bound is Merrill et al. 2026, Thm. 7).

The alphabet is a generating set of the symmetric group S5: e (identity), the transposition
(0 1) and the 5-cycle (0 1 2 3 4). Every element of S5 is a word of bounded length over them
(padded with e), so the word problem over group elements reduces to this one; for a
non-solvable group it is NC1-complete. The state h_t = P(x_t) h_{t-1} with h_0 = (0, 1, 2, 3, 4)
holds the product of the permutations read so far (its entries stay distinct, so h_t
determines the group element): the word multiplies to the identity iff h_n = h_0.
Permutation matrices chosen by the input: the permutation-diagonal kind (NC1).
"""

import numpy as np

import rnncirc as rc

GENERATORS = {"e": [0, 1, 2, 3, 4], "(0 1)": [1, 0, 2, 3, 4], "(0 1 2 3 4)": [1, 2, 3, 4, 0]}
# symbol s moves the value at position i to position g[i] (g = GENERATORS[s]): P[g[i], i] = 1,
# so row j of P picks position g^-1(j)
PERMS = np.array([np.eye(5)[np.argsort(g)] for g in GENERATORS.values()])


@rc.rnn(state=5, alphabet=len(GENERATORS), init=np.arange(5.0))
def s5(h, x):
    return rc.lookup(PERMS, x) @ h
