"""Sorting networks over circuit values: how a per-symbol permutation is applied in gates.

Where it sits: `lower.combine_permutation.SymbolPermutationAlgebra` composes permutation-diagonal
maps whose permutation is a value in the circuit (chosen by the input symbols). A gather by such
an index, y[j] = x[perm[j]], is a scatter of x[i] to position inv[i] (inv the inverse
permutation), and a scatter to distinct positions 0..m-1 is a sort of the pairs (inv[i], x[i])
by key. So the gather costs one comparator network: each comparator is one GT gate on the keys
(the swap decision, shared by every payload sorted by the same keys), a MIN and a MAX for the
keys, and two SELECT gates per payload.

The network is Batcher's odd-even merge sort: O(m log^2 m) comparators in O(log^2 m) layers.
(The AKS network would give O(m log m), but its constants are astronomically large; Batcher's is
the best practical bound and is smaller than AKS for every m a circuit could hold.) For m not a
power of two the network for the next power of two N is used with keys m..N-1 thought of as
+inf: such a wire always holds the maximum (every comparator is ascending, lo < hi, so the
larger key stays on the higher wire), so a comparator that touches it never swaps and is
dropped. Everything is vectorized over a batch P of sorts and over the comparators of a layer:
Python loops run over layers only.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import Op


def batcher_comparators(n: int) -> int:
    """Comparators of Batcher's odd-even merge sort on n = 2^k wires: (k^2 - k + 4) 2^(k-2) - 1."""
    k = (n - 1).bit_length()
    if n != 1 << k:
        raise ValueError(f"{n} is not a power of two")
    if k == 0:
        return 0
    return (k * k - k + 4) * (1 << k) // 4 - 1


@cache
def odd_even_merge_layers(m: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Layers of (lo, hi) wire indices of Batcher's odd-even merge sort for m wires.

    Within a layer the comparators touch disjoint wires; each puts the smaller key on `lo`.
    Comparators with a wire >= m (padding) are dropped, and so are layers left empty.
    """
    size = 1 << max(0, (m - 1).bit_length())  # next power of two
    layers = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            # the textbook loops: for j in k % p .. size - k - 1 step 2k, for i < min(k, size-j-k)
            j = np.arange(k % p, size - k, 2 * k)
            i = np.arange(k)
            lo = (j[:, None] + i[None, :]).ravel()
            keep = (lo + k < size) & ((lo // (2 * p)) == ((lo + k) // (2 * p)))
            keep &= lo + k < m  # the padded wires hold +inf: those comparators never swap
            lo = lo[keep]
            if len(lo):
                layers.append((lo, lo + k))
            k //= 2
        p *= 2
    for lo, hi in layers:
        lo.flags.writeable = hi.flags.writeable = False  # cached: shared by every caller
    return tuple(layers)


def comparator_count(m: int) -> int:
    """Comparators of the (pruned) network for m wires."""
    return sum(len(lo) for lo, _ in odd_even_merge_layers(m))


class SortingNetwork:
    """Batcher's network for m wires, applied to id arrays with a leading batch axis P."""

    def __init__(self, m: int):
        self.m = m
        self.layers = odd_even_merge_layers(m)
        self.size = sum(len(lo) for lo, _ in self.layers)  # comparators
        # whether a wire's key is read again after each layer: the keys out of a wire's last
        # comparator are never built (the last layer's keys are 0..m-1, known already)
        self._key_read_later = []
        later = np.zeros(m, dtype=bool)
        for lo, hi in reversed(self.layers):
            self._key_read_later.append((later[lo].copy(), later[hi].copy()))
            later[lo] = later[hi] = True
        self._key_read_later.reverse()
        self._starts = np.cumsum([0] + [len(lo) for lo, _ in self.layers])

    def decisions(self, builder: GateBuilder, keys: np.ndarray) -> np.ndarray:
        """Swap decisions (P, comparators) of sorting `keys` (P, m): GT per comparator."""
        keys = np.array(keys, dtype=np.int64)  # a copy: updated in place layer by layer
        swaps = np.empty((keys.shape[0], self.size), dtype=np.int64)
        for (lo, hi), (lo_later, hi_later), start in zip(self.layers, self._key_read_later,
                                                          self._starts, strict=False):
            a, b = keys[:, lo], keys[:, hi]
            swaps[:, start:start + len(lo)] = builder.gates(Op.GT, a, b)
            if lo_later.any():
                keys[:, lo[lo_later]] = builder.gates(Op.MIN, a[:, lo_later], b[:, lo_later])
            if hi_later.any():
                keys[:, hi[hi_later]] = builder.gates(Op.MAX, a[:, hi_later], b[:, hi_later])
        return swaps

    def apply(self, builder: GateBuilder, swaps: np.ndarray, payloads: np.ndarray) -> np.ndarray:
        """Payloads (P, m, c) permuted as the keys that gave `swaps`: 2 SELECT per comparator."""
        out = np.array(payloads, dtype=np.int64)
        for (lo, hi), start in zip(self.layers, self._starts, strict=False):
            swap = swaps[:, start:start + len(lo), None]
            swap = np.broadcast_to(swap, swap.shape[:2] + out.shape[2:])
            a, b = out[:, lo], out[:, hi]
            out[:, lo] = builder.gates(Op.SELECT, swap, b, a)  # SELECT: b if swap else a
            out[:, hi] = builder.gates(Op.SELECT, swap, a, b)
        return out
