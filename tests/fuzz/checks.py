"""Run one fuzz case through every compilation and evaluator and compare the results.

Where this sits: between the spec generator (`tests/fuzz/generate.py`) and its two drivers,
the timed campaign `bench/fuzz.py` and the corpus replay `tests/fuzz/test_fuzz.py`.

A case is a spec, a length n and an input seed. The model is compiled under every topology
(``rnncirc.compiler.TOPOLOGIES``, "auto" included) and both ``outputs``, and each circuit is
checked against ``RNN.run`` (float64, sequential: the reference semantics):

``measure``    linear steps, prefix networks, both outputs: the exact depth and size that
               `lower.measure` computes without building (``auto`` chooses by it) equal the
               built circuit's
``reference``  ``Circuit.evaluate(method="reference")``, float64
``fast64``     the fast evaluator, float64
``fast32``     the fast evaluator, float32 (inputs rounded to float32 too)
``modp``       polynomial specs (integer weights, ring ops only): ``evaluate(modulus=P)``
               against the exact Python-integer run of the same step function, mod P
``roundtrip``  topology "auto", outputs "all": ``Circuit.save`` then ``Circuit.load`` evaluates
               the same, and one unbatched sequence as its row of the batch
``boolean``    polynomial specs: ``rc.compile(domain="int")`` / ``to_boolean`` on w-bit words
               against the exact run wrapped to w bits (Z -> Z/2^w is a ring map, so every
               topology must agree); other small circuits: against `evaluate_int`, the
               boolean lowering's own word-level oracle

Tolerances. A non-expanding recurrence computed in any order (sequential or a prefix network)
is a sum of at most n + depth rounded terms, each bounded by the largest state, so its forward
error is at most about (n + depth) * u * max|h| (Higham, "Accuracy and Stability of Numerical
Algorithms", ch. 4: (k - 1) u sum|x_i| for a sum of k terms in any order), with u = 2^-53 in
float64 and 2^-24 in float32. The checks allow 256 times that (the input terms' own rounding,
amplified by their small condition numbers) -- still far below the O(max|h|) error of a wrong
gate. Comparisons and `where` of computed values are discontinuous: float32 may flip one,
so a float32 excess on a spec that has them is counted as ``tolerated``, not a failure.

Statuses: ``ok``; ``fail`` (a wrong value, or an exception that is not an `RnncircError`);
``refused`` (a clear `RnncircError`, e.g. a parallel topology on a nonlinear step or a circuit
too large for memory); ``skipped`` (the check does not apply); ``tolerated``.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from dataclasses import dataclass, field

import numpy as np

import rnncirc as rc
from rnncirc.compiler import OUTPUTS, TOPOLOGIES
from rnncirc.errors import RnncircError
from rnncirc.lower.prefix import TOPOLOGIES as PREFIX_TOPOLOGIES

from .generate import random_inputs
from .spec import build_model, is_polynomial, ops_of, run_exact

P = 2**31 - 1
#: word width of the boolean checks
WIDTH = 16
#: circuits up to this many gates also get the boolean lowering against its word-level oracle
BOOLEAN_MAX_GATES = 4000
RING_GATES = {"add", "sub", "mul", "neg"}
#: the topologies `lower.measure` computes
MEASURED = tuple(t for t in PREFIX_TOPOLOGIES if t != "sequential")
DISCONTINUOUS = {"lt", "le", "gt", "ge", "eq", "ne", "where"}
#: ops whose last bit depends on the math library (`rnncirc.ir.ops.LIBM_OPS`): the fast
#: evaluator's float64 tanh may differ from numpy's by an ulp, and a comparison downstream
#: (``tanh(h) != h`` for a tiny h) may then flip
LIBM = {"tanh", "sigmoid", "exp", "log", "softplus", "silu"}
#: integers past this are not all floats: constants folded beyond it are rounded
EXACT_FLOATS = 2.0**53
#: float checks need the float64 reference itself to be exact enough: |h| below this
FLOAT_RANGE = 1e12
#: slack over the first-order error bound (see the module docstring)
SLACK = 256.0
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24}
CHECKS = ("run", "compile", "measure", "reference", "fast64", "fast32", "roundtrip", "modp",
          "boolean")


@dataclass
class Outcome:
    check: str
    status: str
    topology: str = ""
    outputs: str = ""
    detail: str = ""


@dataclass
class CaseResult:
    spec: dict
    length: int
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)
    kind: str = ""
    #: of a step function (`measure` takes those), else None
    classification: object = None

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "fail"]

    def add(self, check: str, status: str, detail: str = "", topology: str = "",
            outputs: str = "") -> None:
        self.outcomes.append(Outcome(check, status, topology, outputs, detail))


def _crash(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {frames[-1].filename.split('/')[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(err).__name__}: {str(err)[:300]}{where}"


def tolerance(dtype: str, n: int, depth: int, scale: float) -> float:
    return SLACK * UNIT_ROUNDOFF[dtype] * (n + depth) * max(1.0, scale)


def run_case(spec: dict, length: int, seed: int, *, boolean_gates: int = BOOLEAN_MAX_GATES
             ) -> CaseResult:
    """Every check of one case; exceptions inside rnncirc become outcomes, never escape."""
    result = CaseResult(spec, length, seed)
    rng = np.random.default_rng(seed)
    xs = random_inputs(rng, spec, length)
    try:
        model = build_model(spec)
        with np.errstate(all="ignore"):
            want = model.run(xs)
    except RnncircError as err:
        result.add("run", "refused", _crash(err))
        return result
    except Exception as err:  # noqa: BLE001 - every crash is a finding
        result.add("run", "fail", _crash(err))
        return result
    exact = run_exact(spec, xs) if is_polynomial(spec) else None
    floats = bool(np.isfinite(want).all() and np.abs(want).max(initial=0) < FLOAT_RANGE)
    result.add("run", "ok" if floats or exact is not None else "skipped",
               "" if floats else "float64 reference out of range")
    try:
        cls = rc.classify(model)
        result.kind = cls.kind
        result.classification = cls if spec.get("kind", "rnn") == "rnn" else None
    except Exception as err:  # noqa: BLE001
        result.add("compile", "fail", _crash(err))
        return result
    if spec.get("linear") and cls.kind == "nonlinear":
        result.add("compile", "fail", f"a step linear in h by construction classified "
                   f"nonlinear: {cls.reason}")
    boolean_topology = TOPOLOGIES[int(rng.integers(len(TOPOLOGIES)))]
    for topology in TOPOLOGIES:
        for outputs in OUTPUTS:
            _check_circuit(result, model, xs, want if floats else None, exact, topology,
                           outputs, boolean_topology == topology and outputs == "all",
                           boolean_gates)
    return result


def _check_circuit(result: CaseResult, model, xs, want, exact, topology: str, outputs: str,
                   boolean: bool, boolean_gates: int) -> None:
    def add(check, status, detail=""):
        result.add(check, status, detail, topology, outputs)

    try:
        circuit = rc.compile(model, result.length, topology=topology, outputs=outputs)
    except RnncircError as err:
        add("compile", "refused", _crash(err))
        return
    except Exception as err:  # noqa: BLE001
        add("compile", "fail", _crash(err))
        return
    add("compile", "ok")
    if result.classification is not None and circuit.topology in MEASURED \
            and result.classification.is_linear and result.length > 1:
        _check_measure(add, model, result.classification, circuit, outputs)
    if want is not None:
        target = want if outputs == "all" else want[:, -1]
        scale = float(np.abs(want).max(initial=0.0))
        for check, kwargs, dtype in (("reference", {"method": "reference"}, "float64"),
                                     ("fast64", {}, "float64"),
                                     ("fast32", {"dtype": "float32"}, "float32")):
            tol = tolerance(dtype, result.length, circuit.depth, scale)
            _compare(result, add, check, lambda kw=kwargs: circuit.evaluate(xs, **kw), target,
                     tol, dtype)
        if topology == "auto" and outputs == "all":
            tol = tolerance("float64", result.length, circuit.depth, scale)
            _compare(result, add, "roundtrip", lambda: _reloaded(circuit, xs), target, tol,
                     "float64")
    if exact is not None:
        _check_exact(result, add, circuit, model, xs, exact, outputs, boolean)
    elif boolean and circuit.size <= boolean_gates:
        _check_boolean_oracle(add, circuit, xs)


def _check_measure(add, model, cls, circuit, outputs: str) -> None:
    try:
        from rnncirc.lower.measure import measure_linear

        got = measure_linear(model, cls, circuit.length, circuit.topology, outputs)
    except RnncircError as err:
        add("measure", "refused", _crash(err))
        return
    except Exception as err:  # noqa: BLE001
        add("measure", "fail", _crash(err))
        return
    same = (got.depth, got.size) == (circuit.depth, circuit.size)
    add("measure", "ok" if same else "fail", "" if same else
        f"measured depth {got.depth}, size {got.size}; built {circuit.depth}, {circuit.size}")


def _reloaded(circuit, xs) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "circuit.npz")
        circuit.save(path)
        loaded = type(circuit).load(path)
    single = loaded.evaluate(xs[0])
    both = loaded.evaluate(xs)
    if not np.array_equal(single, both[0]):
        raise AssertionError(f"an unbatched sequence evaluates differently from its row of "
                             f"the batch: max difference {np.abs(single - both[0]).max():.3g}")
    return both


def _compare(result, add, check, evaluate, target, tol, dtype) -> None:
    try:
        with np.errstate(all="ignore"):
            got = np.asarray(evaluate(), dtype=np.float64)
    except RnncircError as err:
        add(check, "refused", _crash(err))
        return
    except Exception as err:  # noqa: BLE001
        add(check, "fail", _crash(err))
        return
    if got.shape != target.shape:
        add(check, "fail", f"shape {got.shape}, expected {target.shape}")
        return
    err = float(np.abs(got - target).max(initial=0.0))
    if err <= tol:
        add(check, "ok")
    elif _may_flip(result.spec, dtype, check):
        add(check, "tolerated", f"max error {err:.3g} > {tol:.3g} (a comparison may flip)")
    else:
        add(check, "fail", f"max error {err:.3g} > tolerance {tol:.3g}")


def _may_flip(spec: dict, dtype: str, check: str) -> bool:
    """Whether a comparison in `spec` may see another value than the model's: float32 rounds
    differently, and float64 math-library ops differ from numpy's by an ulp outside the
    reference evaluator (which calls numpy as `RNN.run` does)."""
    ops = _spec_ops(spec)
    if not ops & DISCONTINUOUS:
        return False
    return dtype == "float32" or (check != "reference" and bool(ops & LIBM))


def _spec_ops(spec: dict) -> set[str]:
    """The ops of a model spec: its step's, or for a program every layer's and map's."""
    if spec.get("kind") != "program":
        return ops_of(spec["step"])
    found = set()
    for layer in spec["layers"]:
        found |= _spec_ops(layer)
    for stage in spec["stages"]:
        if stage[0] == "map":
            found |= ops_of(stage[1])
    return found


def _check_exact(result, add, circuit, model, xs, exact, outputs: str, boolean: bool) -> None:
    target = exact if outputs == "all" else exact[:, -1]
    folded = float(np.abs(circuit.consts).max(initial=0.0))
    if folded >= EXACT_FLOATS:
        # the compiler folds constant products in float64 (powers of a constant A in a prefix
        # network): past 2^53 they are rounded, and the circuit is no longer the exact
        # polynomial, so neither mod p nor w-bit words can match the integer run
        add("modp", "skipped", f"folded constant {folded:.3g} >= 2^53")
        return
    if set(circuit.op_counts) <= RING_GATES:
        try:
            got = circuit.evaluate(xs, modulus=P)
            want = np.vectorize(lambda v: int(v) % P, otypes=[np.int64])(target)
            add("modp", "ok" if np.array_equal(got, want) else "fail",
                "" if np.array_equal(got, want) else
                f"{int((got != want).sum())} of {want.size} residues differ")
        except RnncircError as err:
            add("modp", "refused", _crash(err))
        except Exception as err:  # noqa: BLE001
            add("modp", "fail", _crash(err))
    else:
        add("modp", "skipped", f"gates {sorted(set(circuit.op_counts) - RING_GATES)}")
    if not boolean:
        return
    try:
        bc = rc.compile(model, result.length, topology=circuit.topology, outputs=outputs,
                        domain="int", width=WIDTH)
        got = bc.evaluate(xs)
        half = 1 << (WIDTH - 1)
        want = np.vectorize(lambda v: (int(v) + half) % (2 * half) - half,
                            otypes=[np.int64])(target)
        same = np.array_equal(np.asarray(got, dtype=np.int64), want)
        add("boolean", "ok" if same else "fail",
            "" if same else f"{int((got != want).sum())} of {want.size} words differ")
    except RnncircError as err:
        add("boolean", "refused", _crash(err))
    except Exception as err:  # noqa: BLE001
        add("boolean", "fail", _crash(err))


def _check_boolean_oracle(add, circuit, xs) -> None:
    """Any small circuit: its 10-bit fixed-point lowering against the word-level oracle."""
    width, frac = 10, 3
    if circuit.info.alphabet:
        words = xs
    else:
        words = np.clip(np.round(np.asarray(xs, dtype=np.float64) * (1 << frac)), -512, 511)
        words = words.astype(np.int64)
    try:
        from rnncirc.lower.boolean import evaluate_int, to_boolean

        bc = to_boolean(circuit, width, frac_bits=frac)
        got = bc.evaluate(words)
        want = evaluate_int(circuit, words, width, True, frac)
        same = np.array_equal(got, want)
        add("boolean", "ok" if same else "fail",
            "" if same else f"{int((np.asarray(got) != want).sum())} words differ from "
                            "evaluate_int")
    except RnncircError as err:
        add("boolean", "refused", _crash(err))
    except Exception as err:  # noqa: BLE001
        add("boolean", "fail", _crash(err))
