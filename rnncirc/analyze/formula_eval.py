"""Reading a depth or size formula: its exact value at an integer n, and its text.

Where this sits: in `analyze`, under everything that checks or prints the formulas of
`formulas` and `maxplus` (the profile, the compile report, the tests that compare a formula
with a built circuit at every length).
"""

from __future__ import annotations

import math
import operator
import re
from fractions import Fraction

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


def evaluate_formula(expr, n: int, strict: bool = True) -> int | Fraction:
    """Evaluate a depth/size formula at integer n in exact rational arithmetic.

    With `strict`, a value that is not an integer is an error; otherwise it is returned as
    the `Fraction` it is (a fitted formula being checked).

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
    if not strict and value.denominator != 1:
        return value
    assert value.denominator == 1, (expr, n, value)
    return int(value)


#: small-n cases of a formula listed in its text; past this, the text says where they end
_LISTED_CASES = 8

#: ``style="math"``: how sympy's text of the log2 roundings and products reads in print
_MATH = [(re.compile(r"ceil\(log2\(n\)\)"), "⌈log2 n⌉"),
         (re.compile(r"floor\(log2\(n\)\)"), "⌊log2 n⌋"),
         (re.compile(r"ceil\(log2\(([^()]*)\)\)"), r"⌈log2(\1)⌉"),
         (re.compile(r"floor\(log2\(([^()]*)\)\)"), r"⌊log2(\1)⌋"),
         (re.compile(r"(\d)\*(?=(n\b|[⌈⌊(]))"), r"\1"),
         (re.compile(r"\*"), "·"),
         (re.compile(r"size_ladner_fischer\(n\)"), "LF(n)")]


def format_formula(expr, style: str = "text") -> str:
    """A depth or size formula as people read it: the one formatter of rnncirc's reports,
    profiles, notebooks and figures.

    ``style="text"`` (reports, JSON, the terminal) writes ``4*ceil(log2(n)) + 8``;
    ``style="math"`` (notebooks, figures) writes ``4⌈log2 n⌉ + 8``. A Piecewise of exact
    small-n values is its general branch followed by those values (a long run of them by
    where it ends); Sklansky's size, an exact finite sum, is named Sk(n), and the names a
    formula uses instead of a closed form are defined by `formulas.formula_definitions`.

    >>> import sympy as sp
    >>> n = sp.Symbol("n", integer=True, positive=True)
    >>> depth = sp.Piecewise((6, sp.Eq(n, 1)), (4 * sp.ceiling(sp.log(n) / sp.log(2)) + 8, True))
    >>> format_formula(depth)
    '4*ceil(log2(n)) + 8  (6 if n = 1)'
    >>> format_formula(depth, style="math")
    '4⌈log2 n⌉ + 8  (6 if n = 1)'
    """
    import sympy as sp

    if expr is None:
        return "n/a"
    if isinstance(expr, sp.Piecewise) and expr.args[-1][1] is sp.true:
        general = format_formula(expr.args[-1][0], style)
        cases = [(value, cond) for value, cond in expr.args[:-1]]
        named = [_points(cond) for _, cond in cases]
        points = sorted({k for at in named if at is not None for k in at})
        if len(points) > _LISTED_CASES and all(at is not None for at in named):
            if points == list(range(1, max(points) + 1)):
                where = f"n > {max(points)}; the {len(points)} smaller lengths"
            else:
                where = (f"but n in {{{', '.join(map(str, points[:4]))}, ..., {points[-1]}}}:"
                         f" {len(points)} lengths")
            return f"{general}  ({where}: exact in --json and the profile rows)"
        listed = "; ".join(f"{format_formula(value, style)} if {_condition(cond)}"
                           for value, cond in cases)
        return f"{general}  ({listed})" if cases else general
    if isinstance(expr, sp.Piecewise):
        return "; ".join(f"{format_formula(v, style)} if {_condition(c)}" for v, c in expr.args)
    if isinstance(expr, sp.Basic) and expr.has(sp.Sum):  # Sklansky's size: a finite sum
        n = next(iter(expr.free_symbols), sp.Symbol("n"))
        expr = expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: sp.Function("Sk")(n))
    text = str(expr)
    text = re.sub(r"ceiling\(log\(([^()]*(?:\([^()]*\))?[^()]*)\)/log\(2\)\)", r"ceil(log2(\1))",
                  text)
    text = re.sub(r"floor\(log\(([^()]*(?:\([^()]*\))?[^()]*)\)/log\(2\)\)", r"floor(log2(\1))",
                  text)
    text = text.replace("**", "^")
    if style == "math":
        for pattern, repl in _MATH:
            text = pattern.sub(repl, text)
    return text


def _points(cond) -> list[int] | None:
    """The lengths a condition such as ``Eq(n, 3) | Eq(n, 4)`` names, or None."""
    import sympy as sp

    if isinstance(cond, sp.Eq) and cond.rhs.is_Integer and cond.lhs.is_Symbol:
        return [int(cond.rhs)]
    if isinstance(cond, sp.Or):
        parts = [_points(c) for c in cond.args]
        return None if any(p is None for p in parts) else [k for p in parts for k in p]
    return None


def _condition(cond) -> str:
    import sympy as sp

    if isinstance(cond, sp.Or):
        values = [str(c.rhs) for c in cond.args if isinstance(c, sp.Eq)]
        if len(values) == len(cond.args):
            return "n in {" + ", ".join(sorted(values, key=int)) + "}"
    if isinstance(cond, sp.Eq):
        return f"n = {cond.rhs}"
    return format_formula(cond)
