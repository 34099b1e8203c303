"""Sequence sharding: one long sequence of a linear recurrence evaluated in P chunks on a Dask
cluster, by the three-phase scan.

Where this sits: the eval layer, above the compiler (it compiles each chunk's circuits) and
beside `distributed` (batch sharding and the client helpers it uses). `rc.evaluate_sharded`
and ``rnncirc run --scheduler ... --chunks P`` call `evaluate_sharded`.

Summary of the algorithm. h_t = A(x_t) h_(t-1) + b(x_t) is affine in the state, so a chunk
of steps s..e composes to one affine map h_e = A_k h_(s-1) + b_k. The chunk's circuit is that
of a *carry-in* model, ``step(h + e, x)`` with an extra input e that is the state entering
the chunk at its first position and zero after it (it is A(x)(h + e) + b(x): the same kind
of A), compiled once per chunk length on the client and shipped once to each worker.

1. Summaries (a task per chunk): the chunk's ``outputs="last"`` circuit evaluated with e = 0
   gives b_k; with e = 1 (diagonal and scalar kinds) or with e = each unit vector (every
   other kind: A_k's columns) it gives A_k e + b_k, and one subtraction gives A_k, which the
   worker ships in the kind's compact form (`summaries`: a diagonal, a permutation index and
   its coefficients, or dense m x m). Chunk 0 starts from the model's init and gives
   (0, h_(e_0)).
2. Carries (on the client): the P summaries are themselves a linear recurrence,
   c_k = A_k c_(k-1) + b_k, scanned in their form (`summaries.scan_summaries`).
3. States (a task per chunk, ``outputs="all"`` only): the chunk's full circuit with e = its
   carry-in gives its states.

Each phase uses the fast evaluator, so modular evaluation (``modulus=p``) is exact
throughout. The depth reported is that of the schedule as run, phase after phase: chunk
(phase 1) + 1 (the subtraction) + summary scan + carry (phase 3). Nonlinear recurrences (and
max-plus / min-plus ones) are refused: a chunk's states depend on its carry-in other than
affinely. Programs (`rnncirc.eval.program_shards`) shard each of their linear layers so.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from rnncirc.errors import NotLinearError, OptionError
from rnncirc.eval.distributed import gather, large_tasks, require_dask, ship
from rnncirc.eval.summaries import DIAGONAL_KINDS, compress, probes, scan_summaries, summary_form
from rnncirc.frontend.model import RNN, rnn
from rnncirc.frontend.program import Program

#: kinds over the reals, for which the carry-in trick is exact
REAL_KINDS = DIAGONAL_KINDS + ("complex-diagonal", "permutation-diagonal", "dplr", "dense")


@dataclass
class ShardedEvaluation:
    """What `evaluate_sharded` returns: the values and what the run cost.

    ``values`` has the shapes of `Circuit.evaluate` (``outputs="last"``: the last state);
    ``depth`` the depth of each phase as run and their ``total``; ``chunks`` the chunk
    lengths; ``summary`` "diagonal", "permutation-diagonal" or "dense" (the form chunk summaries
    travel in, `summaries.summary_form`; for a
    program, per layer); ``layers`` (programs) each layer's name, kind, summary and depths.
    """

    values: np.ndarray
    depth: dict
    chunks: list[int]
    summary: str
    seconds: float
    layers: list[dict] = field(default_factory=list)


def evaluate_sharded(model: RNN | Program, xs, *, chunks: int, client,
                     topology: str = "auto", outputs: str = "all", dtype: str = "float64",
                     modulus: int | None = None) -> ShardedEvaluation:
    """Evaluate `model` on `xs` with each sequence split into `chunks` pieces over the
    workers of `client` (the three-phase scan of the module docstring).

    Parameters
    ----------
    model : a linear RNN, or a Program whose layers are all linear.
    xs : inputs as for `RNN.run`: ``(n, K)`` or ``(batch, n, K)``, symbols ``(n,)`` or
        ``(batch, n)``.
    chunks : P, the number of pieces (1 <= P <= n); chunk lengths differ by at most one.
    client : a Dask ``distributed.Client``.
    topology, outputs : as for `rc.compile` (of every chunk's circuit).
    dtype, modulus : as for `Circuit.evaluate`; with `modulus` every phase is exact mod p.

    Returns
    -------
    ShardedEvaluation — ``.values`` as ``rc.compile(model, n).evaluate(xs)`` (within float
    rounding; exactly mod p), and ``.depth`` by phase.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> from distributed import Client  # doctest: +SKIP
    >>> @rc.rnn(state=2, inputs=1)
    ... def decay(h, x):
    ...     return rc.sigmoid(x) * h + x
    >>> xs = np.random.default_rng(0).normal(size=(4, 1000, 1))
    >>> run = rc.evaluate_sharded(decay, xs, chunks=4, client=Client())  # doctest: +SKIP
    >>> np.allclose(run.values, decay.run(xs))  # doctest: +SKIP
    True
    >>> sorted(run.depth)  # the depth of each phase as run, and their sum  # doctest: +SKIP
    ['carry', 'chunk', 'extract', 'summary_scan', 'total']
    """
    require_dask("sequence sharding")
    from rnncirc.compiler import check_options

    start = time.perf_counter()
    if modulus is None and dtype == "int64":  # the evaluator's default prime, said once
        from rnncirc.eval.modular import DEFAULT_MODULUS

        modulus = DEFAULT_MODULUS
    batch, batched = model.check_inputs(xs)
    n = batch.shape[1]
    check_options(model, n, topology, outputs)
    if isinstance(chunks, bool) or not isinstance(chunks, int | np.integer) or \
            not 1 <= chunks <= n:
        raise OptionError(f"chunks must be an integer from 1 to the sequence length {n}, "
                          f"got {chunks!r}")
    if outputs == "all":
        check_gather_fits(len(batch), n, model.state_shape, 4 if dtype == "float32" else 8)
    if isinstance(model, Program):
        from rnncirc.eval.program_shards import evaluate_program

        values, depth, layers = evaluate_program(model, batch, int(chunks), client,
                                                 topology, outputs, dtype, modulus)
        summary = ", ".join(f"{layer['name']}: {layer['summary']}" for layer in layers)
    else:
        sharded = ShardedScan(model, int(chunks), client, topology, dtype, modulus)
        values = sharded.run(batch, outputs)
        depth, summary, layers = sharded.depth, sharded.summary, []
    return ShardedEvaluation(values if batched else values[0], depth,
                             chunk_lengths(n, int(chunks)), summary,
                             time.perf_counter() - start, layers)


def available_memory() -> int:
    """Bytes this machine can still give (psutil comes with Dask distributed)."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_gather_fits(batch: int, n: int, shape: tuple, itemsize: int) -> None:
    """``outputs="all"`` gathers every state here: refused up front when the chunks as they
    arrive and the array that joins them would not fit in this machine's available memory."""
    need = 2 * batch * n * int(np.prod(shape)) * itemsize
    available = available_memory()
    if need > available:
        from rnncirc.eval.distributed import SchedulerError

        raise SchedulerError(
            f'outputs="all" gathers the {batch:,} x {n:,} x {int(np.prod(shape)):,} output '
            f"values on this machine: about {need / 2**30:,.1f} GiB with the copy that joins "
            f"them, more than its available memory ({available / 2**30:,.1f} GiB); ask for "
            'the last state only (outputs="last", --outputs last), or run fewer sequences at '
            "once")


def chunk_lengths(n: int, chunks: int) -> list[int]:
    bounds = np.linspace(0, n, chunks + 1).round().astype(np.int64)
    return np.diff(bounds).tolist()


def check_linear(model: RNN, where: str = "") -> object:
    """The model's classification, or a one-line refusal saying why it cannot be chunked."""
    from rnncirc.compiler import classify_model

    cls = classify_model(model)
    if not cls.is_linear:
        raise NotLinearError(f"sequence sharding needs linear recurrences, but {cls.reason}"
                             f"{where}: its chunks cannot be joined exactly; shard the batch "
                             "instead (drop --chunks)")
    if cls.kind not in REAL_KINDS:
        raise NotLinearError(f"sequence sharding joins chunks by affine maps over the reals; "
                             f"{model.name}{where} is a {cls.kind} recurrence")
    return cls


def check_shardable(model: RNN | Program) -> None:
    """Refuse, before any cluster work, a model whose sequence cannot be sharded: one that is
    not linear, or a program with a layer that is not."""
    if isinstance(model, Program):
        for layer in model.layers:
            check_linear(layer.model, f" (layer {layer.name} of {model.name})")
    else:
        check_linear(model)


#: the carry-in model of each live model (an RNN hashes by identity)
_CARRY_IN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def carry_in_model(model: RNN) -> RNN:
    """``step(h + e, x)``: the model with the state entering a chunk as extra inputs e
    (after x's K inputs, or after an alphabet's one-hot bits), and zero initial state."""
    found = _CARRY_IN.get(model)
    if found is not None:
        return found
    shape = model.state_shape
    m = int(np.prod(shape))
    k = model.alphabet or model.input_size
    step = model.step

    if model.alphabet:
        from rnncirc.frontend.alphabet import SymbolSym

        def carried(h, xe):
            onehot = xe[:k]  # the symbol, as the circuit holds it: its one-hot bits
            return step(h + xe[k:].reshape(shape), SymbolSym(onehot.node, onehot.builder))
    else:
        def carried(h, xe):
            return step(h + xe[k:].reshape(shape), xe[:k])

    found = _CARRY_IN[model] = rnn(state=shape, inputs=k + m,
                                   name=f"{model.name}_carry_in")(carried)
    return found


def carry_inputs(alphabet: int | None, xs: np.ndarray, carries: np.ndarray) -> np.ndarray:
    """The carry-in model's inputs: `xs` ``(B, L, K)`` (symbols of an `alphabet`: ``(B, L)``)
    for every one of the `carries` ``(C, m)``: ``(B * C, L, K + m)``, e = the carry at the
    first position."""
    if alphabet:
        xs = (xs[..., None] == np.arange(alphabet)).astype(np.float64)
    b, length = xs.shape[:2]
    c, m = carries.shape[-2:]
    carries = np.broadcast_to(carries, (b, c, m))
    out = np.zeros((b, c, length, xs.shape[2] + m))
    out[:, :, :, :xs.shape[2]] = xs[:, None]
    out[:, :, 0, xs.shape[2]:] = carries
    return out.reshape(b * c, length, -1)


# The tasks take the carry-in circuit and the model's alphabet, not the model: a circuit is
# plain arrays, which any worker unpickles, where a model's step function may live in a file
# that only this machine can import.
def _summary(circuit, alphabet: int | None, xs: np.ndarray, form: str, orient: str,
             dtype: str, modulus: int | None) -> tuple:
    """Phase 1 for one chunk: (A_k in `form`, b_k), as `summaries.compress` ships it."""
    m = int(np.prod(circuit.info.state_shape))
    carry_ins = probes(form, m)
    out = circuit.evaluate(carry_inputs(alphabet, xs, carry_ins), dtype=dtype, modulus=modulus)
    out = np.asarray(out).reshape(len(xs), len(carry_ins), m)
    b = out[:, 0]
    a = out[:, 1:] - b[:, None]
    if modulus is not None:
        a = np.mod(a, modulus)
    return compress(a, form, orient), np.array(b)


def _first_chunk(circuit, alphabet: int | None, xs: np.ndarray, init: np.ndarray,
                 dtype: str, modulus: int | None) -> np.ndarray:
    """Phase 1 for chunk 0: its last state from the model's init (its summary is (0, that))."""
    out = circuit.evaluate(carry_inputs(alphabet, xs, init[None]), dtype=dtype,
                           modulus=modulus)
    return np.asarray(out).reshape(len(xs), -1)


def _states(circuit, alphabet: int | None, xs: np.ndarray, carry: np.ndarray, dtype: str,
            modulus: int | None) -> np.ndarray:
    """Phase 3 for one chunk: its states from its carry-in ``(B, m)``."""
    b = len(xs)
    inputs = carry_inputs(alphabet, xs, np.zeros((1, carry.shape[1])))
    inputs[:, 0, -carry.shape[1]:] = carry
    out = circuit.evaluate(inputs, dtype=dtype, modulus=modulus)
    return np.array(out).reshape((b, xs.shape[1]) + circuit.info.state_shape)


def _check_fits(circuit, client, chunks: int) -> None:
    """A chunk's circuit must leave a worker room to evaluate it: more chunks, or bigger
    workers, otherwise."""
    from rnncirc.eval.distributed import SHARD_MEMORY_SHARE, SchedulerError, worker_memory
    from rnncirc.ir.circuit import BYTES_PER_GATE

    memory = worker_memory(client)
    need = circuit.num_nodes * BYTES_PER_GATE
    if memory is not None and need > SHARD_MEMORY_SHARE * memory:
        raise SchedulerError(
            f"a chunk's circuit ({circuit.num_nodes:,} rows, about {need / 2**20:,.0f} MiB) "
            f"needs more than half of a worker's memory limit ({memory / 2**20:,.0f} MiB); "
            f"use more chunks than {chunks} or workers with more memory")


def _check_ring(circuit, model: RNN) -> None:
    from rnncirc.eval.isa import MODP_OPS
    from rnncirc.eval.modular import ModulusError
    from rnncirc.ir.ops import ARITY, OP_NAMES, Op

    used = np.flatnonzero(np.bincount(circuit.op, minlength=len(ARITY)))
    # (a circuit that divides, from Fraction weights, is evaluated mod p by `eval.exact`)
    bad = [OP_NAMES[op] for op in used
           if ARITY[op] > 0 and op not in MODP_OPS and op != Op.DIV]
    if bad:
        raise ModulusError(f"exact evaluation modulo p supports add, sub, mul, neg and div "
                           f"only; {model.name} has {', '.join(bad)} gates")


class ShardedScan:
    """One linear RNN sharded over a client's workers in `chunks` pieces (module docstring).

    `run` takes a batch ``(B, n, K)`` (symbols ``(B, n)``); `depth` and `summary` describe
    the last run.
    """

    def __init__(self, model: RNN, chunks: int, client, topology: str, dtype: str,
                 modulus: int | None, where: str = ""):
        self.cls = check_linear(model, where)
        self.model, self.chunks, self.client = model, chunks, client
        self.topology, self.dtype, self.modulus = topology, dtype, modulus
        self.summary = summary_form(self.cls.kind)
        self.orient = self.cls.linear.orient
        self.depth: dict = {}

    def _circuits(self, lengths: list[int], outputs: str) -> dict:
        """Each distinct chunk length's carry-in circuit, compiled here once and shipped to
        each worker once (`distributed.ship`)."""
        from rnncirc.compiler import compile_model

        carried = carry_in_model(self.model)
        built = {n: compile_model(carried, n, topology=self.topology, outputs=outputs).circuit
                 for n in sorted(set(lengths))}
        if self.modulus is not None:  # refused here, before any worker starts on it
            _check_ring(next(iter(built.values())), self.model)
        _check_fits(max(built.values(), key=lambda c: c.num_nodes), self.client, self.chunks)
        shipped = {n: ship(self.client, circuit) for n, circuit in built.items()}
        return shipped, max(c.depth for c in built.values())

    def run(self, batch: np.ndarray, outputs: str) -> np.ndarray:
        """The states of `batch` ``(B, n, ...)`` at every position, or the last one."""
        lengths = chunk_lengths(batch.shape[1], self.chunks)
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        # each chunk travels inside its tasks (not scattered), so that the scheduler can
        # rerun a task whose worker died
        pieces = [batch[:, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        futures: list = []
        try:
            out = self.run_pieces(pieces, lengths, len(batch), outputs, futures)
            if outputs == "all":
                out = np.concatenate(gather(self.client, out), axis=1)
        finally:
            self.client.cancel(futures)  # interrupted: stops them; done: frees the copies
        return out

    def run_pieces(self, pieces: list, lengths: list[int], batch: int, outputs: str,
                   futures: list):
        """The three phases over the chunks `pieces` (arrays or futures of ``(B, L_k, ...)``,
        of `lengths`): futures of every chunk's states (``outputs="all"``), or the last
        states ``(B, *state)``. Every future made is appended to `futures`, which the caller
        cancels when it is done with them."""
        model, client, dtype, modulus = self.model, self.client, self.dtype, self.modulus
        init = np.asarray(model.init, dtype=np.float64).reshape(-1)
        if modulus is not None:
            from rnncirc.eval.modular import residues

            init = residues(init, modulus, "the initial state").astype(np.float64)
        if self.chunks == 1 and outputs == "all":  # nothing to join: phase 3 alone
            full, depth = self._circuits(lengths, "all")
            futures += full.values()
            self.depth = {"chunk": 0, "extract": 0, "summary_scan": 0, "carry": depth,
                          "total": depth}
            return self._states(full, pieces, [init], lengths, batch, futures)
        last, chunk_depth = self._circuits(lengths, "last")
        futures += last.values()
        with large_tasks():  # each chunk's inputs travel in its task
            first = client.submit(_first_chunk, last[lengths[0]], model.alphabet, pieces[0],
                                  init, dtype, modulus, pure=False)
            summaries = [client.submit(_summary, last[lengths[k]], model.alphabet, pieces[k],
                                       self.summary, self.orient, dtype, modulus, pure=False)
                         for k in range(1, self.chunks)]
        futures += [first] + summaries
        first, *done = gather(client, [first] + summaries)
        carries, scan_depth = scan_summaries(first, done, self.summary, self.orient,
                                             self.topology, dtype, modulus)
        self.depth = {"chunk": chunk_depth, "extract": int(self.chunks > 1),
                      "summary_scan": scan_depth, "carry": 0}
        if outputs == "last":
            out = carries[:, -1].reshape((batch,) + model.state_shape)
        else:
            full, self.depth["carry"] = self._circuits(lengths, "all")
            futures += full.values()
            entering = [init] + [carries[:, k - 1] for k in range(1, self.chunks)]
            out = self._states(full, pieces, entering, lengths, batch, futures)
        self.depth["total"] = sum(self.depth.values())
        return out

    def _states(self, full: dict, pieces: list, entering: list, lengths: list[int],
                batch: int, futures: list) -> list:
        """Phase 3: futures of every chunk's states from the state entering it."""
        with large_tasks():
            states = [self.client.submit(
                _states, full[lengths[k]], self.model.alphabet, pieces[k],
                np.broadcast_to(entering[k], (batch, entering[k].shape[-1])), self.dtype,
                self.modulus, pure=False) for k in range(self.chunks)]
        futures += states
        return states
