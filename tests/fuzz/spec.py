"""Fuzz models as data: a JSON spec (shapes, weights, one expression tree) and the step
function it stands for.

Where this sits: under the fuzz campaign (`bench/fuzz.py`) and the corpus replay
(`tests/fuzz/test_fuzz.py`). A failure is saved as its spec, weights included, so a case
replays from the JSON alone, however the random generator (`tests/fuzz/generate.py`) changes.

An expression is a string leaf (``"h"``, ``"x"``) or a list ``[op, *args]``:

==============================  =====================================================
``["c", name]``                  the constant ``spec["consts"][name]`` (a numpy array)
``["num", v]``                   the Python scalar v
``[op, a, b]``                   op in add sub mul div matmul maximum minimum outer
                                 lt le gt ge eq ne (the operators and ``rc.*``)
``[f, a]``                       f in neg and the unary ``rc.*`` functions (tanh ... silu)
``["pow", a, k]``                ``a ** k``, k a small non-negative integer
``["T", a]``                     ``a.T``
``["sum", a, axis]``             ``a.sum(axis)`` (axis an int or null)
``["idx", a, key]``              ``a[key]``; key a list of ``{"i": int}``, ``{"s": [start,
                                 stop, step]}``, ``{"f": [ints]}`` (fancy) or ``{"n": 1}``
                                 (a new axis)
``["where", c, a, b]``           ``rc.where(c, a, b)``
``["concat", [a, ...], axis]``   ``rc.concat`` / ``rc.stack`` of the values
``["stack", [a, ...], axis]``
``["lookup", name]``             ``rc.lookup(consts[name], x)`` (alphabet models)
==============================  =====================================================

A step function's spec: ``{"kind": "rnn", "state", "inputs" | "alphabet", "init", "consts",
"step": expression}``. A program's: ``{"kind": "program", "inputs" | "alphabet", "layers":
[step-function specs], "consts", "stages"}``, the stages applied in order (`_build_program`).
"""

from __future__ import annotations

import operator
import types

import numpy as np

import rnncirc as rc

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
          "div": operator.truediv, "matmul": operator.matmul, "lt": operator.lt,
          "le": operator.le, "gt": operator.gt, "ge": operator.ge, "eq": operator.eq,
          "ne": operator.ne}
UNARY = ("tanh", "sigmoid", "relu", "exp", "log", "sqrt", "abs", "softplus", "silu")
#: the ops whose circuits stay in add/sub/mul/neg gates: exact mod p and in 2^w-bit words
POLYNOMIAL = frozenset({"c", "num", "add", "sub", "mul", "neg", "matmul", "outer", "pow", "T",
                        "sum", "idx", "concat", "stack", "lookup"})

#: `rc` itself, for tracing and for `RNN.run`
FLOAT_FUNCTIONS = rc


def _exact_lookup(table, symbol):
    return table[symbol]


def _objects(values) -> list[np.ndarray]:
    # numpy makes int64 arrays of Python ints, which then overflow
    return [np.asarray(v, dtype=object) for v in values]


#: what a polynomial spec needs, on object arrays of Python ints (the exact reference)
EXACT_FUNCTIONS = types.SimpleNamespace(
    number=int, lookup=_exact_lookup, outer=lambda a, b: np.outer(*_objects([a, b])),
    concat=lambda values, axis=0: np.concatenate(_objects(values), axis),
    stack=lambda values, axis=0: np.stack(_objects(values), axis))


def key_of(parts: list[dict]) -> tuple:
    key = []
    for part in parts:
        if "i" in part:
            key.append(part["i"])
        elif "s" in part:
            key.append(slice(*part["s"]))
        elif "f" in part:
            key.append(list(part["f"]))
        else:
            key.append(None)
    return tuple(key)


def evaluate(expr, h, x, consts: dict, fn=FLOAT_FUNCTIONS):
    """The value of `expr` for state `h` and input `x`; `fn` supplies the ``rc.*`` functions."""
    if isinstance(expr, str):
        return {"h": h, "x": x}[expr]
    op, args = expr[0], expr[1:]

    def sub(e):
        return evaluate(e, h, x, consts, fn)

    if op == "c":
        return consts[args[0]]
    if op == "num":
        return getattr(fn, "number", float)(args[0])
    if op in BINARY:
        return BINARY[op](sub(args[0]), sub(args[1]))
    if op in ("maximum", "minimum", "outer"):
        return getattr(fn, op)(sub(args[0]), sub(args[1]))
    if op == "neg":
        return -sub(args[0])
    if op in UNARY:
        return getattr(fn, op)(sub(args[0]))
    if op == "pow":
        return sub(args[0]) ** args[1]
    if op == "T":
        return sub(args[0]).T
    if op == "sum":
        return sub(args[0]).sum(axis=args[1])
    if op == "idx":
        return sub(args[0])[key_of(args[1])]
    if op == "where":
        return fn.where(sub(args[0]), sub(args[1]), sub(args[2]))
    if op in ("concat", "stack"):
        return getattr(fn, op)([sub(e) for e in args[0]], axis=args[1])
    if op == "lookup":
        return fn.lookup(consts[args[0]], x)
    raise ValueError(f"unknown fuzz op {op!r}")


def children(expr) -> list:
    """The sub-expressions of `expr`."""
    if isinstance(expr, str) or expr[0] in ("c", "num", "lookup"):
        return []
    if expr[0] in ("concat", "stack"):
        return list(expr[1])
    if expr[0] in ("pow", "sum", "idx"):
        return [expr[1]]
    return list(expr[1:])


def ops_of(expr) -> set[str]:
    found = set() if isinstance(expr, str) else {expr[0]}
    for child in children(expr):
        found |= ops_of(child)
    return found


def consts_of(spec: dict, dtype=np.float64) -> dict:
    return {name: np.array(value, dtype=dtype) for name, value in spec["consts"].items()}


def build_model(spec: dict):
    """The `rc.RNN` of an ``"rnn"`` spec, or the `rc.Program` of a ``"program"`` spec."""
    if spec.get("kind", "rnn") == "program":
        return _build_program(spec)
    if spec["kind"] != "rnn":
        raise ValueError(f"unknown fuzz model kind {spec['kind']!r}")
    consts = consts_of(spec)
    expr = spec["step"]

    def step(h, x):
        return evaluate(expr, h, x, consts)

    step.__name__ = spec.get("name", "fuzz")
    state = tuple(spec["state"])
    init = None if spec.get("init") is None else np.array(spec["init"], dtype=np.float64)
    if spec.get("alphabet"):
        return rc.rnn(state=state, alphabet=spec["alphabet"], init=init)(step)
    return rc.rnn(state=state, inputs=spec["inputs"], init=init)(step)


def _build_program(spec: dict):
    """Stages, in order, on the sequence v (first the program's input): ``["scan", i,
    reverse]`` runs layer i over v, ``["map", expr]`` is expr with ``"x"`` = v at every
    position, ``["shift", k]`` is ``rc.shift(v, k)``."""
    layers = [build_model(layer) for layer in spec["layers"]]
    consts = consts_of(spec)

    def body(x):
        v = x
        for stage in spec["stages"]:
            if stage[0] == "scan":
                v = rc.scan(layers[stage[1]], v, reverse=stage[2])
            elif stage[0] == "map":
                v = evaluate(stage[1], None, v, consts)
            else:
                v = rc.shift(v, stage[1])
        return v

    body.__name__ = spec.get("name", "fuzz")
    if spec.get("alphabet"):
        return rc.program(alphabet=spec["alphabet"])(body)
    return rc.program(inputs=spec["inputs"])(body)


def is_polynomial(spec: dict) -> bool:
    """Integer weights and only ring ops: exact over Z, so mod p and in w-bit words (step
    functions only: the exact run does not run programs)."""
    if spec.get("kind", "rnn") != "rnn":
        return False
    integral = all(np.all(np.mod(np.array(v, dtype=np.float64), 1) == 0)
                   for v in spec["consts"].values())
    init = spec.get("init")
    integral = integral and (init is None or np.all(np.mod(np.array(init), 1) == 0))
    return integral and ops_of(spec["step"]) <= POLYNOMIAL and all(
        float(e[1]).is_integer() for e in _nums(spec["step"]))


def _nums(expr):
    if not isinstance(expr, str) and expr[0] == "num":
        yield expr
    for child in children(expr):
        yield from _nums(child)


def run_exact(spec: dict, xs: np.ndarray) -> np.ndarray:
    """h_1..h_n of a polynomial spec in Python integers: object array ``(batch, n, *state)``."""
    consts = {name: np.array(np.array(v, dtype=np.int64).tolist(), dtype=object)
              for name, v in spec["consts"].items()}
    state = tuple(spec["state"])
    batch, n = xs.shape[:2]
    out = np.empty((batch, n) + state, dtype=object)
    for b in range(batch):
        h = np.zeros(state, dtype=object) if spec.get("init") is None else \
            np.array(np.array(spec["init"], dtype=np.int64).tolist(), dtype=object)
        for t in range(n):
            x = int(xs[b, t]) if spec.get("alphabet") else \
                np.array([int(v) for v in xs[b, t]], dtype=object)
            h = np.asarray(evaluate(spec["step"], h, x, consts, EXACT_FUNCTIONS), dtype=object)
            h = np.broadcast_to(h, state).copy()
            out[b, t] = h
    return out
