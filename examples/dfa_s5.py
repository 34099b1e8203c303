"""The S5 word problem as a DFA built by `rc.from_dfa`: the paper's Thm 8 construction.

The states are the 120 elements of the symmetric group S5, the alphabet a generating set
(e, the transposition (0 1), the 5-cycle (0 1 2 3 4)); reading g multiplies the state by g.
The DFA accepts when the product of the word so far is the identity: NC1-complete (Barrington
1989), and one permutation-diagonal layer (Merrill et al. 2026, Thm 7 and 8). Compare
examples/s5.py, which tracks the same product in a 5-dimensional state and needs a readout
that compares permutations.
"""

from itertools import permutations

import rnncirc as rc

GENERATORS = ((0, 1, 2, 3, 4), (1, 0, 2, 3, 4), (1, 2, 3, 4, 0))
ELEMENTS = sorted(permutations(range(5)))
INDEX = {g: i for i, g in enumerate(ELEMENTS)}
# the state g followed by generator s is the permutation i -> s[g[i]]
DELTA = [[INDEX[tuple(s[g[i]] for i in range(5))] for s in GENERATORS] for g in ELEMENTS]
IDENTITY = INDEX[tuple(range(5))]

s5_word_problem = rc.from_dfa(DELTA, start=IDENTITY, accepting=[IDENTITY],
                              name="s5_word_problem")
