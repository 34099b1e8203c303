"""Exact depth and size of a circuit family as sympy expressions in the sequence length n.

For the sequential unroll, depth(n) follows a max-plus linear recurrence over the state slots:
L_t[s] = max(c[s], max_j W[s, j] + L_{t-1}[j]), where W[s, j] is the longest path inside one
step from state slot j to output slot s and c[s] the longest path from the step's own inputs.
Such sequences are eventually periodic-linear (max-plus cyclicity), so the depth of every
length is a short transient followed by D(n + p) = D(n) + p*lambda; we simulate the recurrence
(cheap: slots squared per step), find the transient and period, and write the closed form.
"""

from __future__ import annotations

import math
import operator
from fractions import Fraction

import numba
import numpy as np

from rnncirc.ir.ops import ARITY, Op

_UNREACHABLE = -(2**30)
#: longest horizon simulated when looking for the periodic regime
_HORIZON = 1024


@numba.njit(cache=True, nogil=True)
def _longest_from_sources(op, a, b, c, arity, source, n_sources):
    """dist[i, k]: longest path (in gates) from source k to row i; _UNREACHABLE if none."""
    rows = len(op)
    dist = np.full((rows, n_sources), -(2**30), dtype=np.int32)
    for i in range(rows):
        if arity[op[i]] == 0:
            dist[i, source[i]] = 0
            continue
        for k in range(n_sources):
            best = dist[a[i], k]
            if arity[op[i]] >= 2 and dist[b[i], k] > best:
                best = dist[b[i], k]
            if arity[op[i]] >= 3 and dist[c[i], k] > best:
                best = dist[c[i], k]
            if best > -(2**30):
                dist[i, k] = best + 1
    return dist


def step_maxplus(rows: dict, outputs: np.ndarray, state_size: int) -> tuple[np.ndarray, ...]:
    """(W, c) of one step template: longest paths from each state slot / from the inputs."""
    op = rows["op"]
    source = np.where(op == Op.STATE, rows["a"], state_size).astype(np.int64)
    dist = _longest_from_sources(op, rows["a"], rows["b"], rows["c"], ARITY, source,
                                 state_size + 1)[outputs]
    return dist[:, :state_size], dist[:, state_size]


def unroll_depths(first_levels: np.ndarray, weights: np.ndarray, ground: np.ndarray,
                  horizon: int) -> np.ndarray:
    """Max output level of each step t = 1..horizon (per-step, not cumulative)."""
    levels = first_levels.astype(np.int64)
    per_step = np.empty(horizon, dtype=np.int64)
    per_step[0] = levels.max(initial=0)
    for t in range(1, horizon):
        levels = np.maximum(ground, (weights + levels[None, :]).max(axis=1, initial=_UNREACHABLE))
        levels = np.maximum(levels, 0)
        per_step[t] = levels.max(initial=0)
    return per_step


def eventually_periodic(seq: np.ndarray, max_period: int = 64) -> tuple[int, int, int]:
    """(t0, p, delta) with seq[t + p] - seq[t] == delta for all t >= t0 (0-based), t0 minimal.

    Prefers the smallest period; requires the regime to cover at least the last half.
    """
    n = len(seq)
    for p in range(1, min(max_period, n // 2) + 1):
        diff = seq[p:] - seq[:-p]
        delta = diff[-1]
        bad = np.flatnonzero(diff != delta)
        t0 = int(bad[-1]) + 1 if len(bad) else 0
        if t0 <= n // 2 - p:
            return t0, p, int(delta)
    raise ValueError("no periodic regime found")


def periodic_formula(seq: np.ndarray, t0: int, p: int, delta: int):
    """Sympy expression in n (1-based) equal to seq[n-1] for every n >= 1."""
    import sympy as sp

    n = sp.Symbol("n", integer=True, positive=True)
    start = t0 + 1  # first 1-based n of the periodic regime
    if p == 1:
        tail = sp.Integer(int(seq[t0])) + delta * (n - start)
    else:
        r = sp.Mod(n - start, p)
        pieces = [(int(seq[t0 + k]) + sp.Rational(delta, p) * (n - start - k), sp.Eq(r, k))
                  for k in range(p - 1)]
        tail = sp.Piecewise(*pieces, (int(seq[t0 + p - 1]) + sp.Rational(delta, p)
                                      * (n - start - (p - 1)), True))
    if start == 1:
        return sp.simplify(tail) if p == 1 else tail
    head = [(int(seq[k]), sp.Eq(n, k + 1)) for k in range(t0)]
    return sp.Piecewise(*head, (sp.expand(tail), True))


def unroll_formulas(first, step, state_size: int, outputs: str = "all"):
    """(depth_formula, size_formula) for the sequential unroll built from two templates.

    `first` and `step` are `rnncirc.lower.unroll.Template` objects. Returns None for a formula
    that cannot be stated exactly (an outputs="last" circuit whose early steps lose gates).
    """
    import sympy as sp

    from rnncirc.analyze.levels import compute_levels

    n = sp.Symbol("n", integer=True, positive=True)
    first_rows = first.rows
    first_levels = compute_levels(first_rows["op"], first_rows["a"], first_rows["b"],
                                  first_rows["c"], ARITY)[first.outputs]
    weights, ground = step_maxplus(step.rows, step.outputs, state_size)
    horizon = min(_HORIZON, max(64, int(4e8 // max(1, state_size**2))))
    per_step = unroll_depths(first_levels, weights, ground, horizon)
    every_slot_feeds_next = bool(np.all((weights > _UNREACHABLE).any(axis=0)))
    if outputs == "all":
        depth_seq = np.maximum.accumulate(per_step)
    else:
        depth_seq = per_step
    t0, p, delta = eventually_periodic(depth_seq)
    depth = periodic_formula(depth_seq, t0, p, delta)
    if outputs == "last" and not every_slot_feeds_next:
        return depth, None
    size = sp.expand(first.gates + (n - 1) * step.gates)
    return depth, size


#: lengths at which prefix-lowered circuits are built to determine the coefficients
_FIT_LENGTHS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 16, 17, 21, 24, 31, 32, 33, 40, 48, 63, 64)


def _ceil_log2(n: int) -> int:
    return (n - 1).bit_length()


def prefix_formulas(measure, topology: str, outputs: str):
    """(depth_formula, size_formula) of a prefix-lowered family, exact at every fitted length.

    `measure(n) -> (depth, size)` builds the circuit. The circuit is the network's combines
    with a fixed gate cost and depth per combine, plus per-step leaves, so
    size(n) = c0 + c1 n + c2 S(n) + c3 P(n) and depth(n) = d0 + d1 D(n) (+ d2 ceil(log2 n)),
    with S, D the network's size and depth and P the combines that start at step 0 (they
    build no A part). The coefficients are solved exactly from built circuits and checked on
    every fitted length; lengths before the regime starts become Piecewise branches.
    """
    import sympy as sp

    from rnncirc.lower import prefix

    n_sym = sp.Symbol("n", integer=True, positive=True)
    lengths = np.array(_FIT_LENGTHS)
    measured = np.array([measure(int(n)) for n in lengths])
    nets = [prefix.build(int(n), topology, outputs) for n in lengths]
    net_size = np.array([net.size for net in nets])
    net_depth = np.array([net.depth for net in nets])
    starts = np.array([sum(int(np.count_nonzero(level.left_lo == 0)) for level in net.levels)
                       for net in nets])
    logs = np.array([_ceil_log2(int(n)) for n in lengths])
    floor_logs = np.array([int(n).bit_length() - 1 for n in lengths])
    ones = np.ones(len(lengths))
    size_basis = [ones, lengths, net_size, starts]
    depth_basis = [ones, net_depth, logs, floor_logs]
    size_exprs = [sp.Integer(1), n_sym, prefix.size_formula(topology, outputs),
                  _starts_formula(topology, outputs, n_sym)]
    depth_exprs = [sp.Integer(1), prefix.depth_formula(topology, outputs),
                   sp.ceiling(sp.log(n_sym, 2)), sp.floor(sp.log(n_sym, 2))]
    depth = _fit(measured[:, 0], depth_basis, depth_exprs, lengths, n_sym)
    size = _fit(measured[:, 1], size_basis, size_exprs, lengths, n_sym)
    return depth, size


def _starts_formula(topology: str, outputs: str, n_sym):
    """Combines whose left segment starts at step 0 (each builds a new output prefix)."""
    import sympy as sp

    if outputs == "all":
        return n_sym - 1
    return sp.ceiling(sp.log(n_sym, 2))


def _fit(values: np.ndarray, basis: list[np.ndarray], exprs: list, lengths: np.ndarray,
         n_sym):
    """Exact integer/rational fit of values on the basis over lengths >= n0, n0 minimal."""
    from fractions import Fraction

    import sympy as sp

    matrix = np.stack(basis, axis=1).astype(float)
    for start in range(len(lengths) - 4):
        rows = slice(start, None)
        coef, *_ = np.linalg.lstsq(matrix[rows], values[rows].astype(float), rcond=None)
        exact = [Fraction(c).limit_denominator(64) for c in coef]
        predicted = [sum(c * int(b) for c, b in zip(exact, row, strict=True))
                     for row in matrix[rows].astype(np.int64)]
        if predicted != [int(v) for v in values[rows]]:
            continue
        tail = sum((sp.Rational(c.numerator, c.denominator) * e
                    for c, e in zip(exact, exprs, strict=True) if c != 0), sp.Integer(0))
        if start == 0:
            return tail
        head = [(int(values[i]), sp.Eq(n_sym, int(lengths[i]))) for i in range(start)]
        first_regular = int(lengths[start])
        gaps = [n for n in range(1, first_regular) if n not in lengths[:start]]
        if gaps:
            continue  # every length before the regime must be listed exactly
        return sp.Piecewise(*head, (tail, True))
    return None


_RELATIONS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _floor_log2(x: Fraction) -> int:
    k = x.numerator.bit_length() - x.denominator.bit_length()
    while Fraction(2) ** k > x:
        k -= 1
    while Fraction(2) ** (k + 1) <= x:
        k += 1
    return k


def evaluate_formula(expr, n: int) -> int:
    """Evaluate a depth/size formula at integer n in exact rational arithmetic.

    sympy's own ``expr.subs(n, v)`` is exact too but takes milliseconds per call (its
    ceiling/floor of a log ratio goes through evalf), and it goes wrong for n beyond about 2^31.
    """
    import sympy as sp

    def ev(e, env: dict) -> Fraction:
        if e.is_Number:
            return Fraction(int(e.p), int(e.q))
        if e.is_Symbol:
            return env[e]
        if isinstance(e, sp.Add):
            return sum((ev(a, env) for a in e.args), Fraction(0))
        if isinstance(e, sp.Mul):
            return math.prod((ev(a, env) for a in e.args), start=Fraction(1))
        if isinstance(e, sp.Pow):
            exponent = ev(e.exp, env)
            assert exponent.denominator == 1, e
            return ev(e.base, env) ** int(exponent)
        if isinstance(e, sp.floor | sp.ceiling):
            ratio = e.args[0] * sp.log(2)
            if isinstance(ratio, sp.log):  # floor/ceiling of log2(x): exact integer log
                x = ev(ratio.args[0], env)
                k = _floor_log2(x)
                up = isinstance(e, sp.ceiling) and Fraction(2) ** k != x
                return Fraction(k + up)
            x = ev(e.args[0], env)
            return Fraction(math.floor(x) if isinstance(e, sp.floor) else math.ceil(x))
        if isinstance(e, sp.Max | sp.Min):
            pick = max if isinstance(e, sp.Max) else min
            return pick(ev(a, env) for a in e.args)
        if isinstance(e, sp.Mod):
            return ev(e.args[0], env) % ev(e.args[1], env)
        if isinstance(e, sp.Piecewise):
            for value, cond in e.args:
                if cond is sp.true or truth(cond, env):
                    return ev(value, env)
            raise AssertionError(f"no branch of {e} holds")
        if isinstance(e, sp.Sum):
            (var, lo, hi), body = e.limits[0], e.function
            lo, hi = int(ev(lo, env)), int(ev(hi, env))
            return sum(
                (ev(body, {**env, var: Fraction(j)}) for j in range(lo, hi + 1)), Fraction(0)
            )
        if isinstance(e, sp.log):
            raise AssertionError(f"log outside floor/ceiling: {e}")
        if isinstance(e, sp.Function):  # e.g. size_ladner_fischer(n): evaluates at integers
            value = e.func(*(sp.Integer(int(ev(a, env))) for a in e.args))
            assert value.is_Integer, value
            return Fraction(int(value))
        raise TypeError(f"no exact rule for {type(e).__name__}: {e}")

    def truth(cond, env: dict) -> bool:
        if isinstance(cond, sp.And):
            return all(truth(c, env) for c in cond.args)
        if isinstance(cond, sp.Or):
            return any(truth(c, env) for c in cond.args)
        return _RELATIONS[cond.rel_op](ev(cond.lhs, env), ev(cond.rhs, env))

    env = {symbol: Fraction(n) for symbol in expr.free_symbols}  # the one symbol n
    value = ev(expr, env)
    assert value.denominator == 1, (expr, n, value)
    return int(value)


def format_formula(expr) -> str:
    """A formula as people write it: ceil(log2(n)) instead of ceiling(log(n)/log(2)), and
    the small-n cases of a Piecewise listed after the general case."""
    import re

    import sympy as sp

    if expr is None:
        return "n/a"
    if isinstance(expr, sp.Piecewise) and expr.args[-1][1] is sp.true:
        general = format_formula(expr.args[-1][0])
        cases = []
        for value, cond in expr.args[:-1]:
            cases.append(f"{format_formula(value)} if {_condition(cond)}")
        return f"{general}  ({'; '.join(cases)})" if cases else general
    text = str(expr)
    text = re.sub(r"ceiling\(log\(([^()]*(?:\([^()]*\))?[^()]*)\)/log\(2\)\)", r"ceil(log2(\1))",
                  text)
    text = re.sub(r"floor\(log\(([^()]*(?:\([^()]*\))?[^()]*)\)/log\(2\)\)", r"floor(log2(\1))",
                  text)
    return text.replace("**", "^")


def _condition(cond) -> str:
    import sympy as sp

    if isinstance(cond, sp.Or):
        values = [str(c.rhs) for c in cond.args if isinstance(c, sp.Eq)]
        if len(values) == len(cond.args):
            return "n in {" + ", ".join(sorted(values, key=int)) + "}"
    if isinstance(cond, sp.Eq):
        return f"n = {cond.rhs}"
    return format_formula(cond)
