"""Sorted deterministic graph connectivity (L-complete) by a counter machine run as a
one-layer ReLU RNN: Merrill et al. 2026, Lemma 2 (the machine) and Lemma 3 (the RNN),
built by `rc.from_counter_machine`.

The input is ``1^s ; 1^i1 : 1^j1 ; 1^i2 : 1^j2 ; ... ; 1^t`` in unary (symbols 0 = '1',
1 = ':', 2 = ';'): a source s, the edges i -> j (j > i, at most one out-edge per node, sorted
by i), a target t. Counter S holds the node the walk from s has reached; counter I holds the
source of the edge being read:

* on s: S += 1 per mark;
* on an edge's i: S -= 1, I += 1 per mark; at ':' S = 0 means the walk is at i;
* then on j: if it is, S += 1 per mark (the walk moves to j) and I is reset; if not,
  S += 1 and I -= 1 while I != 0, which restores S (j > i);
* on t: S -= 1 per mark; accept iff S = 0 at the end.

The machine accepts iff t is where the walk ends, so `encode` drops t's out-edge (the
digest's target-sink promise: a deterministic walk reaches t iff it ends there once t has no
way out). The RNN's state is nonlinear in itself (ReLU zero tests), so the circuit is the
unrolled machine: depth linear in n.
"""

import numpy as np

import rnncirc as rc

MARK, COLON, SEMI = 0, 1, 2
S, I = 0, 1  # the counters


def move(q, a, zeros):
    """The machine's move from control state q on symbol a, the counters' zero tests
    `zeros`: (next state, updates of S and I), or None (no move: reject)."""
    table = {
        ("source", MARK): ("source", (1, 0)),
        ("source", SEMI): ("from", (0, 0)),
        ("from", MARK): ("from", (-1, 1)),
        ("from", COLON): ("moved", (0, "reset")) if zeros[S] else ("restore", (0, 0)),
        ("moved", MARK): ("moved", (1, 0)),
        ("moved", SEMI): ("from", (0, 0)),
        ("restore", MARK): ("restore", (0, 0) if zeros[I] else (1, -1)),
        ("restore", SEMI): ("from", (0, 0)),
    }
    return table.get((q, a))


def accepts(q, zeros):
    return q == "from" and zeros[S]


connectivity = rc.from_counter_machine(move, "source", accepts, counters=2, alphabet=3,
                                       name="connectivity")


def encode(source: int, edges, target: int) -> np.ndarray:
    """The symbols of an instance (nodes numbered from 1; edges (i, j) with j > i, at most
    one per i); t's out-edge is left out (see the module docstring)."""
    word = [MARK] * source
    for i, j in sorted(edges):
        if i != target:
            word += [SEMI] + [MARK] * i + [COLON] + [MARK] * j
    return np.array(word + [SEMI] + [MARK] * target)
