"""Counts that users of other circuit tools expect: multiplicative depth, non-constant
multiplications, and depth per op kind.

Where this sits: an analysis of a finished `Circuit` (after lowering), next to levels and
depth. Each count is one forward Numba scan over the struct-of-arrays circuit; Python never
loops over gates.

What is counted, and why:

* **Non-constant multiplication**: a product whose two operands both depend on an input (a
  constant is a CONST row, or a gate of constants only). Multiplying by a weight is free in
  both communities that count these: a plaintext-ciphertext product consumes no level in
  homomorphic encryption, and ``c * x`` folds into a linear combination in R1CS. Two more
  gates cost one such product: ``a / b`` with a non-constant divisor (one constraint
  ``q * b = a``; in HE an inverse is at least one product), and ``where(c, a, b)`` with a
  non-constant condition and a non-constant branch (``c * (a - b) + b``).
* **Multiplicative depth**: the largest number of non-constant multiplications on one path
  from an input to an output; how homomorphic-encryption users count levels.
* **Non-constant multiplications**: how many such gates the circuit has; the number of R1CS
  constraints that zero-knowledge users pay for (additions are free there).
* **Depth per op**: for each op kind, the most gates of that kind on one input-to-output path
  (e.g. how many ``tanh`` a value passes through). Kinds are counted on their own longest
  path, so the numbers need not add up to the depth.

Non-polynomial gates (tanh, exp, comparisons, max, ...) are not multiplications here: neither
community can use them as they stand, and they are reported by kind in ``op_counts`` and
`depth_per_op`.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.ir.kernel_cache import cached
from rnncirc.ir.ops import ARITY, N_OPS, OP_NAMES, Op

_INPUT, _MUL, _DIV, _SELECT = int(Op.INPUT), int(Op.MUL), int(Op.DIV), int(Op.SELECT)


@cached
@numba.njit(nogil=True)
def _multiplicative_scan(op, a, b, c, arity):
    """Per row: (multiplicative level, is a non-constant multiplication)."""
    rows = len(op)
    variable = np.zeros(rows, dtype=np.bool_)
    level = np.zeros(rows, dtype=np.int32)
    flag = np.zeros(rows, dtype=np.bool_)
    for i in range(rows):
        k = arity[op[i]]
        if k == 0:
            variable[i] = op[i] == _INPUT
            continue
        va = variable[a[i]]
        vb = variable[b[i]] if k >= 2 else False
        vc = variable[c[i]] if k >= 3 else False
        best = level[a[i]]
        if k >= 2 and level[b[i]] > best:
            best = level[b[i]]
        if k >= 3 and level[c[i]] > best:
            best = level[c[i]]
        o = op[i]
        costs = (o == _MUL and va and vb) or (o == _DIV and vb) or \
            (o == _SELECT and va and (vb or vc))
        variable[i] = va or vb or vc
        flag[i] = costs
        level[i] = best + 1 if costs else best
    return level, flag


@numba.njit(cache=True, nogil=True)
def _op_levels(op, a, b, c, arity, weight):
    """Per row: the most gates of weight 1 on one path ending there (weight: per op code)."""
    rows = len(op)
    level = np.zeros(rows, dtype=np.int32)
    for i in range(rows):
        k = arity[op[i]]
        if k == 0:
            continue
        best = level[a[i]]
        if k >= 2 and level[b[i]] > best:
            best = level[b[i]]
        if k >= 3 and level[c[i]] > best:
            best = level[c[i]]
        level[i] = best + weight[op[i]]
    return level


def multiplicative_scan(circuit) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `circuit`: its multiplicative level and whether it is a non-constant product.

    The building block of `multiplicative_depth` and `nonconstant_multiplications`, for
    callers that aggregate per step or per level themselves (e.g. the depth profile).
    """
    return _multiplicative_scan(circuit.op, circuit.a, circuit.b, circuit.c, ARITY)


def multiplicative_depth(circuit) -> int:
    """The most non-constant multiplications on one input-to-output path (HE levels).

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def product(h, x):
    ...     return 0.5 * h * x + x
    >>> multiplicative_depth(rc.compile(product, 4, topology="sequential"))
    3
    """
    level, _ = multiplicative_scan(circuit)
    return int(level[circuit.outputs.ravel()].max(initial=0))


def nonconstant_multiplications(circuit) -> int:
    """How many gates multiply two non-constant values (the R1CS constraint count): MUL of
    two non-constant operands, DIV by a non-constant divisor, and SELECT whose condition and a
    branch are both non-constant (a select is c * (x - y) + y). Constant factors are free.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def product(h, x):
    ...     return 0.5 * h * x + x
    >>> nonconstant_multiplications(rc.compile(product, 4, topology="sequential"))
    3
    """
    _, flag = multiplicative_scan(circuit)
    return int(np.count_nonzero(flag))


def depth_per_op(circuit) -> dict[str, int]:
    """For each op kind in the circuit: the most gates of that kind on one path to an output.

    Kinds that occur but lie on no path to an output map to 0. Ordered by op code.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=2, inputs=2)
    ... def elman(h, x):
    ...     return rc.tanh(np.eye(2) * 0.5 @ h + x)
    >>> depth_per_op(rc.compile(elman, 5))
    {'add': 4, 'mul': 4, 'tanh': 5}
    """
    counts = np.bincount(circuit.op, minlength=N_OPS)
    outputs = circuit.outputs.ravel()
    found = {}
    for code in np.flatnonzero((counts > 0) & (ARITY > 0)):
        weight = np.zeros(N_OPS, dtype=np.int32)
        weight[code] = 1
        level = _op_levels(circuit.op, circuit.a, circuit.b, circuit.c, ARITY, weight)
        found[OP_NAMES[code]] = int(level[outputs].max(initial=0))
    return found


def counts_summary(circuit) -> dict:
    """All three counts, as the compile report shows them (JSON-ready)."""
    level, flag = multiplicative_scan(circuit)
    return {"multiplicative_depth": int(level[circuit.outputs.ravel()].max(initial=0)),
            "nonconstant_multiplications": int(np.count_nonzero(flag)),
            "depth_per_op": depth_per_op(circuit)}
