"""What A(x) is, decided from its values: exact evaluation at random points modulo primes.

Where this sits: `classify` extracts A(x) as structured terms (`jacobian.replay_affine`) and
asks this module what matrix the terms add up to: which entries vanish, whether A is a scalar,
diagonal, has one nonzero per row or per column, is made of 2x2 rotation-scaling blocks, what
rank A minus a diagonal has, whether A depends on x at all. `classify` then builds the combine
from the terms in the form these facts allow, so the kind follows the matrix, not the syntax.

Why rewriting cannot fool it. The entries of A are scalarized to gates and evaluated exactly in
the field Z/p at random points: each input, and each gate that is not a ring operation (tanh,
exp, max, ...), gets an independent random value; constants are exact (a float is a dyadic
rational). Each entry is then a rational function of independent variables, and the same
function however the step is written: distributing, reordering factors, splitting and
re-joining the state, a permutation as a matrix or as an index all change the expression, not
the function. By Schwartz-Zippel a nonzero polynomial of degree d vanishes at a random point
with probability at most d / p; a property is accepted only when it holds at every point (two
primes near 2^31), so a wrong "zero" needs every point to land on a root.

Sound in one direction. Variables for tanh(x), exp(x), ... drop the relations between them
(sigmoid(z) + sigmoid(-z) = 1), so an entry may look nonzero and still vanish at every real
input: such an A gets a more general kind than it needs, never a wrong one. An entry found
zero is zero for every value of the variables, hence for every input; likewise the generic
rank bounds the rank at every input, and an equality found holds everywhere.

Branches. A comparison (or any condition of an `rc.where`) is 0 or 1. With few conditions
every assignment is its own branch, so a structure that holds in each branch (a permutation
chosen by `rc.where`) is found; with many, conditions are field variables like the rest
(sound, more conservative). For an alphabet model each symbol is a branch (one-hot input).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from rnncirc.frontend.tracer import Sym
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.levels import compute_levels
from rnncirc.ir.ops import ARITY, Op
from rnncirc.ir.simplify import simplify
from rnncirc.lower.scalarize import scalarize

#: primes below 2^31, so that a product of two residues fits in int64
PRIMES = (2**31 - 1, 2**31 - 19)
#: random points per branch (alternating primes)
POINTS = 3
#: conditions enumerated as branches up to this many (2^6 branches)
MAX_CONDITIONS = 6

_COMPARISONS = (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)


@dataclass(frozen=True)
class Samples:
    """Exact residues of a tensor: ``values[branch, point]`` modulo ``primes[point]``."""

    values: np.ndarray  # (branches, points, *shape), int64
    primes: np.ndarray  # (points,)

    @property
    def nonzero(self) -> np.ndarray:
        return self.values != 0

    def pattern(self) -> np.ndarray:
        """Entries that are not identically zero (in some branch)."""
        return self.nonzero.any(axis=(0, 1))

    def invariant(self) -> bool:
        """The same value in every branch and at every point of one prime: A is constant."""
        for prime in np.unique(self.primes):
            group = self.values[:, self.primes == prime].reshape((-1,) + self.values.shape[2:])
            if not np.all(group == group[:1]):
                return False
        return True

    def equal(self, a: tuple, b: tuple, negate: bool = False) -> bool:
        """Entries `a` and `b` (index arrays) are equal (or opposite) everywhere."""
        left = self.values[(slice(None), slice(None)) + a]
        right = self.values[(slice(None), slice(None)) + b]
        if negate:
            right = (self.primes[None, :, None] - right) % self.primes[None, :, None]
        return bool(np.all(left == right))

    def rank(self, enough: int | None = None) -> int:
        """Generic rank of a matrix: the largest rank over branches and points (or the first
        that reaches `enough`: a caller asking "below r?" stops there)."""
        best = 0
        for t, prime in enumerate(self.primes):
            for matrix in self.values[:, t]:
                best = max(best, _rank_mod(matrix, int(prime)))
                if enough is not None and best >= enough:
                    return best
        return best


def sample(affine, tensor: Sym, alphabet: int | None) -> Samples:
    """Exact residues of `tensor` (a state-free value of the affine step) at random points."""
    builder = GateBuilder()
    x = affine.input
    inputs = builder.leaf(Op.INPUT, np.arange(x.size)).reshape((1,) + x.shape)
    out = scalarize(affine.builder.nodes, tensor.reshape(-1).node, builder,
                    {x.node.id: inputs}, 1).ravel()
    rows, out = simplify(builder.arrays(), out)
    values, primes = _evaluate(rows, np.asarray(builder.const_values, dtype=np.float64),
                               x.size, alphabet)
    picked = values[out]  # (entries, branches, points)
    return Samples(np.moveaxis(picked, 0, -1).reshape(picked.shape[1:] + tensor.shape),
                   primes)


def _evaluate(rows: dict, consts: np.ndarray, slots: int, alphabet: int | None):
    """Residues of every row, (rows, branches, points), and the prime of each point."""
    op, a, b, c = rows["op"], rows["a"], rows["b"], rows["c"]
    rng = np.random.default_rng(16)
    primes = np.array([PRIMES[t % len(PRIMES)] for t in range(POINTS)], dtype=np.int64)
    conditions = np.unique(np.concatenate([np.flatnonzero(np.isin(op, _COMPARISONS)),
                                           a[op == Op.SELECT]]))
    enumerate_all = len(conditions) <= MAX_CONDITIONS
    symbols = alphabet or 1
    assignments = 2 ** len(conditions) if enumerate_all else 1
    branches = symbols * assignments
    shape = (branches, POINTS)

    def random(*lead) -> np.ndarray:
        return rng.integers(1, primes.min(), size=lead + (POINTS,), dtype=np.int64)

    values = np.zeros((len(op),) + shape, dtype=np.int64)
    depends = np.zeros(len(op), dtype=bool)
    is_input = op == Op.INPUT
    depends[is_input] = True
    if alphabet:  # branch s = (symbol, assignment): the input is the one-hot e_symbol
        onehot = np.eye(symbols, slots, dtype=np.int64)[np.arange(branches) // assignments]
        values[is_input] = onehot.T[a[is_input]][:, :, None]
    else:
        values[is_input] = random(slots)[a[is_input]][:, None, :]
    is_const = op == Op.CONST
    values[is_const] = np.stack([_residue(v, primes) for v in consts[a[is_const]]]
                                ).reshape(-1, 1, POINTS) if is_const.any() else 0
    # per condition, its 0/1 value in every branch (or a field variable)
    bits = np.zeros((len(op),) + shape, dtype=np.int64)
    if enumerate_all:
        assignment = np.arange(branches) % assignments
        for k, row in enumerate(conditions):
            bits[row] = ((assignment >> k) & 1)[:, None]
    else:
        bits[conditions] = random(len(conditions))[:, None, :]
    level = compute_levels(op, a, b, c, ARITY)
    p = primes
    for lv in range(1, int(level.max(initial=0)) + 1):
        here = np.flatnonzero(level == lv)
        depends[here] = depends[a[here]] | (ARITY[op[here]] >= 2) & depends[
            np.maximum(b[here], 0)] | (ARITY[op[here]] >= 3) & depends[np.maximum(c[here], 0)]
        for code in np.unique(op[here]):
            idx = here[op[here] == code]
            values[idx] = _apply(Op(int(code)), idx, values, bits, a, b, c, p, depends, random,
                                 alphabet, assignments)
    return values, primes


def _apply(code: Op, idx, values, bits, a, b, c, p, depends, random, alphabet, assignments):
    x = values[a[idx]]
    if code == Op.NEG:
        return (p - x) % p
    if code == Op.SELECT:  # b + [cond] (a - b)
        on, off = values[b[idx]], values[c[idx]]
        return (off + bits[a[idx]] * ((on - off) % p)) % p
    if code in _COMPARISONS:
        return bits[idx]
    if ARITY[code] == 2 and code in (Op.ADD, Op.SUB, Op.MUL, Op.DIV):
        y = values[b[idx]]
        if code == Op.ADD:
            return (x + y) % p
        if code == Op.SUB:
            return (x - y) % p
        if code == Op.MUL:
            return (x * y) % p
        return (x * _inverse(y, p)) % p
    # any other function: an independent variable per distinct argument (per symbol and
    # point when it depends on the input, per point otherwise)
    fresh = random(len(idx), values.shape[1] // assignments if alphabet else 1)
    fresh = np.repeat(fresh, assignments if alphabet else values.shape[1], axis=1)
    return np.where(depends[idx][:, None, None], fresh, fresh[:, :1])


def _inverse(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """y^(p-2) mod p (Fermat), elementwise; 0 stays 0."""
    result = np.ones_like(y)
    base = y % p
    exponent = p - 2
    while np.any(exponent > 0):
        odd = (exponent & 1).astype(bool)
        result = np.where(odd, (result * base) % p, result)
        base = (base * base) % p
        exponent = exponent >> 1
    return result


def _residue(value: float, primes: np.ndarray) -> np.ndarray:
    """A float constant as an exact residue modulo each prime (NaN/inf: a variable)."""
    if not np.isfinite(value):
        return np.random.default_rng(abs(hash(repr(value)))).integers(1, primes.min(),
                                                                       size=len(primes))
    exact = Fraction(float(value))
    return np.array([exact.numerator % int(q) * pow(exact.denominator % int(q), -1, int(q))
                     % int(q) for q in primes], dtype=np.int64)


def _rank_mod(matrix: np.ndarray, p: int) -> int:
    """Rank of an integer matrix over Z/p: Gaussian elimination, one vectorized row update per
    pivot (residues below 2^31, so a product of two fits in int64)."""
    a = np.array(matrix, dtype=np.int64) % p
    rows, cols = a.shape if a.ndim == 2 else (0, 0)
    rank = 0
    for col in range(cols):
        nonzero = np.flatnonzero(a[rank:, col])
        if not len(nonzero):
            continue
        pivot = rank + int(nonzero[0])
        a[[rank, pivot]] = a[[pivot, rank]]
        a[rank] = a[rank] * pow(int(a[rank, col]), -1, p) % p
        factors = a[rank + 1:, col].copy()
        a[rank + 1:] = (a[rank + 1:] - factors[:, None] * a[rank] % p) % p
        rank += 1
        if rank == rows:
            break
    return rank
