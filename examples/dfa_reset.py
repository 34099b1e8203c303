"""A reset automaton (a set/reset flip-flop) built by `rc.from_dfa`: moves that are not
permutations.

Symbols: 0 reads (keeps the state), 1 sets, 2 resets. The DFA accepts when the last set
came after the last reset. "set" and "reset" send both states to one: their matrices are
column one-hot, not permutations, and products of them stay column one-hot, so the layer is
still permutation-diagonal (Merrill et al. 2026, Thm 8; Krohn-Rhodes: with the group
automata such as examples/dfa_s5.py, resets build every DFA).
"""

import rnncirc as rc

OFF, ON = 0, 1
DELTA = [[OFF, ON, OFF],  # from OFF on read, set, reset
         [ON, ON, OFF]]  # from ON

flip_flop = rc.from_dfa(DELTA, start=OFF, accepting=[ON], name="flip_flop")
