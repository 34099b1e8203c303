"""Circuit: the gate-level result of compiling an RNN, as immutable struct-of-arrays numpy.

One row per node, in topological order (every operand id is smaller than its gate's id):

========  =======  =====================================================================
column    dtype    meaning
========  =======  =====================================================================
op        uint8    an `Op` code (see `rnncirc.ir.ops`)
a, b, c   int32    operand ids (-1 when unused); for CONST/INPUT rows ``a`` is the payload:
                   the index into `consts`, or the input slot
step      int32    provenance: the time step the row was built for (0: shared leaves)
node      int32    provenance: the cell node the row comes from (-1: none; SHARED_NODE:
                   one value built once and read by every step, see below)
========  =======  =====================================================================

``inputs`` holds the ids of the INPUT rows, shape ``(n, K)`` (alphabet models: the one-hot
bits, ``(n, k)``); ``outputs`` the ids of the state values, shape ``(n, *state)`` for
``outputs="all"`` or ``(1, *state)`` for ``"last"``. Analyses (levels, depth, critical path)
are computed on first use and cached.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple

import numpy as np

from rnncirc.errors import InputError, RnncircError, RnncircWarning
from rnncirc.ir.ops import ARITY, N_OPS, OP_NAMES, Op

_COLUMNS = ("op", "a", "b", "c", "step", "node")
#: `node` of rows built once for all steps although they read step 0's inputs (the identity
#: keys of per-symbol permutations, `lower.linear._leaves`): analyses that ask which steps a
#: gate depends on treat them as constants
SHARED_NODE = -2

#: bytes per row kept by a Circuit (op, a, b, c, step, node) plus its cached levels
BYTES_PER_GATE = 1 + 4 * 5 + 4


@dataclass(frozen=True)
class CircuitInfo:
    """What a circuit was compiled from; carried along for reports and save/load."""

    model: str
    length: int
    state_shape: tuple[int, ...]
    input_size: int | None
    alphabet: int | None
    topology: str
    outputs: str = "all"
    kind: str | None = None
    cell_labels: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


def check_real(xs: np.ndarray) -> None:
    """Inputs must be real numbers (a complex array would lose its imaginary part silently);
    NaN or inf among them is allowed, with a warning naming the first."""
    if np.issubdtype(xs.dtype, np.complexfloating):
        raise InputError(f"inputs are complex (dtype {xs.dtype}); rnncirc computes over the "
                         "reals: pass the real and imaginary parts as separate input features")
    if not np.issubdtype(xs.dtype, np.number):
        raise InputError(f"inputs must be numeric, got dtype {xs.dtype}")
    warn_non_finite(xs, "the inputs")


def non_finite(values: np.ndarray) -> str | None:
    """``"3 values, the first at index (1, 0): nan"`` when `values` hold NaN or inf."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        return None
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    index = first[0] if len(first) == 1 else first
    return f"{int(bad.sum()):,} value(s), the first at index {index}: {values[first]}"


def warn_non_finite(values: np.ndarray, what: str) -> None:
    """Warn (`RnncircWarning`) when `values` hold NaN or inf, naming the first one."""
    found = non_finite(values)
    if found:
        warnings.warn(f"NaN or inf in {what} ({found}); every output that depends on it will "
                      "be NaN or inf", RnncircWarning, stacklevel=3)


class CheckedInputs(NamedTuple):
    """What `Circuit.check_inputs` returns (a pair: ``values, batched = ...`` unpacks it)."""

    #: input-slot values, ``(batch, n*K)`` (symbols one-hot: ``(batch, n*alphabet)``)
    values: np.ndarray
    #: whether the caller gave a batch axis (outputs then keep it)
    batched: bool


@dataclass(frozen=True, eq=False)
class Circuit:
    """An immutable gate-level circuit (see the module docstring for the layout)."""

    op: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    step: np.ndarray
    node: np.ndarray
    consts: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray
    info: CircuitInfo

    def __post_init__(self) -> None:
        for name in _COLUMNS + ("consts", "inputs", "outputs"):
            getattr(self, name).setflags(write=False)

    # -- the public contract ---------------------------------------------------------------
    @property
    def length(self) -> int:
        return self.info.length

    @property
    def topology(self) -> str:
        return self.info.topology

    @property
    def kind(self) -> str | None:
        return self.info.kind

    @property
    def num_nodes(self) -> int:
        """Rows, leaves included."""
        return len(self.op)

    @cached_property
    def is_gate(self) -> np.ndarray:
        return ARITY[self.op] > 0

    @cached_property
    def size(self) -> int:
        """Number of gates; inputs and constants excluded."""
        return int(np.count_nonzero(self.is_gate))

    @cached_property
    def levels(self) -> np.ndarray:
        """Level of every row: 0 for leaves, 1 + max over operands for gates."""
        from rnncirc.ir.levels import compute_levels

        levels = compute_levels(self.op, self.a, self.b, self.c, ARITY)
        levels.setflags(write=False)
        return levels

    @cached_property
    def depth(self) -> int:
        """Longest path in gates from any input or constant to any output."""
        return int(self.levels[self.outputs].max(initial=0))

    @cached_property
    def op_counts(self) -> dict[str, int]:
        """Gate count per op name (leaves excluded), most frequent first."""
        counts = np.bincount(self.op, minlength=N_OPS)
        found = {OP_NAMES[i]: int(counts[i]) for i in np.argsort(-counts, kind="stable")
                 if counts[i] and ARITY[i] > 0}
        return found

    @cached_property
    def width_per_level(self) -> np.ndarray:
        """Number of gates on each level 1..depth (index 0 counts the leaves)."""
        return np.bincount(self.levels, minlength=self.depth + 1)

    @cached_property
    def multiplicative_depth(self) -> int:
        """Most products of two non-constant values on any path (homomorphic-encryption levels)."""
        from rnncirc.analyze.counts import multiplicative_depth

        return multiplicative_depth(self)

    @cached_property
    def nonconstant_multiplications(self) -> int:
        """Products of two non-constant values (the R1CS constraint count of ZK users)."""
        from rnncirc.analyze.counts import nonconstant_multiplications

        return nonconstant_multiplications(self)

    @cached_property
    def depth_per_op(self) -> dict[str, int]:
        """For each op, the most gates of that op on any input-to-output path."""
        from rnncirc.analyze.counts import depth_per_op

        return depth_per_op(self)

    def _repr_svg_(self):
        from rnncirc.export.dot import repr_svg

        return repr_svg(self)

    def critical_path(self) -> list[dict]:
        """One longest path, input to output: each gate with its level, op, step, cell op
        (and for a program's circuit, the layer or position-wise block it belongs to)."""
        from rnncirc.ir.levels import trace_back

        if self.depth == 0:
            return []
        flat = self.outputs.ravel()
        end = int(flat[np.argmax(self.levels[flat])])
        path = trace_back(self.levels, self.a, self.b, self.c, end)
        labels = self.info.cell_labels
        found = [{"gate": int(g), "level": int(self.levels[g]), "op": OP_NAMES[self.op[g]],
                  "step": int(self.step[g]),
                  "cell_op": labels[self.node[g]] if 0 <= self.node[g] < len(labels) else None}
                 for g in path]
        if "layers" in self.info.extra:  # a program's circuit: which layer each gate is in
            from rnncirc.ir.provenance import block_of_rows

            for gate, layer in zip(found, block_of_rows(self, path), strict=True):
                gate["layer"] = layer
        return found

    def _refuse_rounded_constants(self, how: str) -> None:
        """An exact evaluation of a circuit whose folded constants were rounded would be exact
        for another circuit (`ir.builder.GateBuilder.rounded`): refuse it, with the way out."""
        rounded = self.info.extra.get("rounded_constants")
        if rounded:
            raise RnncircError(
                f"evaluating {how} needs every constant exact, but the {self.info.topology} "
                f"lowering folded products or sums of constants that float64 rounds "
                f"({len(rounded)}, e.g. {rounded[0]!r}: powers of a constant A); evaluate it "
                "in floats, or compile with --topology sequential, which folds none")

    def evaluate(self, xs, *, method: str = "fast", dtype: str = "float64",
                 modulus: int | None = None, progress=None, client=None,
                 exact: bool = False) -> np.ndarray:
        """Evaluate on inputs shaped as for `RNN.run`; returns the same shapes.

        ``outputs="last"`` circuits return ``(*state)`` or ``(batch, *state)``.

        Parameters
        ----------
        method : ``"fast"`` (default: levelized Numba kernels, `rnncirc.eval.fast`) or
            ``"reference"`` (the plain numpy evaluator, the oracle; float64 only).
        dtype : ``"float64"`` (default), ``"float32"``, or ``"int64"`` for exact arithmetic
            modulo a prime (fast method only).
        modulus : the prime p for ``dtype="int64"`` (default 2^31 - 1); giving it implies
            int64. Inputs and constants are mapped to their exact residues mod p (a float
            is the dyadic rational m/2^k); only add, sub, mul and neg gates are allowed.
        progress : ``progress(done_gates, total_gates)``, called between chunks of the fast
            evaluation (the reference evaluator runs in one go and ignores it).
        exact : return `fractions.Fraction` objects (an object array), computed exactly in
            Python integers (`rnncirc.eval.exact`; small circuits only; real inputs may be
            Fractions, an object array). A circuit with
            division gates (a `Fraction` constant a/b is ``DIV(a, b)``,
            `rnncirc.ir.rational`) is evaluated modulo p there too, dividing by the modular
            inverse: a rational result a/b comes back as a * b^-1 mod p.
        client : a Dask ``distributed.Client``: the batch is split over its workers, each
            running the fast evaluator on its shard (`rnncirc.eval.distributed`); the
            result is bit-equal to local evaluation. `progress` is not reported then.

        Examples
        --------
        >>> import numpy as np, rnncirc as rc
        >>> @rc.rnn(state=1, inputs=1)
        ... def running_sum(h, x):
        ...     return h + x
        >>> circuit = rc.compile(running_sum, 3)
        >>> circuit.evaluate(np.array([[1.0], [2.0], [3.0]])).ravel().tolist()
        [1.0, 3.0, 6.0]
        >>> circuit.evaluate(np.array([[1], [2], [-3]]), modulus=7).ravel().tolist()
        [1, 3, 0]
        """
        if exact or modulus is not None or dtype in ("int64", np.int64):
            self._refuse_rounded_constants("exact=True" if exact else "modulo a prime")
        if client is not None:
            from rnncirc.eval.distributed import evaluate_batch

            if method != "fast" or exact:
                raise RnncircError("evaluate(client=...) runs the fast evaluator (floats or "
                                   "modulo p); exact=True and method='reference' run here")
            return evaluate_batch(self, xs, client, dtype=dtype, modulus=modulus)
        if exact or (modulus is not None or dtype in ("int64", np.int64)) and \
                np.any(self.op == Op.DIV):
            from rnncirc.eval.exact import evaluate_exact, evaluate_modular

            if exact and (modulus is not None or method != "fast"):
                raise RnncircError("exact=True evaluates in Python Fractions; give it "
                                   "without modulus or method")
            rational = exact and not self.info.alphabet and np.asarray(xs).dtype == object
            batch, batched = self.check_inputs(np.asarray(xs, dtype=np.float64) if rational
                                               else xs, keep_dtype=True)
            if rational:
                batch = np.asarray(xs, dtype=object).reshape(batch.shape)
            values = evaluate_exact(self, batch) if exact else \
                evaluate_modular(self, batch, modulus)
        elif method == "reference":
            from rnncirc.ir.reference import evaluate_reference

            if dtype not in ("float64", np.float64) or modulus is not None:
                raise RnncircError("method='reference' evaluates in float64 only; use "
                                   "method='fast' for float32 or modular arithmetic")
            batch, batched = self.check_inputs(xs)
            values = evaluate_reference(self, batch)
        elif method == "fast":
            from rnncirc.eval.fast import evaluate_fast

            batch, batched = self.check_inputs(xs, keep_dtype=True)
            values = evaluate_fast(self, batch, dtype=dtype, modulus=modulus,
                                   progress=progress)
        else:
            raise RnncircError(f"unknown evaluation method {method!r}; use 'fast' or "
                               "'reference'")
        if self.info.outputs == "last":
            values = values[:, 0]
        return values if batched else values[0]

    def check_inputs(self, xs, *, keep_dtype: bool = False) -> CheckedInputs:
        """Validate `xs`; return the input-slot values as ``(batch, n*K)`` and batchedness.

        The values are float64, or with `keep_dtype` the caller's numbers as they are (no
        copy: the fast evaluator casts while it transposes, and keeps integers exact).
        """
        info = self.info
        xs = np.asarray(xs)
        n = info.length
        if xs.ndim >= 1 and xs.shape[0] == 0:
            raise InputError(f"inputs are empty (shape {xs.shape}); give at least one sequence")
        if info.alphabet:
            if xs.ndim not in (1, 2) or xs.shape[-1] != n:
                raise InputError(f"this circuit reads {n} symbols: inputs must have shape "
                                 f"({n},) or (batch, {n}), got {xs.shape}")
            if not np.issubdtype(xs.dtype, np.integer) or xs.min() < 0 or \
                    xs.max() >= info.alphabet:
                raise InputError(f"inputs must be integers in range({info.alphabet})")
            batched = xs.ndim == 2
            symbols = xs if batched else xs[None]
            values = (symbols[..., None] == np.arange(info.alphabet)).astype(np.float64)
        else:
            k = info.input_size
            if xs.ndim not in (2, 3) or xs.shape[-2:] != (n, k):
                raise InputError(f"this circuit was compiled for length {n} with {k} inputs "
                                 f"per step: inputs must have shape ({n}, {k}) or "
                                 f"(batch, {n}, {k}), got {xs.shape}")
            check_real(xs)
            batched = xs.ndim == 3
            values = xs if batched else xs[None]
            # the evaluators read float32, float64 and integers as they are; float16 and
            # long double are read as float64
            if not keep_dtype or (np.issubdtype(xs.dtype, np.floating)
                                  and xs.dtype not in (np.float32, np.float64)):
                values = values.astype(np.float64)
        return CheckedInputs(values.reshape(values.shape[0], -1), batched)

    # -- checks and persistence ------------------------------------------------------------
    def verify(self) -> None:
        """Check the structural invariants with whole-array operations; raise on the first."""
        n = self.num_nodes
        ids = np.arange(n)
        if any(len(getattr(self, col)) != n for col in _COLUMNS):
            raise AssertionError("circuit columns differ in length")
        if self.op.max(initial=0) >= N_OPS or np.any(self.op == Op.STATE):
            raise AssertionError("circuit holds an unknown op or a template-only STATE row")
        arity = ARITY[self.op]
        for name, need in (("a", 1), ("b", 2), ("c", 3)):
            column = getattr(self, name)
            used = arity >= need
            bad = used & ((column < 0) | (column >= ids))
            if bad.any():
                g = int(np.flatnonzero(bad)[0])
                raise AssertionError(f"gate {g} ({OP_NAMES[self.op[g]]}): operand {name}="
                                     f"{column[g]} is not an earlier row")
            if name != "a" and np.any(column[~used] != -1):
                raise AssertionError(f"operand {name} set on a row whose op does not use it")
        leaf_const = self.op == Op.CONST
        if np.any((self.a[leaf_const] < 0) | (self.a[leaf_const] >= len(self.consts))):
            raise AssertionError("a constant row points outside the constant table")
        input_rows = np.flatnonzero(self.op == Op.INPUT)
        if not np.array_equal(np.sort(self.inputs.ravel()), input_rows):
            raise AssertionError("inputs do not list exactly the INPUT rows")
        if not np.array_equal(self.a[self.inputs.ravel()], np.arange(self.inputs.size)):
            raise AssertionError("input rows do not hold their slots in order")
        if self.outputs.size and (self.outputs.min() < 0 or self.outputs.max() >= n):
            raise AssertionError("an output id is out of range")

    def save(self, path) -> None:
        """Write the circuit to an ``.npz`` file (arrays plus JSON metadata)."""
        info = self.info.__dict__ | {"state_shape": list(self.info.state_shape),
                                     "cell_labels": list(self.info.cell_labels)}
        arrays = {col: getattr(self, col) for col in _COLUMNS}
        with open(path, "wb") if isinstance(path, (str, os.PathLike)) else nullcontext(path) \
                as out:  # an open file keeps numpy from appending ".npz" to the name
            np.savez_compressed(out, **arrays, consts=self.consts, inputs=self.inputs,
                                outputs=self.outputs, info=np.array(json.dumps(info)))

    @classmethod
    def load(cls, path) -> Circuit:
        """Read a circuit written by `save`, and verify it."""
        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):  # a plain .npy array
                raise RnncircError(f"{path} is not an rnncirc circuit (save one with "
                                   "'rnncirc compile --save' or Circuit.save)")
            with data:
                arrays = {name: data[name] for name in data.files}
        except RnncircError:
            raise
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
            # a truncated or corrupt archive fails in zipfile, zlib or numpy's header parser
            raise RnncircError(f"cannot read circuit file {path} ({err}); is it a complete "
                               "file written by 'rnncirc compile --save' or Circuit.save?"
                               ) from None
        missing = {*_COLUMNS, "consts", "inputs", "outputs", "info"} - set(arrays)
        if missing:
            raise RnncircError(f"{path} is not an rnncirc circuit (missing {sorted(missing)})")
        try:
            info = json.loads(str(arrays.pop("info")))
            info["state_shape"] = tuple(info["state_shape"])
            info["cell_labels"] = tuple(info["cell_labels"])
            circuit = cls(**arrays, info=CircuitInfo(**info))
        except (ValueError, TypeError, KeyError) as err:
            raise RnncircError(f"{path} holds no valid circuit description ({err})") from None
        try:
            circuit.verify()
        except AssertionError as err:
            raise RnncircError(f"{path} holds an invalid circuit: {err}") from None
        return circuit

    def with_info(self, **changes) -> Circuit:
        return replace(self, info=replace(self.info, **changes))

    def __repr__(self) -> str:
        return (f"<Circuit {self.info.model} n={self.length} topology={self.topology} "
                f"size={self.size} depth={self.depth}>")
