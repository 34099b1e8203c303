"""Exact depth and size of prefix-lowered and segment-sum circuit families as sympy
expressions in the sequence length n, fitted on a basis of closed forms.

Where this sits: in `analyze`, after lowering; the compile report, the depth profile and
`program_formulas` call `prefix_formulas`. `lower.measure` gives the exact numbers at each
fitted length without building the circuit; the fit solves the basis coefficients exactly.
The sequential unroll's formulas come from a max-plus recurrence instead (`maxplus`);
`formula_eval` evaluates and prints what both produce.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

#: lengths at which prefix-lowered circuits are measured to determine the coefficients: every
#: n up to 72 (a regime may start late: Ladner-Fischer's irregular small cases end at 64), then
#: both sides of 128 and 256, where the near-power-of-two terms switch
_FIT_LENGTHS = tuple(range(1, 73)) + (80, 96, 100, 112, 119, 120, 121, 123, 124, 125, 126, 127,
                                      128, 129, 130, 131, 133, 137, 144, 160, 192, 200,
                                      249, 252, 253, 255, 256, 257, 258, 260)
#: offsets j of the near-power-of-two indicator terms
_NEAR = (1, 2, 3, 4, 6, 8, 12, 16)
#: the latest n at which a fitted regime may start
_LATEST_START = 65


def _ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


def prefix_formulas(measure, topology: str, outputs: str, short_segments: int = 0,
                    matrix: int = 0):
    """(depth_formula, size_formula) of a prefix-lowered family, exact at every fitted length.

    `measure(n) -> (depth, size)` gives the circuit's numbers (`lower.measure` computes them
    exactly without building the circuit). A combine's gates and depth are fixed once its
    segments are longer than a small bound (DPLR: once the rank passes m/2, the segment is
    dense), so size(n) is c0 + c1 n + c2 S(n) + c3 P(n) (S, P: the network's combines, and
    those starting at step 0, which build no A part) plus terms that count the combines of
    short segments, and depth(n) is d0 + d1 D(n) + d2 ceil(log2 n) plus terms that switch near
    powers of two (paths through the last columns of a Kogge-Stone level are longer when A
    and B deepen at different rates). The basis holds closed forms for these: floor(n/2^j),
    [n > 2^K - j] and [n <= 2^(K-1) + j] for small j (K = ceil(log2 n)); its coefficients are
    solved exactly over the fitted lengths from the first n of the regime on, and lengths
    before it become Piecewise branches. Returns None for a formula no basis combination
    matches at every fitted length.

    `short_segments` = c > 0 (DPLR) adds the terms that count combines by the length of their
    segments below c, where a DPLR combine's cost still depends on the rank
    (`_segment_terms`). `matrix` = d > 0: a segment-sum family built with d x d matrices
    (`segment_formulas`).
    """
    from rnncirc.lower import prefix, segment_sum

    if topology in segment_sum.TOPOLOGIES:
        return segment_formulas(measure, topology, outputs, matrix)
    lengths = np.array(_FIT_LENGTHS)
    measured = np.array([measure(int(n)) for n in lengths])
    nets = [prefix.build(int(n), topology, outputs) for n in lengths]
    network = {"S": [net.size for net in nets], "D": [net.depth for net in nets],
               "P": [sum(int(np.count_nonzero(level.left_lo == 0)) for level in net.levels)
                     for net in nets]}
    depth_terms, size_terms = _basis(topology, outputs)
    if short_segments:
        size_terms = size_terms + _segment_terms(topology, outputs, short_segments)
    depth = _fit(measured[:, 0], depth_terms, lengths, network)
    size = _fit(measured[:, 1], size_terms, lengths, network)
    return depth, size


def segment_formulas(measure, topology: str, outputs: str, matrix: int = 0):
    """(depth_formula, size_formula) of a segment-sum family, exact at every fitted length.

    A segment-sum circuit has no prefix network; its depth and its counts of A products, B
    products and B sums per channel come from its plan (`lower.segment_sum`,
    `lower.segment_hybrid`), whose block patterns a dynamic program picks: no closed form is
    known. Like ``size_ladner_fischer(n)`` they are unevaluated functions, exact at integer n
    (``segment_sum_depth(n)`` etc.), and the circuit's depth is fitted as d0 + D(n) and its
    size as c0 + c1 n + the counts times their gates per channel (a non-zero h_0 is one more
    step in front, so the same functions at n + 1 are in the basis too). None where no
    combination matches every fitted length. `matrix` = d > 0: the plan of d x d matrices
    (`lower.segment_matrix`; ``segment_sum_d2_depth(n)`` etc., one plan for both topologies).
    """
    import sympy as sp

    lengths = np.array(_FIT_LENGTHS)
    measured = np.array([measure(int(v)) for v in lengths])
    n = sp.Symbol("n", integer=True, positive=True)
    one = (sp.Integer(1), lambda v, net: 1)
    depth, size = [one], [one, (n, lambda v, net: v)]
    for front in (0, 1):
        for count in _SEGMENT_COUNTS:
            function = _segment_count_function(topology, outputs, count, matrix)

            def value(v, net, function=function, front=front):
                return int(function(sp.Integer(v + front)))

            (depth if count == "depth" else size).append((function(n + front), value))
    return _fit(measured[:, 0], depth, lengths, {}), _fit(measured[:, 1], size, lengths, {})


_SEGMENT_COUNTS = ("depth", "a_products", "b_products", "b_sums")


@functools.cache
def _segment_count_function(topology: str, outputs: str, count: str, matrix: int = 0):
    import sympy as sp

    def eval_(cls, m):
        if m.is_Integer and m >= 1:
            return sp.Integer(_segment_count(topology, outputs, count, int(m), matrix))
        return None

    family = f"segment_sum_d{matrix}" if matrix else topology.replace('-', '_')
    name = f"{family}{'_last' if outputs == 'last' else ''}_{count}"
    return type(name, (sp.Function,), {"eval": classmethod(eval_), "is_integer": True,
                                       "is_nonnegative": True})


def _segment_count(topology: str, outputs: str, count: str, n: int, matrix: int = 0) -> int:
    from rnncirc.lower.segment_lower import plan_of
    from rnncirc.lower.segment_matrix import matrix_plan
    from rnncirc.lower.segment_optimal import optimal_depth

    if count == "depth" and topology == "segment-sum-optimal" and not matrix:
        return optimal_depth(n)  # the plan's depth, beta*(n), read from the table
    plan = matrix_plan(n, outputs, matrix) if matrix else plan_of(topology, n, outputs)
    if count == "depth":
        return plan.depth
    return plan.gates({"a_products": "aa", "b_products": "ab", "b_sums": "bb"}[count])


def _basis(topology: str, outputs: str):
    """(depth terms, size terms): pairs (sympy expression, exact value at integer n)."""
    import sympy as sp

    from rnncirc.lower import prefix

    n = sp.Symbol("n", integer=True, positive=True)
    k = sp.ceiling(sp.log(n, 2))
    power = 2**k
    one = (sp.Integer(1), lambda v, net: 1)
    ceil_log = (k, lambda v, net: _ceil_log2(v))
    floor_log = (sp.floor(sp.log(n, 2)), lambda v, net: v.bit_length() - 1)
    near = [(sp.floor((n + j - 1) / power), lambda v, net, j=j: (v + j - 1) >> _ceil_log2(v))
            for j in _NEAR]
    above = [(sp.floor((power / 2 + j) / n),
              lambda v, net, j=j: _floor_fraction(Fraction(2) ** _ceil_log2(v) / 2 + j, v))
             for j in _NEAR]
    halves = [(sp.floor(n / 2**j), lambda v, net, j=j: v >> j) for j in range(1, 6)]
    depth = [one, (prefix.depth_formula(topology, outputs), lambda v, net: net["D"]),
             ceil_log, floor_log] + near + above
    size = [one, (n, lambda v, net: v),
            (prefix.size_formula(topology, outputs), lambda v, net: net["S"]),
            (_starts_formula(topology, outputs, n), lambda v, net: net["P"]),
            ceil_log, (n * k, lambda v, net: v * _ceil_log2(v)),
            (power, lambda v, net: 1 << _ceil_log2(v))] + halves + near + above
    return depth, size


def _segment_terms(topology: str, outputs: str, clip: int) -> list:
    """Closed forms that count a network's combines by segment length below `clip`.

    Sklansky, level l: column i (bit l-1 set) joins [.., 2^(l-1)) of length 2^(l-1) with a
    newer segment of length b = (i mod 2^(l-1)) + 1, for floor((n + 2^(l-1) - b) / 2^l)
    columns. The reduction tree (outputs="last"), level l: ceil(n / 2^(l-1)) values pair up;
    all have length 2^(l-1) but the last, of length ((n-1) mod 2^(l-1)) + 1, which is paired
    iff bit l-1 of n-1 is set. Below the first level whose segments reach `clip`, each level's
    counts are floor((n + j) / 2^l); above it, only segments shorter than `clip` need a term
    each (as finite sums over the levels).
    """
    import sympy as sp

    if topology == "ladner-fischer" and outputs == "all":
        return _ladner_fischer_segment_terms(clip)
    if topology != "sklansky" and outputs != "last":
        return []
    n = sp.Symbol("n", integer=True, positive=True)
    level = sp.Symbol("l", integer=True, positive=True)
    k = sp.ceiling(sp.log(n, 2))
    first_long = (clip - 1).bit_length() + 1  # first level whose older segment is >= clip
    terms = [(sp.floor((n + j) / 2**l), lambda v, net, j=j, l=l: (v + j) >> l)
             for l in range(1, first_long) for j in range(2**l)]
    half = 2 ** (level - 1)
    for b in range(1, clip):
        if outputs == "last":
            body = sp.Piecewise((1, sp.Eq(sp.Mod(n - 1, 2 * half), half + b - 1)), (0, True))
        else:
            body = sp.floor((n + half - b) / (2 * half))
        terms.append((sp.Sum(body, (level, first_long, k)),
                      functools.partial(_long_level_count, outputs, b, first_long)))
    if outputs == "last":  # the top level's one combine starts at step 0: its own class
        top = sp.Mod(n - 1, 2 ** (k - 1)) + 1
        terms += [(sp.Piecewise((1, sp.Eq(top, b)), (0, True)),
                   lambda v, net, b=b: int(_top_segment(v) == b)) for b in range(1, clip)]
    return terms


#: aggregate counts over Ladner-Fischer combines (a, b: older and newer segment lengths, L the
#: longest low-rank length): what a DPLR combine's cost is linear in, per region
_LF_COUNTS = ("low_rank_combines", "low_rank_older", "low_rank_newer", "low_rank_products",
              "dense_older_converted", "dense_older_converted_length",
              "dense_newer_converted", "dense_newer_converted_length",
              "short_newer", "short_newer_length")


def _ladner_fischer_segment_terms(clip: int) -> list:
    """Counts of Ladner-Fischer combines by segment length, as exact sympy functions of n.

    The network's own size has no closed form (`prefix.size_formula`: a floor/ceil
    recursion), nor have these counts; like `size_ladner_fischer(n)` they are unevaluated
    functions that evaluate exactly at integer n (from the network's index arrays). A DPLR
    combine of segments a (older) and b (newer) costs a bilinear polynomial in (a, b) while
    a + b <= L (low rank), a dense product plus a linear conversion of each operand of length
    <= L otherwise, and its B part a cost linear in b while b <= L.
    """
    import sympy as sp

    n = sp.Symbol("n", integer=True, positive=True)
    low = clip - 2  # segment_clip = L + 2
    terms = []
    for index, name in enumerate(_LF_COUNTS):
        function = _network_count_function(f"ladner_fischer_{name}", index, low)
        terms.append((function(n), lambda v, net, index=index, low=low:
                      _ladner_fischer_counts(v, low)[index]))
    return terms


@functools.cache
def _network_count_function(name: str, index: int, low: int):
    import sympy as sp

    def eval_(cls, m):
        if m.is_Integer and m >= 1:
            return sp.Integer(_ladner_fischer_counts(int(m), low)[index])
        return None

    return type(name, (sp.Function,), {"eval": classmethod(eval_), "is_integer": True,
                                       "is_nonnegative": True})


@functools.lru_cache(maxsize=4096)
def _ladner_fischer_counts(n: int, low: int) -> tuple[int, ...]:
    from rnncirc.lower import prefix

    net = prefix.build(n, "ladner-fischer", "all")
    if not net.levels:
        return (0,) * len(_LF_COUNTS)
    cat = {name: np.concatenate([getattr(lv, name) for lv in net.levels])
           for name in ("left_lo", "left_hi", "right_lo", "right_hi")}
    a = cat["left_hi"] - cat["left_lo"] + 1
    b = cat["right_hi"] - cat["right_lo"] + 1
    compose = cat["left_lo"] > 0
    low_pair = compose & (a + b <= low)
    dense = compose & ~low_pair
    short_b = b <= low
    return (int(low_pair.sum()), int(a[low_pair].sum()), int(b[low_pair].sum()),
            int((a * b)[low_pair].sum()), int((dense & (a <= low)).sum()),
            int(a[dense & (a <= low)].sum()), int((dense & short_b).sum()),
            int(b[dense & short_b].sum()), int(short_b.sum()), int(b[short_b].sum()))


def _long_level_count(outputs: str, b: int, first_long: int, v: int, net) -> int:
    """The value of one `_segment_terms` Sum over the levels at n = v, in integers."""
    levels = range(first_long, _ceil_log2(v) + 1)
    if outputs == "last":
        return sum(int((v - 1) % (2 << (l - 1)) == (1 << (l - 1)) + b - 1) for l in levels)
    return sum((v + (1 << (l - 1)) - b) >> l for l in levels)


def _top_segment(v: int) -> int:
    """((v - 1) mod 2^(K-1)) + 1 with K = ceil(log2 v), as the formula computes it (K = 0: 1)."""
    k = _ceil_log2(v)
    return 1 if k == 0 else (v - 1) % (1 << (k - 1)) + 1


def _floor_fraction(x: Fraction, v: int) -> int:
    return math.floor(x / v)


def _starts_formula(topology: str, outputs: str, n_sym):
    """Combines whose left segment starts at step 0 (each builds a new output prefix)."""
    import sympy as sp

    if outputs == "all":
        return n_sym - 1
    return sp.ceiling(sp.log(n_sym, 2))


def _fit(values: np.ndarray, terms: list, lengths: np.ndarray, network: dict):
    """Exact rational fit of values on the terms over lengths >= n0, n0 minimal."""
    import sympy as sp

    n_sym = sp.Symbol("n", integer=True, positive=True)
    columns = np.array([[evaluate(int(v), {key: network[key][i] for key in network})
                         for _, evaluate in terms] for i, v in enumerate(lengths)],
                       dtype=object)
    for start in range(len(lengths)):
        if int(lengths[start]) > _LATEST_START:
            break
        rows = slice(start, None)
        chosen = _independent(columns[rows])
        approx = columns[rows][:, chosen].astype(np.float64)
        guess, *_ = np.linalg.lstsq(approx, values[rows].astype(np.float64), rcond=None)
        if np.abs(approx @ guess - values[rows]).max() > 1e-6 * max(1, np.abs(values).max()):
            continue  # no exact fit from this start: skip the rational solve
        coef = _exact_least_squares(columns[rows][:, chosen].tolist(),
                                    [int(v) for v in values[rows]])
        if coef is None:
            continue
        tail = sum((sp.Rational(c.numerator, c.denominator) * terms[j][0]
                    for c, j in zip(coef, chosen, strict=True) if c != 0), sp.Integer(0))
        if start == 0:
            return tail
        # every length before the regime is listed (the fitted lengths start contiguous)
        head = [(int(values[i]), sp.Eq(n_sym, int(lengths[i]))) for i in range(start)]
        return sp.Piecewise(*head, (tail, True))
    return None


def _exact_least_squares(rows: list[list], target: list[int]) -> list[Fraction] | None:
    """x with ``rows @ x == target`` exactly, for integer rows (solved from the normal
    equations in Fractions), or None when the columns are dependent or no x fits every row.
    (sympy's LUsolve on the same integers took ~0.5 s a fit, a quarter of `rnncirc
    compile`'s time; these systems have a handful of columns.)"""
    k = len(rows[0]) if rows else 0
    normal = [[Fraction(sum(int(r[i]) * int(r[j]) for r in rows)) for j in range(k)]
              + [Fraction(sum(int(r[i]) * t for r, t in zip(rows, target, strict=True)))]
              for i in range(k)]
    for col in range(k):  # Gauss-Jordan, exact
        pivot = next((i for i in range(col, k) if normal[i][col] != 0), None)
        if pivot is None:
            return None
        normal[col], normal[pivot] = normal[pivot], normal[col]
        lead = normal[col][col]
        normal[col] = [x / lead for x in normal[col]]
        for i in range(k):
            if i != col and normal[i][col] != 0:
                factor = normal[i][col]
                normal[i] = [x - factor * y for x, y in zip(normal[i], normal[col],
                                                            strict=True)]
    coef = [normal[i][k] for i in range(k)]
    fits = all(sum(int(v) * c for v, c in zip(r, coef, strict=True)) == t
               for r, t in zip(rows, target, strict=True))
    return coef if fits else None


def _independent(columns: np.ndarray) -> list[int]:
    """Indices of a maximal set of linearly independent columns, earliest (simplest) first."""
    matrix = columns.astype(np.float64)
    chosen: list[int] = []
    for j in range(matrix.shape[1]):
        trial = chosen + [j]
        if np.linalg.matrix_rank(matrix[:, trial]) == len(trial):
            chosen = trial
    return chosen


def formula_definitions(*texts: str) -> list[str]:
    """One line defining each network count a formula names instead of a closed form.

    >>> formula_definitions("304*n + 48*size_ladner_fischer(n) - 32")[0][:48]
    'size_ladner_fischer(n): the combines of the Ladn'
    """
    import re

    pattern = r"(?<![A-Za-z_])(size_ladner_fischer|ladner_fischer_\w+|LF|Sk)\(n\)"
    names = sorted({m for text in texts if text for m in re.findall(pattern, text)})
    segment = r"(?<![A-Za-z_])(segment_sum\w*)\(n(?: \+ 1)?\)"
    lines = []
    for name in sorted({m for text in texts if text for m in re.findall(segment, text)}):
        plan = "segment_hybrid.hybrid_plan" if "optimal" in name else "segment_sum.plan"
        what = {"depth": "depth", "a_products": "A products", "b_products": "B products",
                "b_sums": "B sums"}[next(c for c in _SEGMENT_COUNTS if name.endswith(c))]
        of = "(per channel) of the plan over n steps"
        if matrix := re.match(r"segment_sum_d(\d+)_", name):  # built with d x d matrices
            d = int(matrix.group(1))
            plan = "segment_matrix.matrix_plan"
            of = f"of the plan over n steps for {d} x {d} matrices"
            if what != "depth":
                of += (f" (an A product is {d * d * (2 * d - 1)} gates, a B product or sum "
                       "one per entry of the state)")
        if "optimal" in name and what == "depth" and not matrix:
            lines.append(f"{name}(n): beta*(n), the least depth of h_n in the segment-sum "
                         "family and the plan's depth, from a dynamic program, no closed "
                         "form (exact: rnncirc.lower.segment_optimal.optimal_depth)")
            continue
        lines.append(f"{name}(n): the {what} {of}, from a dynamic program, no closed form "
                     f"(exact: rnncirc.lower.{plan})")
    for name in names:
        if name == "Sk":
            lines.append("Sk(n): the combines of the Sklansky prefix network on n leaves, the "
                         "number of one bits in 0..n-1 (an exact finite sum)")
        elif name in ("size_ladner_fischer", "LF"):
            lines.append(f"{name}(n): the combines of the Ladner-Fischer prefix network on n "
                         "leaves (n - 1 to 4n; exact: rnncirc.lower.prefix.exact_size)")
        else:
            kind = name.removeprefix("ladner_fischer_").replace("_", " ")
            lines.append(f"{name}(n): the Ladner-Fischer network's count of {kind} on n "
                         "leaves (exact, from the network)")
    return lines
