"""Random fuzz specs: step functions from every op of the front end, linear and nonlinear.

Where this sits: the source of `bench/fuzz.py`'s cases (the checks are `tests/fuzz/checks.py`,
the spec format `tests/fuzz/spec.py`). `FAMILIES` is the one registry of what is generated:
each family turns a `Gen` into a spec; random programs (``rc.program``) join as families whose
spec has ``"kind": "program"``, once `spec.build_model` builds them.

Values must stay finite over every length, so the generator keeps the part that feeds h_{t-1}
into h_t non-expanding: linear families multiply h by gates in [-1, 1] (sigmoid, tanh, decays
exp(-softplus), matrices scaled by 1/D), nonlinear ones put 1-Lipschitz functions of h under a
factor below 1/2. Input terms may be anything finite: log, sqrt and division get arguments kept
away from their poles (``log(1 + |e|)``, ``sqrt(e*e + 1)``, ``a / (1 + |b|)``).
Polynomial families use small integer weights only, for the exact checks (mod p, w-bit words).
"""

from __future__ import annotations

import json

import numpy as np

from .spec import is_polynomial

#: lengths: the small ones, n = 1, 2 and powers of two +- 1, with the long ones rarer
SHORT_LENGTHS = (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33)
LONG_LENGTHS = (63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 700, 1023, 1024, 1025)
UNARY_SAFE = ("tanh", "sigmoid", "relu", "abs", "softplus", "silu")
COMPARE = ("lt", "le", "gt", "ge", "eq", "ne")


def num(v: float) -> list:
    return ["num", float(v)]


class Gen:
    """One random spec under construction: its rng, its constants and input kind."""

    def __init__(self, rng: np.random.Generator, *, inputs: int | None = None,
                 alphabet: int | None = None, integer: bool = False):
        self.rng = rng
        self.inputs = inputs
        self.alphabet = alphabet
        self.integer = integer
        self.consts: dict[str, list] = {}

    def choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    # -- constants --------------------------------------------------------------------------
    def const(self, shape: tuple, scale: float = 1.0, style: str | None = None) -> list:
        """A named constant; sometimes all zero, or with all-zero rows (edge cases)."""
        style = style or self.choice(["normal"] * 6 + ["zero", "rows"])
        if self.integer:
            value = self.rng.integers(-1, 3, size=shape).astype(np.float64)
        else:
            value = self.rng.normal(size=shape) * scale
        if style == "zero":
            value = np.zeros(shape)
        elif style == "rows" and len(shape) >= 1 and shape[0] > 1:
            value[self.rng.random(shape[0]) < 0.5] = 0.0
        name = f"w{len(self.consts)}"
        self.consts[name] = value.tolist()
        return ["c", name]

    # -- terms of the input alone -------------------------------------------------------------
    def leaf(self, shape: tuple) -> list:
        if self.alphabet:
            return ["lookup", self.const((self.alphabet,) + shape, 0.7)[1]] \
                if not self.chance(0.15) else self.const(shape)
        k = self.inputs
        options = ["linear"] * 3 + ["const"]
        if len(shape) <= 1 and not self.integer:
            options += ["index"] * 2
        kind = self.choice(options)
        if kind == "const":
            return self.const(shape, 0.7)
        if kind == "index":
            if shape == ():
                return ["idx", "x", [{"i": int(self.rng.integers(-k, k))}]]
            m = shape[0]
            if m <= k and self.chance(0.5):
                start = int(self.rng.integers(0, k - m + 1))
                return ["idx", "x", [{"s": [start, start + m, None]}]]
            return ["idx", "x", [{"f": self.rng.integers(0, k, size=m).tolist()}]]
        return ["matmul", self.const(shape + (k,), 0.7 / np.sqrt(k)), "x"]

    def term(self, shape: tuple, depth: int) -> list:
        """A random expression of x of `shape` (finite for every finite input)."""
        if depth <= 0 or self.chance(0.3):
            return self.leaf(shape)
        if self.integer:
            return self._ring_term(shape, depth)
        d = depth - 1
        kind = self.choice(["unary", "unary", "binary", "binary", "guarded", "pow", "where",
                            "compare", "reshape"])
        if kind == "unary":
            return [self.choice(UNARY_SAFE), self.term(shape, d)]
        if kind == "guarded":
            e = self.term(shape, d)
            return self.choice([
                lambda: ["log", ["add", num(1.0), ["abs", e]]],
                lambda: ["sqrt", ["add", ["mul", e, e], num(1.0)]],
                lambda: ["exp", ["tanh", e]],
                lambda: ["exp", ["neg", ["softplus", e]]],
                lambda: ["div", self.term(shape, d), ["add", num(1.0), ["abs", e]]],
                lambda: ["div", num(1.0), ["add", ["pow", e, 2], num(0.5)]],
            ])()
        if kind == "binary":
            other = self.term(self.choice([shape, ()]), d)
            op = self.choice(["add", "sub", "mul", "maximum", "minimum"])
            pair = [self.term(shape, d), other]
            return [op, *(pair if self.chance(0.5) else pair[::-1])]
        if kind == "pow":
            return ["pow", ["tanh", self.term(shape, d)], int(self.rng.integers(0, 4))]
        if kind == "where":
            return ["where", [self.choice(COMPARE), self.term(shape, d), self.term((), d)],
                    self.term(shape, d), self.term(shape, d)]
        if kind == "compare":
            return [self.choice(COMPARE), self.term(shape, d), self.term(shape, d)]
        return self._reshaped(shape, d)

    def _ring_term(self, shape: tuple, depth: int) -> list:
        d = depth - 1
        kind = self.choice(["add", "sub", "mul", "neg", "pow", "reshape"])
        if kind == "neg":
            return ["neg", self.term(shape, d)]
        if kind == "pow":
            return ["pow", self.term(shape, d), int(self.rng.integers(0, 3))]
        if kind == "reshape":
            return self._reshaped(shape, d)
        return [kind, self.term(shape, d), self.term(self.choice([shape, ()]), d)]

    def _reshaped(self, shape: tuple, d: int) -> list:
        """`shape` from values of other shapes: sums, slices, stacks, outer products, .T, @."""
        m = int(self.rng.integers(1, 4))
        t = self.term
        if shape == ():
            return self.choice([
                lambda: ["sum", t((m,), d), self.choice([None, 0])],
                lambda: ["idx", t((m,), d), [{"i": int(self.rng.integers(0, m))}]],
                lambda: ["matmul", t((m,), d), t((m,), d)],
            ])()
        if len(shape) == 1:
            (size,) = shape
            cut = int(self.rng.integers(1, size)) if size > 1 else 0
            options = [lambda: ["stack", [t((), d) for _ in range(size)], 0],
                       lambda: ["sum", t((m,) + shape, d), 0],
                       lambda: ["sum", t(shape + (m,), d), 1],
                       lambda: ["idx", t((size + m,), d), [{"s": [None, size, None]}]],
                       lambda: ["idx", t(shape, d), [{"s": [None, None, -1]}]],
                       lambda: ["matmul", t(shape + (m,), d), t((m,), d)]]
            if size > 1:
                options.append(lambda: ["concat", [t((cut,), d), t((size - cut,), d)], 0])
            return self.choice(options)()
        rows, cols = shape
        options = [lambda: ["outer", t((rows,), d), t((cols,), d)],
                   lambda: ["T", t((cols, rows), d)],
                   lambda: ["mul", ["idx", t((rows,), d), [{"s": [None, None, None]}, {"n": 1}]],
                            t(shape, d)],
                   lambda: ["stack", [t((cols,), d) for _ in range(rows)], 0]]
        if rows > 1:
            options.append(lambda: ["concat", [t((1, cols), d), t((rows - 1, cols), d)], 0])
        return self.choice(options)()

    def gate(self, shape: tuple, depth: int) -> list:
        """A multiplier of h in [-1, 1] (integers: any small integer term)."""
        if self.integer:
            return self.term(shape, depth)
        if self.chance(0.2):
            return ["tanh", self.const(shape, 1.0)]
        e = self.term(shape, depth)
        return self.choice([["sigmoid", e], ["tanh", e], ["exp", ["neg", ["softplus", e]]],
                            ["mul", num(0.5), ["tanh", e]]])


def _state(g: Gen, matrix: bool) -> tuple:
    if matrix:
        return g.choice([(1, 1), (2, 3), (3, 2), (2, 2)])
    return (int(g.choice([1, 1, 2, 3, 4, 5])),)


def _bias(g: Gen, shape: tuple) -> list:
    return g.const(shape, 1.0, "zero") if g.chance(0.1) else g.term(shape, 2)


# -- linear families: A(x) h + b(x) ---------------------------------------------------------
def scalar(g: Gen, shape: tuple) -> list:
    a = "h" if g.chance(0.2) else ["mul", g.gate((), 2), "h"]
    return ["add", a, _bias(g, shape)]


def diagonal(g: Gen, shape: tuple) -> list:
    return ["add", ["mul", g.gate(shape, 2), "h"], _bias(g, shape)]


def permutation(g: Gen, shape: tuple) -> list:
    perm = g.rng.permutation(shape[0]).tolist()
    return ["add", ["mul", g.gate(shape, 2), ["idx", "h", [{"f": perm}]]], _bias(g, shape)]


def dplr(g: Gen, shape: tuple) -> list:
    k = g.term(shape, 2)
    if not g.integer:
        k = ["div", k, ["sqrt", ["add", ["sum", ["mul", k, k], None], num(1.0)]]]
    beta = g.gate((), 1) if not g.integer else num(1.0)
    return ["add", ["sub", "h", ["mul", ["mul", beta, k], ["matmul", k, "h"]]], _bias(g, shape)]


def dense(g: Gen, shape: tuple) -> list:
    d = shape[0]
    style = g.choice(["const", "tanh", "rows", "mix"])
    if style == "const" or (g.integer and style == "tanh"):
        a = g.const((d, d), 0.9 / d)
    elif style == "tanh":
        a = ["mul", num(1.0 / d), ["tanh", g.term((d, d), 2)]]
    elif style == "rows":  # some rows all constant, the others functions of x
        mask = (g.rng.random((d, 1)) < 0.5).astype(float)
        varying = g.term((d, d), 1) if g.integer else \
            ["mul", num(0.9 / d), ["tanh", g.term((d, d), 1)]]
        g.consts[f"w{len(g.consts)}"] = mask.tolist()
        keep = ["c", f"w{len(g.consts) - 1}"]
        a = ["add", ["mul", keep, g.const((d, d), 0.9 / d)],
             ["mul", ["sub", num(1.0), keep], varying]]
    else:  # x0*C + x1*S: structural zeros that fill in over several steps
        c = np.roll(np.eye(d), 1, axis=0).tolist()
        s = np.eye(d)[np.r_[1:d, 0] if d > 1 else [0]].tolist()
        g.consts[f"w{len(g.consts)}"] = c
        cn = f"w{len(g.consts) - 1}"
        g.consts[f"w{len(g.consts)}"] = s
        sn = f"w{len(g.consts) - 1}"
        a = ["add", ["mul", g.gate((), 1), ["c", cn]], ["mul", g.gate((), 1), ["c", sn]]]
        if not g.integer:
            a = ["mul", num(0.5), a]
    return ["add", ["matmul", a, "h"], _bias(g, shape)]


def matrix_state(g: Gen, shape: tuple) -> list:
    rows, cols = shape
    if g.chance(0.5):  # gated linear attention: alpha[:, None] * S + outer(v, k)
        alpha = ["idx", g.gate((rows,), 1), [{"s": [None, None, None]}, {"n": 1}]]
        return ["add", ["mul", alpha, "h"], ["outer", g.term((rows,), 1), g.term((cols,), 1)]]
    k = g.term((cols,), 1)  # DeltaNet: S - beta outer(S k, k) + beta outer(v, k)
    if not g.integer:
        k = ["div", k, ["sqrt", ["add", ["sum", ["mul", k, k], None], num(1.0)]]]
    beta = g.gate((), 1) if not g.integer else num(1.0)
    return ["add", ["sub", "h", ["mul", beta, ["outer", ["matmul", "h", k], k]]],
            ["mul", beta, ["outer", g.term((rows,), 1), k]]]


def symbol_table(g: Gen, shape: tuple) -> list:
    """Alphabet models: a table of (signed, scaled) permutation or dense matrices."""
    d = shape[0]
    tables = []
    for _ in range(g.alphabet):
        m = np.eye(d)[g.rng.permutation(d)]
        if g.chance(0.3):
            m = g.rng.normal(size=(d, d)) * (0.9 / d)
        elif g.chance(0.3):
            m = m * g.rng.choice([-1.0, 0.5, 1.0])
        tables.append(np.round(m) if g.integer else m)
    name = f"w{len(g.consts)}"
    g.consts[name] = np.array(tables).tolist()
    return ["add", ["matmul", ["lookup", name], "h"], _bias(g, shape)]


# -- nonlinear families -------------------------------------------------------------------------
def h_term(g: Gen, shape: tuple, depth: int) -> list:
    """A function of h (and x) that is at most 1-Lipschitz in h, so 0.45 * it contracts."""
    if depth <= 0 or g.chance(0.25):
        return "h"
    d = depth - 1
    kind = g.choice(["unary", "gated", "maxmin", "where", "mean", "perm"])
    if kind == "unary":
        return [g.choice(("tanh", "sigmoid", "relu", "abs", "softplus")), h_term(g, shape, d)]
    if kind == "gated":
        return ["mul", ["sigmoid", g.term(shape, 1)], h_term(g, shape, d)]
    if kind == "maxmin":
        return [g.choice(["maximum", "minimum"]), h_term(g, shape, d), g.term(shape, 1)]
    if kind == "where":
        e = h_term(g, shape, d)
        return ["where", [g.choice(COMPARE), e, g.term((), 1)], e, ["mul", num(-0.5), e]]
    if kind == "mean":
        return ["mul", num(0.5), ["add", h_term(g, shape, d), h_term(g, shape, d)]]
    if len(shape) == 1:
        return ["idx", h_term(g, shape, d), [{"f": g.rng.permutation(shape[0]).tolist()}]]
    return ["idx", h_term(g, shape, d), [{"s": [None, None, -1]}]]


def nonlinear(g: Gen, shape: tuple) -> list:
    if len(shape) == 1 and g.chance(0.4):  # Elman: tanh(W h + U x)
        w = g.const(shape + shape, 0.9 / shape[0])
        return ["tanh", ["add", ["matmul", w, "h"], g.term(shape, 2)]]
    return ["add", ["mul", num(0.45), h_term(g, shape, 3)], _bias(g, shape)]


def ring_nonlinear(g: Gen, shape: tuple) -> list:
    """A polynomial nonlinear step (h enters squared): exact checks at short lengths."""
    return ["add", ["mul", ["idx", "h", [{"i": 0}] * len(shape)], "h"], g.term(shape, 1)]


#: name -> (weight, make(g, shape), state kinds "vector"/"matrix"/"square", linear?)
FAMILIES = {
    "scalar": (2, scalar, ("vector", "matrix"), True),
    "diagonal": (2, diagonal, ("vector", "matrix"), True),
    "permutation": (1, permutation, ("vector",), True),
    "dplr": (1, dplr, ("vector",), True),
    "dense": (2, dense, ("vector",), True),
    "matrix_state": (1, matrix_state, ("matrix",), True),
    "symbol_table": (1, symbol_table, ("vector",), True),
    "nonlinear": (3, nonlinear, ("vector", "matrix"), False),
    "ring_nonlinear": (0, ring_nonlinear, ("vector",), False),
}
#: families an integer (polynomial) spec may come from
RING_FAMILIES = ("scalar", "diagonal", "permutation", "dplr", "dense", "matrix_state",
                 "symbol_table", "ring_nonlinear")


def random_spec(rng: np.random.Generator, case: int) -> dict:
    """One random spec, a step function or (less often) a program; `case` only names it."""
    if rng.random() < PROGRAM_SHARE:
        return random_program(rng, f"fuzz{case}")
    return random_rnn(rng, f"fuzz{case}")


def random_rnn(rng: np.random.Generator, name: str, *, inputs: int | None = None,
               alphabet: int | None = None, vector: bool = False) -> dict:
    """An ``rc.rnn`` spec of a random family; `inputs` or `alphabet` fix what it reads, and
    `vector` asks for a vector state (a layer whose states feed another one)."""
    given = inputs is not None or alphabet is not None
    integer = not given and bool(rng.random() < 0.25)
    names = list(RING_FAMILIES) if integer else [f for f in FAMILIES if FAMILIES[f][0]]
    names = [f for f in names if (f == "symbol_table") == bool(alphabet) or
             (alphabet and f != "symbol_table" and rng.random() < 0.5) or not given]
    names = [f for f in names if not vector or "vector" in FAMILIES[f][2]]
    weights = np.array([max(FAMILIES[f][0], 1) for f in names], dtype=float)
    family = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    _, make, states, linear = FAMILIES[family]
    if not given:
        alphabet = int(rng.integers(2, 6)) if family == "symbol_table" or rng.random() < 0.1 \
            else None
        inputs = None if alphabet else int(rng.integers(1, 5))
    g = Gen(rng, inputs=inputs, alphabet=alphabet, integer=integer)
    shape = _state(g, not vector and g.choice(states) == "matrix")
    if family in ("permutation", "dplr", "dense", "symbol_table") and shape[0] == 1 \
            and g.chance(0.7):
        shape = (int(g.rng.integers(2, 5)),)
    step = make(g, shape)
    init = None
    if g.chance(0.5):
        init = (g.rng.integers(-2, 3, size=shape) if integer
                else g.rng.normal(size=shape)).astype(float).tolist()
    return {"kind": "rnn", "name": f"{name}_{family}", "family": family, "linear": linear,
            "state": list(shape), "inputs": inputs, "alphabet": alphabet, "init": init,
            "consts": g.consts, "step": step}


#: the share of programs among the specs
PROGRAM_SHARE = 0.15


def random_program(rng: np.random.Generator, name: str) -> dict:
    """An ``rc.program`` spec: 1-3 recurrent layers (`rc.scan`, some reversed) with
    position-wise maps (any step-function op on the sequence) and shifts between them."""
    alphabet = int(rng.integers(2, 5)) if rng.random() < 0.2 else None
    inputs = None if alphabet else int(rng.integers(1, 5))
    consts: dict[str, list] = {}  # of every map, one namespace

    def reading(size: int | None, symbols: int | None = None) -> Gen:
        g = Gen(rng, inputs=size, alphabet=symbols)
        g.consts = consts
        return g

    g = reading(inputs, alphabet)
    layers, stages = [], []
    for i in range(int(rng.integers(1, 4))):
        if g.chance(0.4):  # a map first: the next layer reads its output
            size = int(rng.integers(1, 5))
            stages.append(["map", _of_x(g, (size,))])
            g = reading(size)
        layer = random_rnn(rng, f"{name}_layer{i}", inputs=g.inputs, alphabet=g.alphabet,
                           vector=True)
        layers.append(layer)
        stages.append(["scan", i, bool(rng.random() < 0.25)])
        if rng.random() < 0.3:
            stages.append(["shift", 1])
        g = reading(layer["state"][0])
    if g.chance(0.5):
        stages.append(["map", _of_x(g, (int(rng.integers(1, 4)),))])
    return {"kind": "program", "name": f"{name}_program", "family": "program", "linear": None,
            "inputs": inputs, "alphabet": alphabet, "layers": layers, "stages": stages,
            "consts": consts}


def _of_x(g: Gen, shape: tuple) -> list:
    """A term that reads x (a constant sequence is refused by rc.scan, rightly)."""
    term = g.term(shape, 2)
    if "x" not in json.dumps(term) and "lookup" not in json.dumps(term):
        read = ["lookup", g.const((g.alphabet,) + shape, 0.7)[1]] if g.alphabet else \
            ["matmul", g.const(shape + (g.inputs,), 0.7, "normal"), "x"]
        term = ["add", term, read]
    return term


def random_length(rng: np.random.Generator, spec: dict) -> int:
    if spec["family"] == "ring_nonlinear":
        return int(rng.choice([1, 2, 3, 4, 5, 7, 8, 9]))
    if spec["family"] == "program":  # every topology compiles every layer: keep them short
        return int(rng.choice(SHORT_LENGTHS + LONG_LENGTHS[:6]))
    pool = LONG_LENGTHS if rng.random() < 0.12 else SHORT_LENGTHS
    return int(rng.choice(pool))


def random_inputs(rng: np.random.Generator, spec: dict, n: int, batch: int = 2) -> np.ndarray:
    if spec.get("alphabet"):
        return rng.integers(0, spec["alphabet"], size=(batch, n))
    if is_polynomial(spec):
        return rng.integers(-2, 3, size=(batch, n, spec["inputs"])).astype(np.int64)
    xs = rng.normal(size=(batch, n, spec["inputs"]))
    if rng.random() < 0.05:
        xs[:] = 0.0
    return xs

