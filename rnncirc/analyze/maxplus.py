"""Exact depth and size of the sequential unroll as sympy expressions in the sequence length n.

Where this sits: in `analyze`, beside `formulas` (the prefix-lowered and segment-sum
families); the compile report calls `unroll_formulas`.

For the sequential unroll, depth(n) follows a max-plus linear recurrence over the state slots:
L_t[s] = max(c[s], max_j W[s, j] + L_{t-1}[j]), where W[s, j] is the longest path inside one
step from state slot j to output slot s and c[s] the longest path from the step's own inputs.
Such sequences are eventually periodic-linear (max-plus cyclicity), so the depth of every
length is a short transient followed by D(n + p) = D(n) + p*lambda; we simulate the recurrence
(cheap: slots squared per step), find the transient and period, and write the closed form.
"""

from __future__ import annotations

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

    from rnncirc.ir.levels import compute_levels

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
