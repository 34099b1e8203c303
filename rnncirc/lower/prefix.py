"""Prefix networks as numpy index arrays: which segments are combined at which level.

Where this sits in the pipeline. A linear recurrence h_t = A_t h_{t-1} + b_t is lowered as a
scan over affine pairs x_t = (A_t, b_t) with the combine

    (A_2, b_2) o (A_1, b_1) = (A_2 A_1, A_2 b_1 + b_2)        (newer element on the left)

which is associative but neither commutative nor idempotent. This module only decides WHICH
segments get combined at WHICH level (the families are written in `lower.prefix_families`);
instantiating the combine template over all pairs of a level (structure-aware: scalar,
diagonal, dense, ...) is done by the caller, one vectorized step per level. Because the
operator is not commutative and not idempotent, every combine joins two adjacent, disjoint
segments in order: left = [left_lo..left_hi] (older) and right = [right_lo..right_hi]
(newer) with left_hi + 1 == right_lo; ``validate`` checks it.

Value ids. Leaves are ids 0..n-1 (leaf t holds segment [t..t]); combine k, counting over all
levels in order from 0, produces id n + k. ``Level.left_src`` / ``right_src`` name the values
read, ``PrefixNetwork.result`` the values holding the outputs. Levels are as-soon-as-possible:
a combine sits one level above the later of its two operands, so ``depth`` is the longest path.

Formulas (``depth_formula``, ``size_formula``; sympy, in n >= 1, K = ceiling(log2 n)):

    topology        depth                                   size ("all")
    sequential      n - 1                                   n - 1
    sklansky        K                                       finite sum over the K bit positions
    kogge-stone     K                                       n K - 2^K + 1
    brent-kung      floor(log2 n) + floor(log2(n/3)), n>=6  2n - 2 - K
    han-carlson     ceiling(log2(n-2)) + 1, n >= 4          n + floor(n/2) (L - 1) - 2^(L-1), n>=3
    ladner-fischer  K                                       size_ladner_fischer(n), see below
    outputs="last"  K                                       n - 1  (every topology)

(L = ceiling(log2(n - 1)); the small cases are Piecewise branches.) All of them are closed
forms except two. Sklansky's size is the number of one bits in 0..n-1, which has no
elementary closed form; it is returned as an exact finite ``Sum`` (call ``.doit()`` after
substituting n). Ladner-Fischer's P_0 size follows a two-branch floor/ceiling recursion whose
subproblem sizes depend on the bits of n; no closed form is known for general n (for n = 2^k
it is 4n - F(k+5) + 1, F Fibonacci), so it is an unevaluated sympy function
``size_ladner_fischer(n)`` that evaluates itself at integer n through ``exact_size``.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import sympy

TOPOLOGIES = (
    "sequential",
    "sklansky",
    "kogge-stone",
    "brent-kung",
    "ladner-fischer",
    "han-carlson",
)
OUTPUTS = ("all", "last")

_LEVEL_FIELDS = ("left_lo", "left_hi", "right_lo", "right_hi", "left_src", "right_src")

#: bytes per combine of a built network: its six int64 index arrays, and as many again
#: while a level is being made
BYTES_PER_COMBINE = 2 * 8 * len(_LEVEL_FIELDS)


@dataclass(frozen=True, eq=False)
class Level:
    """One level of combines; all arrays are read-only int64 of equal length.

    Combine k of the level computes segment [left_lo[k]..right_hi[k]] as
    (right segment, newer) o (left segment, older), reading values left_src[k], right_src[k].
    """

    left_lo: np.ndarray
    left_hi: np.ndarray
    right_lo: np.ndarray
    right_hi: np.ndarray
    left_src: np.ndarray
    right_src: np.ndarray

    def __post_init__(self) -> None:
        arrays = [np.asarray(getattr(self, name), dtype=np.int64) for name in _LEVEL_FIELDS]
        if any(a.ndim != 1 for a in arrays) or len({a.shape for a in arrays}) != 1:
            shapes = {name: a.shape for name, a in zip(_LEVEL_FIELDS, arrays, strict=True)}
            raise ValueError(f"Level arrays must be 1-D and of equal length, got {shapes}")
        for name, a in zip(_LEVEL_FIELDS, arrays, strict=True):
            a = a.view()  # a read-only view: the caller's own array stays writable
            a.flags.writeable = False
            object.__setattr__(self, name, a)

    def __len__(self) -> int:
        return len(self.left_lo)


@dataclass(frozen=True, eq=False)
class PrefixNetwork:
    """A prefix network over n leaves: levels of combines, as-soon-as-possible."""

    n: int
    topology: str
    outputs: str
    levels: tuple[Level, ...] = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))

    @property
    def depth(self) -> int:
        """Number of levels (the longest leaf-to-output path, in combines)."""
        return len(self.levels)

    @property
    def size(self) -> int:
        """Total number of combines."""
        return sum(len(level) for level in self.levels)

    @functools.cached_property
    def result(self) -> np.ndarray:
        """Value ids of the outputs: ``result[i]`` holds [0..i] ("all", length n), or the one
        value holding [0..n-1] ("last", length 1). -1 where no value holds the segment."""
        n = self.n
        ids = np.arange(n, n + self.size, dtype=np.int64)
        lo = np.concatenate([lv.left_lo for lv in self.levels] or [np.empty(0, np.int64)])
        hi = np.concatenate([lv.right_hi for lv in self.levels] or [np.empty(0, np.int64)])
        prefix = lo == 0
        by_end = np.full(n, -1, dtype=np.int64)
        by_end[0] = 0  # leaf 0 is the prefix [0..0]
        by_end[hi[prefix]] = ids[prefix]
        out = by_end if self.outputs == "all" else by_end[-1:].copy()
        out.flags.writeable = False
        return out


def build(n: int, topology: str, outputs: str = "all") -> PrefixNetwork:
    """Build the prefix network of ``topology`` over n leaves.

    Parameters
    ----------
    n : int
        Number of leaves, >= 1.
    topology : str
        One of ``TOPOLOGIES``.
    outputs : str
        ``"all"`` (every prefix [0..i]) or ``"last"`` (only [0..n-1]: every topology then gives
        the balanced reduction tree, n - 1 combines of depth ceil(log2 n)).

    Raises
    ------
    ValueError
        For n < 1, an unknown topology or an unknown ``outputs``.
    """
    from rnncirc.lower.prefix_families import (  # they build the types defined here
        FAMILIES,
        ColumnBuilder,
        reduction_tree,
        sequential,
    )

    n = _check(n, topology, outputs)
    if outputs == "last":
        return reduction_tree(n, topology)
    if topology == "sequential":
        return sequential(n)
    builder = ColumnBuilder(n)
    FAMILIES[topology](builder, np.arange(n, dtype=np.int64))
    return builder.finish(topology, outputs)


def _check(n: int, topology: str, outputs: str) -> int:
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"a prefix network needs n >= 1 leaves, got n={n}")
    if topology not in TOPOLOGIES:
        raise ValueError(f"unknown topology {topology!r}; valid: {', '.join(TOPOLOGIES)}")
    if outputs not in OUTPUTS:
        raise ValueError(f"unknown outputs {outputs!r}; valid: {', '.join(OUTPUTS)}")
    return n


def _ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate(net: PrefixNetwork) -> None:
    """Check that ``net`` is a correct prefix network for a non-commutative, non-idempotent
    operator; raise ``ValueError`` naming the first bad combine (level, index, segments).

    Checked, one vectorized pass per level: every combine joins two non-empty, adjacent,
    disjoint segments in order (left_hi + 1 == right_lo) inside [0..n-1]; each operand value
    exists before it is used (a leaf or a combine of an earlier level) and really holds the
    stated segment; and the outputs hold [0..i] for every i ("all") or [0..n-1] ("last").
    """
    n = net.n
    if n < 1 or net.outputs not in OUTPUTS:
        raise ValueError(f"bad network header: n={n}, outputs={net.outputs!r}")
    seg_lo = np.empty(n + net.size, dtype=np.int64)
    seg_hi = np.empty(n + net.size, dtype=np.int64)
    seg_lo[:n] = seg_hi[:n] = np.arange(n)
    made = n  # values 0..made-1 exist
    for depth, lv in enumerate(net.levels, start=1):
        failures = _level_failures(lv, n, made, seg_lo, seg_hi)
        bad = np.zeros(len(lv), dtype=bool)
        for _, mask in failures:
            bad |= mask
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            why = "; ".join(reason for reason, mask in failures if mask[k])
            raise ValueError(
                f"level {depth}, combine {k}: left [{lv.left_lo[k]}..{lv.left_hi[k]}] "
                f"(value {lv.left_src[k]}) with right [{lv.right_lo[k]}..{lv.right_hi[k]}] "
                f"(value {lv.right_src[k]}): {why}"
            )
        seg_lo[made : made + len(lv)] = lv.left_lo
        seg_hi[made : made + len(lv)] = lv.right_hi
        made += len(lv)
    want_hi = np.arange(n) if net.outputs == "all" else np.array([n - 1])
    res = net.result
    missing = (res < 0) | (seg_lo[res] != 0) | (seg_hi[res] != want_hi)
    if missing.any():
        i = int(want_hi[np.flatnonzero(missing)[0]])
        raise ValueError(f"no output holds the prefix [0..{i}]")


def _level_failures(
    lv: Level, n: int, made: int, seg_lo: np.ndarray, seg_hi: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    """(reason, mask of combines failing it) for every check of one level."""
    overlap = lv.left_hi >= lv.right_lo
    in_range = (lv.left_lo >= 0) & (lv.left_lo <= lv.left_hi) & (lv.right_lo <= lv.right_hi)
    in_range &= lv.right_hi < n
    failures = [
        ("segments overlap or are out of order (left_hi >= right_lo)", overlap),
        ("segments leave a gap (left_hi + 1 < right_lo)", lv.left_hi + 1 < lv.right_lo),
        (f"empty segment or outside [0..{n - 1}]", ~in_range),
    ]
    for side in ("left", "right"):
        src = getattr(lv, f"{side}_src")
        exists = (src >= 0) & (src < made)
        safe = np.where(exists, src, 0)
        holds = (seg_lo[safe] == getattr(lv, f"{side}_lo")) & (
            seg_hi[safe] == getattr(lv, f"{side}_hi")
        )
        failures.append((f"{side} operand is not a leaf or an earlier level's value", ~exists))
        failures.append((f"{side} operand value does not hold that segment", exists & ~holds))
    return failures


# --------------------------------------------------------------------------------------------
# Formulas
# --------------------------------------------------------------------------------------------


def depth_formula(topology: str, outputs: str = "all") -> sympy.Expr:
    """Exact depth of ``build(n, topology, outputs)`` as a sympy expression in
    ``n = Symbol("n", integer=True, positive=True)``, valid for every n >= 1."""
    import sympy

    _check(1, topology, outputs)
    n = sympy.Symbol("n", integer=True, positive=True)
    k = sympy.ceiling(sympy.log(n, 2))
    if outputs == "last" or topology in ("sklansky", "kogge-stone", "ladner-fischer"):
        return k
    if topology == "sequential":
        return n - 1
    if topology == "brent-kung":
        # Read off the as-soon-as-possible schedule: the depth steps up at n = 2^j and at
        # n = 3 * 2^(j-1) (n >= 8; checked against the built network for n = 1..2000).
        general = sympy.floor(sympy.log(n, 2)) + sympy.floor(sympy.log(n / 3, 2))
        return sympy.Piecewise((n - 1, n <= 3), (3, sympy.Eq(n, 5)), (general, True))
    # han-carlson: the critical path is the fill of the last even column, which reads the
    # Kogge-Stone prefix of odd column c = floor((n-1)/2): 1 + ceil(log2 c) + 1 (the fills run
    # as soon as their odd column is done, alongside Kogge-Stone's last level). For n >= 4,
    # ceil(log2 floor((n-1)/2)) = ceil(log2(n - 2)) - 1.
    return sympy.Piecewise((n - 1, n <= 3), (sympy.ceiling(sympy.log(n - 2, 2)) + 1, True))


def size_formula(topology: str, outputs: str = "all") -> sympy.Expr:
    """Exact size (number of combines) of ``build(n, topology, outputs)`` as a sympy expression
    in ``n = Symbol("n", integer=True, positive=True)``, valid for every n >= 1.

    Closed form except: "sklansky" gives a finite ``Sum`` (substitute n, then ``.doit()``);
    "ladner-fischer" gives the unevaluated ``size_ladner_fischer(n)``, which evaluates itself
    at integer n through ``exact_size``.
    """
    import sympy

    _check(1, topology, outputs)
    n = sympy.Symbol("n", integer=True, positive=True)
    k = sympy.ceiling(sympy.log(n, 2))
    if outputs == "last" or topology == "sequential":
        return n - 1
    if topology == "kogge-stone":
        return n * k - 2**k + 1
    if topology == "brent-kung":
        # Each odd-even step costs 2 floor(m/2) - 1 and recurses on ceil(m/2); the sum
        # telescopes to 2(n - 1) minus one per step.
        return 2 * n - 2 - k
    if topology == "han-carlson":
        # n - 1 for pairs and fills, plus Kogge-Stone on m = floor(n/2) columns, whose
        # ceil(log2 m) is ceil(log2(n - 1)) - 1 for n >= 3.
        l = sympy.ceiling(sympy.log(n - 1, 2)) - 1
        general = n - 1 + sympy.floor(n / 2) * l - 2**l + 1
        return sympy.Piecewise((n - 1, n <= 2), (general, True))
    if topology == "sklansky":
        # Level j+1 holds one combine per column i < n whose bit j is set.
        j = sympy.Symbol("j", integer=True, nonnegative=True)
        block = 2 ** (j + 1)
        ones = 2**j * sympy.floor(n / block) + sympy.Max(0, sympy.Mod(n, block) - 2**j)
        return sympy.Sum(ones, (j, 0, k - 1))
    return _lf_size_function()(n)


@functools.cache
def _lf_size_function() -> type[sympy.Function]:
    import sympy

    def eval_(cls, m):
        if m.is_Integer and m >= 1:
            return sympy.Integer(exact_size("ladner-fischer", "all", int(m)))
        return None

    # Built with type() so sympy prints the function under its snake_case name.
    return type(
        "size_ladner_fischer",
        (sympy.Function,),
        {"eval": classmethod(eval_), "is_integer": True, "is_nonnegative": True},
    )


def exact_size(topology: str, outputs: str, n: int) -> int:
    """Size of ``build(n, topology, outputs)`` computed by arithmetic or by the construction's
    size recursion, without building the network (O(log n) arithmetic)."""
    n = _check(n, topology, outputs)
    k = _ceil_log2(n)
    if outputs == "last" or topology == "sequential":
        return n - 1
    if topology == "kogge-stone":
        return n * k - 2**k + 1
    if topology == "brent-kung":
        return 2 * n - 2 - k
    if topology == "han-carlson":
        m = n // 2
        return n - 1 + (m * _ceil_log2(m) - 2 ** _ceil_log2(m) + 1 if m else 0)
    if topology == "sklansky":
        return sum((n >> (j + 1) << j) + max(0, n % (2 << j) - (1 << j)) for j in range(k))
    return _lf_size(0, n, {})


def _lf_size(k: int, m: int, memo: dict[tuple[int, int], int]) -> int:
    # Mirrors _ladner_fischer: P_0(m) = P_1(ceil) + P_0(floor) + floor(m/2),
    # P_k(m) = 2 floor(m/2) - 1 + P_{k-1}(ceil(m/2)). k is 0 or 1 and each recursion depth
    # sees only floor or ceil of m / 2^depth, so the memo holds O(log m) entries.
    if m < 2:
        return 0
    if (k, m) not in memo:
        half = (m + 1) // 2
        if k == 0:
            memo[k, m] = _lf_size(1, half, memo) + _lf_size(0, m - half, memo) + m - half
        else:
            memo[k, m] = 2 * (m // 2) - 1 + _lf_size(k - 1, half, memo)
    return memo[k, m]
