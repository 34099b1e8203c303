"""Fixed-width arithmetic as AND/XOR gates, vectorized over many words at once.

Where this sits: `lower.boolean.lowering` reads an arithmetic circuit one (level, op) group at a
time and calls these constructions once per group. A *word* is a literal array whose last axis
holds its bits, least significant first; every leading axis is a batch of independent words
(one per arithmetic gate of the group), so each construction below is a handful of calls on
whole arrays, with Python loops only over bit positions, prefix levels and tree stages.

The constructions, chosen for AND count and AND-depth with free XOR (the MPC/FHE cost model):

- adder: a + b + cin mod 2^W, p = a ^ b, sum = p ^ carry. Ripple: one AND per bit,
  c' = c ^ ((a ^ c) & (b ^ c)). Otherwise generate g = a & b and the carries are a prefix scan
  of (g, p) pairs over a network from `rnncirc.lower.prefix` (Sklansky, Kogge-Stone,
  Brent-Kung, Ladner-Fischer, Han-Carlson) with the combine
  (G, P)_right o (G, P)_left = (G_r ^ (P_r & G_l), P_r & P_l) -- XOR instead of OR because
  G_r and P_r are never both 1 (the carry-in is folded into bit 0, which never sits in a
  right segment).
- comparison: the carry out of a + ~b + 1 (ripple chain, or the reduction tree of the same
  prefix family).
- multiplier: partial products a_j & b_i, a carry-save tree of full adders (Dadda, by columns,
  or Wallace, by rows of three) down to two rows, then the prefix adder. The full adder uses
  one AND: t = a ^ c, carry = ((b ^ c) & t) ^ c, sum = t ^ b.
- multiplication by a constant: canonical signed digits (at most ceil(W/2) + 1 non-zero
  digits, no two adjacent), each digit a shifted (and for -1 complemented) copy of the operand,
  summed by the same carry-save tree.
- division: restoring long division on magnitudes (one subtractor and one multiplexer row per
  quotient bit).
- lookup tables: a multiplexer tree over the input bits (Shannon expansion), shared by
  structural hashing.
"""

from __future__ import annotations

import functools

import numpy as np

from rnncirc.ir.aig import FALSE, TRUE, AigBuilder
from rnncirc.lower import prefix

#: adder carry networks: the one-AND ripple chain, or a prefix family of `rnncirc.lower.prefix`
ADDERS = ("ripple",) + tuple(t for t in prefix.TOPOLOGIES if t != "sequential")
MULTIPLIERS = ("dadda", "wallace")


@functools.lru_cache(maxsize=256)
def _network(n: int, topology: str, outputs: str) -> prefix.PrefixNetwork:
    return prefix.build(n, topology, outputs)


def constant_bits(values, width: int) -> np.ndarray:
    """Literal words (0/1) of the integers `values` mod 2^width: shape ``(*values, width)``."""
    values = np.asarray(values, dtype=np.int64).astype(np.uint64)
    shifts = np.arange(width, dtype=np.uint64)
    return ((values[..., None] >> shifts) & np.uint64(1)).astype(np.int64)


def csd_digits(values, width: int) -> np.ndarray:
    """Canonical signed digits of `values` mod 2^width: ``(*values, width)`` in {-1, 0, 1}.

    sum_i d_i 2^i == value (mod 2^width), and no two adjacent digits are non-zero.
    """
    v = np.asarray(values, dtype=np.int64).astype(np.uint64)
    if width < 64:
        v &= np.uint64((1 << width) - 1)
    digits = np.zeros(v.shape + (width,), dtype=np.int64)
    for i in range(width):
        odd = (v & np.uint64(1)) == 1
        # digit 2 - (v mod 4): +1 if v = 1 mod 4, -1 if v = 3 mod 4 (the top digit stays +1)
        minus = odd & ((v & np.uint64(2)) != 0) & (i < width - 1)
        digits[..., i] = np.where(odd, np.where(minus, -1, 1), 0)
        v = np.where(minus, v + np.uint64(1), np.where(odd, v - np.uint64(1), v))
        v >>= np.uint64(1)
    return digits


class Words:
    """Word-level constructions over an `AigBuilder` (see the module docstring)."""

    def __init__(self, aig: AigBuilder, adder: str = "sklansky",
                 multiplier: str = "dadda") -> None:
        adder = "ripple" if adder == "sequential" else adder  # the serial prefix is a ripple
        if adder not in ADDERS:
            raise ValueError(f"unknown adder {adder!r}; choose one of {', '.join(ADDERS)}")
        if multiplier not in MULTIPLIERS:
            raise ValueError(f"unknown multiplier {multiplier!r}; choose one of "
                             f"{', '.join(MULTIPLIERS)}")
        self.aig = aig
        self.adder = adder
        self.multiplier = multiplier

    # -- addition and comparison ----------------------------------------------------------
    def add(self, a: np.ndarray, b: np.ndarray, cin=FALSE) -> np.ndarray:
        """a + b + cin mod 2^W; `cin` is a literal (array) per word."""
        aig = self.aig
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        cin = np.broadcast_to(np.asarray(cin, dtype=np.int64), a.shape[:-1])
        p = aig.xor(a, b)
        carries = self._carries(a[..., :-1], b[..., :-1], p[..., :-1], cin, "all")
        return aig.xor(p, np.concatenate([cin[..., None], carries], axis=-1))

    def _carries(self, a, b, p, cin, outputs: str) -> np.ndarray:
        """Carries out of bits 0..i of a + b + cin: every i ("all") or the last only.

        `p` is a ^ b. Ripple: one AND per bit, c' = c ^ ((a ^ c) & (b ^ c)). Otherwise the
        prefix scan of (g, p) pairs described in the module docstring.
        """
        aig = self.aig
        n = a.shape[-1]
        if n == 0:
            return np.zeros(a.shape, dtype=np.int64)
        if self.adder == "ripple":
            carries = np.empty(a.shape, dtype=np.int64)
            c = cin
            for i in range(n):
                c = aig.xor(aig.and_(aig.xor(a[..., i], c), aig.xor(b[..., i], c)), c)
                carries[..., i] = c
            return carries if outputs == "all" else carries[..., -1:]
        g = aig.and_(a, b)
        g[..., 0] = aig.xor(g[..., 0], aig.and_(p[..., 0], cin))  # g0 | p0 & cin, exclusive
        net = _network(n, self.adder, outputs)
        shape = g.shape[:-1] + (n + net.size,)
        big_g = np.empty(shape, dtype=np.int64)
        big_p = np.zeros(shape, dtype=np.int64)
        big_g[..., :n], big_p[..., :n] = g, p
        done = n
        for level in net.levels:
            ids = np.arange(done, done + len(level))
            left, right = level.left_src, level.right_src
            big_g[..., ids] = aig.xor(big_g[..., right],
                                      aig.and_(big_p[..., right], big_g[..., left]))
            need_p = level.left_lo > 0  # P of a prefix [0..i] is never read
            if need_p.any():
                big_p[..., ids[need_p]] = aig.and_(big_p[..., right[need_p]],
                                                   big_p[..., left[need_p]])
            done += len(level)
        return big_g[..., net.result]

    def negate(self, a: np.ndarray) -> np.ndarray:
        return self.add(np.asarray(a) ^ 1, np.zeros_like(a), TRUE)

    def sub(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.add(a, np.asarray(b) ^ 1, TRUE)

    def less_unsigned(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a < b for unsigned words: no carry out of a + ~b + 1."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        nb = b ^ 1
        carry = self._carries(a, nb, self.aig.xor(a, nb), np.full(a.shape[:-1], TRUE), "last")
        return carry[..., 0] ^ 1

    def less(self, a: np.ndarray, b: np.ndarray, signed: bool) -> np.ndarray:
        if signed:  # flipping both sign bits maps two's complement order onto unsigned order
            a = np.array(a, dtype=np.int64)
            b = np.array(b, dtype=np.int64)
            a[..., -1] ^= 1
            b[..., -1] ^= 1
        return self.less_unsigned(a, b)

    def equal(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.aig.reduce(self.aig.xor(a, b) ^ 1, "and")

    def nonzero(self, a: np.ndarray) -> np.ndarray:
        return self.aig.reduce(a, "or")

    def select(self, s: np.ndarray, t: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Word ``t if s else e``; `s` one literal per word."""
        return self.aig.mux(np.asarray(s)[..., None], t, e)

    def conditional_negate(self, a: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``-a if s else a`` as (a ^ s) + s."""
        s = np.asarray(s, dtype=np.int64)
        flipped = self.aig.xor(a, s[..., None])
        return self.add(flipped, np.zeros_like(flipped), s)

    # -- multiplication -------------------------------------------------------------------
    def multiply(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a * b mod 2^W (the low W bits of the product)."""
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        width = a.shape[-1]
        i, j = np.triu_indices(width)  # row i (multiplier bit), column j >= i
        rows = np.zeros(a.shape[:-1] + (width, width), dtype=np.int64)
        rows[..., i, j] = self.aig.and_(a[..., j - i], b[..., i])
        return self.sum_rows(rows)

    def multiply_constant(self, a: np.ndarray, constants: np.ndarray) -> np.ndarray:
        """a * c mod 2^W for one integer constant per word, by shift-and-add (signed digits)."""
        a = np.asarray(a, dtype=np.int64)
        width = a.shape[-1]
        flat = a.reshape(-1, width)
        digits = csd_digits(np.asarray(constants).reshape(-1), width)
        terms = np.count_nonzero(digits, axis=1)
        out = np.zeros_like(flat)
        for m in np.unique(terms):
            group = np.flatnonzero(terms == m)
            out[group] = self._shift_add(flat[group], digits[group], int(m))
        return out.reshape(a.shape)

    def _shift_add(self, a: np.ndarray, digits: np.ndarray, m: int) -> np.ndarray:
        g, width = a.shape
        if m == 0:
            return np.zeros_like(a)
        where, position = np.nonzero(digits)  # row-major: m non-zero digits per word
        shift = position.reshape(g, m)
        sign = digits[where, position].reshape(g, m)
        column = np.arange(width)
        source = column[None, None, :] - shift[:, :, None]
        padded = np.concatenate([np.zeros((g, 1), dtype=np.int64), a], axis=1)
        rows = padded[np.arange(g)[:, None, None], np.where(source >= 0, source + 1, 0)]
        rows ^= (sign[:, :, None] < 0).astype(np.int64)  # -(x << s) = ~(x << s) + 1
        correction = np.count_nonzero(sign < 0, axis=1)
        if correction.any():
            rows = np.concatenate([rows, constant_bits(correction, width)[:, None, :]], axis=1)
        return self.sum_rows(rows)

    def sum_rows(self, rows: np.ndarray) -> np.ndarray:
        """Sum of the rows (axis -2) mod 2^W: carry-save tree, then one prefix adder."""
        if rows.shape[-2] == 0:
            return np.zeros(rows.shape[:-2] + rows.shape[-1:], dtype=np.int64)
        if rows.shape[-2] == 1:
            return rows[..., 0, :].copy()
        if self.multiplier == "wallace":
            low, high = self._wallace(rows)
        else:
            low, high = self._dadda(rows)
        return self.add(low, high)

    def _full_add(self, a, b, c):
        """(sum, carry) of three literal arrays with one AND."""
        aig = self.aig
        t = aig.xor(a, c)
        return aig.xor(t, b), aig.xor(aig.and_(aig.xor(b, c), t), c)

    def _wallace(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of three become a sum row and a shifted carry row, until two rows remain."""
        while rows.shape[-2] > 2:
            k = rows.shape[-2] // 3
            top = rows[..., :3 * k, :]
            s, c = self._full_add(top[..., 0::3, :], top[..., 1::3, :], top[..., 2::3, :])
            c = np.concatenate([np.zeros_like(c[..., :1]), c[..., :-1]], axis=-1)
            rows = np.concatenate([s, c, rows[..., 3 * k:, :]], axis=-2)
        return rows[..., 0, :], rows[..., 1, :]

    def _dadda(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dadda's column compression: reduce column heights to 2, 3, 4, 6, 9, ... targets."""
        aig = self.aig
        width = rows.shape[-1]
        batch = rows.shape[:-2]
        # a column keeps only the bits that are not constant 0 in every word of the group
        live = np.any(rows != FALSE, axis=tuple(range(len(batch))))
        columns = [[rows[..., r, j] for r in np.flatnonzero(live[:, j])] for j in range(width)]
        targets = [2]
        while targets[-1] < max(len(c) for c in columns):
            targets.append(targets[-1] * 3 // 2)
        # the textbook schedule; the trailing target-2 stages only run for irregular matrices
        # (shifted constant-multiplication rows), where a column may lack the bits to reach
        # its target in one stage
        schedule = list(reversed(targets[:-1]))
        while schedule or max(len(c) for c in columns) > 2:
            target = schedule.pop(0) if schedule else 2
            new = [[] for _ in range(width)]
            carries_in = 0
            for j, bits in enumerate(columns):
                excess = len(bits) + carries_in - target
                fulls = min(excess // 2, len(bits) // 3) if excess > 0 else 0
                halves = int(excess - 2 * fulls > 0 and len(bits) - 3 * fulls >= 2)
                used = 3 * fulls + 2 * halves
                carries = []
                if fulls:
                    stack = np.stack(bits[:3 * fulls])
                    s, c = self._full_add(stack[0::3], stack[1::3], stack[2::3])
                    new[j].extend(s)
                    carries.extend(c)
                if halves:
                    x, y = bits[3 * fulls], bits[3 * fulls + 1]
                    new[j].append(aig.xor(x, y))
                    carries.append(aig.and_(x, y))
                new[j].extend(bits[used:])
                if j + 1 < width:
                    new[j + 1].extend(carries)
                carries_in = len(carries)
            columns = new
        low = np.zeros(batch + (width,), dtype=np.int64)
        high = np.zeros(batch + (width,), dtype=np.int64)
        for j, bits in enumerate(columns):
            if bits:
                low[..., j] = bits[0]
            if len(bits) > 1:
                high[..., j] = bits[1]
        return low, high

    # -- division and lookup tables -------------------------------------------------------
    def divide_unsigned(self, n: np.ndarray, d: np.ndarray, keep: int) -> np.ndarray:
        """The low `keep` bits of floor(n / d) for unsigned n (N bits) and d (D bits), d > 0.

        Restoring division: per quotient bit, shift the next dividend bit into the remainder,
        subtract d, keep the difference where it did not borrow.
        """
        n = np.asarray(n, dtype=np.int64)
        d = np.asarray(d, dtype=np.int64)
        dw = d.shape[-1]
        batch = np.broadcast_shapes(n.shape[:-1], d.shape[:-1])
        zeros = np.zeros(batch + (1,), dtype=np.int64)
        d_ext = np.concatenate([np.broadcast_to(d, batch + (dw,)), zeros, zeros], axis=-1)
        rem = np.zeros(batch + (dw + 1,), dtype=np.int64)
        quotient = np.zeros(batch + (n.shape[-1],), dtype=np.int64)
        for i in range(n.shape[-1] - 1, -1, -1):
            rem = np.concatenate([np.broadcast_to(n[..., i:i + 1], batch + (1,)),
                                  rem[..., :-1]], axis=-1)
            diff = self.sub(np.concatenate([rem, zeros], axis=-1), d_ext)
            fits = diff[..., -1] ^ 1  # no borrow: rem >= d
            quotient[..., i] = fits
            rem = self.select(fits, diff[..., :-1], rem)
        return quotient[..., :keep]

    def lookup(self, x: np.ndarray, table_bits: np.ndarray) -> np.ndarray:
        """``table[x]`` for words x of width k: `table_bits` is ``(2^k, W)`` constant literals."""
        aig = self.aig
        x = np.asarray(x, dtype=np.int64)
        level = np.broadcast_to(table_bits, x.shape[:-1] + table_bits.shape)
        for bit in range(x.shape[-1]):  # select on bit 0 first: pairs (2m, 2m + 1)
            s = x[..., bit][..., None, None]
            level = aig.mux(s, level[..., 1::2, :], level[..., 0::2, :])
        return level[..., 0, :]
