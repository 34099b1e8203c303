"""Exact depth and size formulas of a program family (`frontend.program`), fitted and checked.

Where this sits: beside `formulas` (one recurrence's family), which it builds on: the same
bases of closed forms (network counts, log2 and power-of-two terms) and the same exact
rational fit, over the union of the networks a program's layers use, each also at n - k for
the program's shifts k. A program is built whole at each fitted length, and a formula stands
only if it also matches the circuits at lengths past the fit.
"""

from __future__ import annotations

import numpy as np

from rnncirc.analyze.formula_eval import evaluate_formula
from rnncirc.analyze.formulas import _basis, _ceil_log2, _fit

#: lengths at which a program is built to fit its formulas: every n up to 72, then both sides
#: of 128 and 256 (a program is built whole at each, so fewer than a single layer's)
_PROGRAM_FIT_LENGTHS = tuple(range(1, 73)) + (96, 100, 124, 127, 128, 129, 133, 160, 200,
                                               252, 255, 256, 257, 260)


def program_formulas(measure, topologies: list[str], outputs: str, first: int = 1,
                     lags: tuple[int, ...] = (0,)):
    """(depth_formula, size_formula) of a program family, exact at every fitted length >= first.

    `measure(n) -> (depth, size)` builds the program's circuit; `topologies` are the networks
    its layers use. A program's size is the sum of its layers' and n times its position-wise
    gates, so the size basis is the union of its layers' bases; a layer read only through
    ``rc.shift(., k)`` loses its last k positions as dead gates, so each basis also appears
    at n - k for the lags k of the program. Its depth is the longest path through the chain of
    layers, which need not be the sum of their depths (a later layer's deepest output need
    not read an earlier layer's deepest one): it is fitted on the same union, not assumed.
    None for a formula no combination matches.
    """
    import sympy as sp

    from rnncirc.lower import prefix

    lengths = np.array([n for n in _PROGRAM_FIT_LENGTHS if n >= first])
    measured = np.array([measure(int(n)) for n in lengths])
    n_sym = sp.Symbol("n", integer=True, positive=True)
    network: dict[str, list[int]] = {}
    depth_terms: list = []
    size_terms: list = []
    # the networks' counts (a segment-sum layer has no network: its plan is not in the basis,
    # and the check past the fit turns down what the basis cannot state)
    for topology in dict.fromkeys(t for t in topologies if t in prefix.TOPOLOGIES
                                  and t != "sequential"):
        for lag in sorted(set(lags)):
            nets = [prefix.build(int(n) - lag, topology, outputs) if n > lag else None
                    for n in lengths]
            key = f"{topology}-{lag}"
            network[f"D:{key}"] = [net.depth if net else 0 for net in nets]
            network[f"S:{key}"] = [net.size if net else 0 for net in nets]
            network[f"P:{key}"] = [sum(int(np.count_nonzero(level.left_lo == 0))
                                       for level in net.levels) if net else 0 for net in nets]
            depth_basis, size_basis = _basis(topology, outputs)
            depth_terms += [_lagged(term, key, lag, n_sym) for term in depth_basis]
            size_terms += [_lagged(term, key, lag, n_sym) for term in size_basis]
    one = (sp.Integer(1), lambda v, net: 1)
    linear = (n_sym, lambda v, net: v)
    # unrolled layers: depth grows by a fixed amount per step, with a short period
    periodic = [(sp.floor(n_sym / j), lambda v, net, j=j: v // j) for j in (2, 3, 4)]
    # chained layers: the path through both is longest where the first layer's deep outputs
    # meet the second's long suffixes, which switches where n - 1 passes j/16 of 2^ceil(log2 n)
    power = 2 ** sp.ceiling(sp.log(n_sym, 2))
    thresholds = [(sp.floor(16 * (n_sym - 1) / (j * power)),
                   lambda v, net, j=j: (16 * (v - 1)) // (j << _ceil_log2(v)))
                  for j in range(9, 16)]
    depth_terms = _distinct([one, linear] + depth_terms + periodic + thresholds)
    size_terms = _distinct([one, linear] + size_terms)
    depth = _fit(measured[:, 0], depth_terms, lengths, network)
    size = _fit(measured[:, 1], size_terms, lengths, network)
    # a basis this wide can match every fitted length and still be wrong past them: a formula
    # stands only if it also gives the measured circuit at lengths it was not fitted on
    for n in _PROGRAM_CHECK_LENGTHS:
        if depth is None and size is None:
            break
        truth = measure(n)
        if depth is not None and evaluate_formula(depth, n, strict=False) != truth[0]:
            depth = None
        if size is not None and evaluate_formula(size, n, strict=False) != truth[1]:
            size = None
    return depth, size


#: lengths past the fit at which a program's fitted formulas are checked
_PROGRAM_CHECK_LENGTHS = (300, 513, 1000)


def _lagged(term, key: str, lag: int, n_sym):
    """A basis term at n - lag, reading its network counts under `key` (0 where n <= lag)."""
    expr, evaluate = term

    def under(v, net, evaluate=evaluate):
        if v <= lag:
            return 0
        return evaluate(v - lag, {"D": net.get(f"D:{key}"), "S": net.get(f"S:{key}"),
                                  "P": net.get(f"P:{key}")})

    return (expr.subs(n_sym, n_sym - lag) if lag else expr), under


def _distinct(terms: list) -> list:
    """The terms with repeated expressions dropped (the first kept)."""
    seen, kept = set(), []
    for expr, evaluate in terms:
        if expr not in seen:
            seen.add(expr)
            kept.append((expr, evaluate))
    return kept
