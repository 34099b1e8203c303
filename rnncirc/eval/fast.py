"""The fast evaluator: a circuit's schedule run by the Numba kernels over a batch.

`evaluate_fast` is what ``Circuit.evaluate`` calls by default; `Evaluator` is the reusable
object behind it (one per circuit, cached), with `Evaluator.run` for callers that hold their
data time-major (``(slots, batch)``, as the benchmark does) and want a preallocated output.

Parallelism (``numba.get_num_threads()`` threads):

* lanes: when the batch gives every thread at least ``LANES_PER_THREAD`` lanes, each thread
  runs the whole schedule on its own share of the batch in its own register file, with no
  synchronization and no shared cache lines at all;
* parts: otherwise, when the circuit falls apart into independent pieces (a diagonal
  recurrence is d separate scans; `rnncirc.eval.schedule.output_parts`), each thread runs
  the schedule of its own share of the outputs, with its own registers, on the whole batch;
  threads share nothing but the inputs they read and never wait for each other (Python
  threads: the kernels release the GIL);
* levels: otherwise, a step whose work (gates times lanes) reaches ``wide_threshold`` is
  split over the threads (`kernels.WIDE`), and the narrow steps between wide ones run
  serially in one call (a long, narrow circuit such as an unrolled GRU never pays a per-step
  fork/join). The threshold is high: on a small shared machine a fork/join can cost
  milliseconds when another process holds a core, and time-tiled schedules
  (`rnncirc.eval.schedule`) keep prefix networks narrow per step anyway.

Memory: one buffer (`Workspace`) holds the input rows, the output rows and the register
file: ``schedule.n_regs`` rows of the padded batch, the widest set of simultaneously live
values (`EvalStats`), plus a few scratch rows for fused trees (`rnncirc.eval.schedule`).
The gates read the inputs and write the outputs in place, so the caller's data is copied
once, into the input rows (`Evaluator.fill`), or not at all when it is made there
(`rnncirc.eval.workspace`). Exact evaluation modulo a prime (``modulus=p``) reduces inputs
and constants with `rnncirc.eval.modular`.
"""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from rnncirc.errors import InputError, OptionError
from rnncirc.eval import kernels
from rnncirc.eval.isa import MODP_OPS
from rnncirc.eval.modular import (
    DEFAULT_MODULUS,
    ModulusError,
    check_modulus,
    constant_residues,
    residues,
)
from rnncirc.eval.schedule import (
    DEFAULT_OPTIONS,
    Schedule,
    ScheduleOptions,
    build_schedule,
    output_parts,
)
from rnncirc.eval.workspace import EvalStats, Workspace, vector_width
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.memory import ensure_bytes
from rnncirc.ir.ops import OP_NAMES

#: a level is split over threads when gates x lanes reaches this (below it fork/join costs more)
WIDE_THRESHOLD = 1 << 20
#: the batch is split over threads, each with its own register file, when every thread gets
#: at least this many lanes (one vector: a gate's overhead does not shrink with its lanes, so
#: threads of part of a vector each gain nothing)
LANES_PER_THREAD = 8
#: circuits with fewer gates than this are not split into parts (a thread hand-off costs
#: tens of microseconds)
PARTS_MIN_GATES = 1 << 16
#: inputs of at least this many elements are filled in by all threads
FILL_SPLIT = 1 << 20
DTYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64}
#: dtypes whose runs prefetch the input rows of tiled schedules
#: (`rnncirc.eval.schedule.layout.prefetch_lists`): it pays in float32 and not in float64
#: (bench/README.md has the A/B)
PREFETCH_DTYPES = frozenset({"float32"})

_CACHE_LINE = 64
_SCHEDULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_POOLS: dict[int, ThreadPoolExecutor] = {}



def get_schedule(circuit: Circuit, options: ScheduleOptions = DEFAULT_OPTIONS) -> Schedule:
    """The circuit's schedule under `options`, computed on first use and kept as long as the
    circuit lives."""
    cached = _SCHEDULES.setdefault(circuit, {})
    if options not in cached:
        cached[options] = build_schedule(circuit, options=options)
    return cached[options]


def get_part_schedules(circuit: Circuit, n_parts: int,
                       options: ScheduleOptions = DEFAULT_OPTIONS) -> list[Schedule] | None:
    """Schedules of `n_parts` independent pieces of the circuit (`output_parts`) under
    `options`, or None when it does not split; computed on first use and kept with the
    circuit."""
    cached = _PARTS.setdefault(circuit, {})
    if (n_parts, options) not in cached:
        parts = output_parts(circuit, n_parts)
        schedules = None
        if parts is not None:  # registers of the parts one after another in one buffer
            schedules = []
            for positions in parts:
                work_base = schedules[-1].n_rows(1) if schedules else None
                schedules.append(build_schedule(circuit, positions=positions,
                                                work_base=work_base, options=options))
        cached[n_parts, options] = schedules
    return cached[n_parts, options]


def _pool(threads: int) -> ThreadPoolExecutor:
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="rnncirc-part")
    return _POOLS[threads]



class Evaluator:
    """Runs one circuit's schedule; cheap to create once the schedule exists.

    `Circuit.evaluate` is the simple way in; an Evaluator lets a caller that evaluates many
    batches keep one workspace and skip every copy but the one into the input rows:

    >>> import numpy as np, rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def running_sum(h, x):
    ...     return h + x
    >>> evaluator = Evaluator(rc.compile(running_sum, 3), dtype="float32")
    >>> ws = evaluator.workspace(2)  # batch 2: input rows, output rows, registers
    >>> evaluator.fill(ws, np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]))  # (batch, slots)
    >>> evaluator.evaluate(ws).T.tolist()  # (outputs, batch), a view into the workspace
    [[1.0, 3.0, 6.0], [0.0, 1.0, 1.0]]
    """

    def __init__(self, circuit: Circuit, *, dtype="float64", modulus: int | None = None,
                 wide_threshold: int = WIDE_THRESHOLD, schedule: Schedule | None = None,
                 options: ScheduleOptions | None = None):
        self.circuit = circuit
        if schedule is not None and options is not None:
            raise OptionError("give an Evaluator a schedule or schedule options, not both")
        # (a schedule of one's own, e.g. build_schedule(circuit, fuse=False) to compare; it
        # is then run as it is, never split into parts)
        self.own_schedule = schedule is None
        #: how the schedules of the circuit and of its parts are built (`ScheduleOptions`)
        self.options = DEFAULT_OPTIONS if options is None else options
        self.schedule = get_schedule(circuit, self.options) if schedule is None else schedule
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
        if name not in DTYPES:
            raise OptionError(f"dtype must be float64, float32 or int64, got {dtype!r}")
        if modulus is not None and name != "int64":
            name = "int64"
        if name == "int64":
            self.modulus = check_modulus(DEFAULT_MODULUS if modulus is None else modulus)
            bad = sorted(op for op in self.schedule.gate_ops if op not in MODP_OPS)
            if bad:
                raise ModulusError(
                    "exact evaluation modulo p supports add, sub, mul and neg only; this "
                    f"circuit has {', '.join(OP_NAMES[o] for o in bad)} gates")
            self.const_values = constant_residues(self.schedule.const_val, self.modulus)
        else:
            self.modulus = 0
            self.const_values = self.schedule.const_val.astype(DTYPES[name])
        self.dtype = np.dtype(DTYPES[name])
        self.wide_threshold = wide_threshold
        self.prefetch = name in PREFETCH_DTYPES
        self._kernel_arrays: dict[tuple[Schedule, bool], tuple] = {}

    def _arrays(self, schedule: Schedule) -> tuple:
        """The schedule's arrays as `kernels.run` takes them, made once per schedule (and
        prefetch choice): a small circuit's evaluation takes microseconds."""
        key = (schedule, self.prefetch)
        arrays = self._kernel_arrays.get(key)
        if arrays is None:
            arrays = kernels.ScheduleArrays.from_schedule(schedule, self.prefetch)
            self._kernel_arrays[key] = arrays
        return arrays

    def _constants(self, schedule: Schedule) -> np.ndarray:
        if schedule is self.schedule:
            return self.const_values
        if self.modulus:
            return constant_residues(schedule.const_val, self.modulus)
        return schedule.const_val.astype(self.dtype)

    def parts(self, threads: int) -> list[Schedule] | None:
        """The part schedules for `threads` threads, or None (see the module docstring)."""
        if threads < 2 or not self.own_schedule or self.schedule.n_gates < PARTS_MIN_GATES:
            return None
        return get_part_schedules(self.circuit, threads, self.options)

    # -- buffers ---------------------------------------------------------------------------
    @staticmethod
    def _flat(array: np.ndarray) -> tuple[np.ndarray, int, int]:
        """A (slots, batch) array as (flat buffer, slot stride, lane stride) in elements."""
        if array.flags.c_contiguous:
            return array.reshape(-1), array.shape[1], 1
        if array.flags.f_contiguous:
            return array.T.reshape(-1), 1, array.shape[0]
        raise AssertionError("expected a C- or F-contiguous (slots, batch) array")

    def _buffer(self, lanes: int, rows: int, schedules: list[Schedule],
                copies: int = 1) -> np.ndarray:
        """`copies` zeroed buffers of `rows` rows of `lanes` lanes, each 64-byte aligned,
        with the constants of `schedules` filled in."""
        line = _CACHE_LINE // self.dtype.itemsize
        n = -(-max(1, rows) * lanes // line) * line
        ensure_bytes((copies * n + line) * self.dtype.itemsize,
                     f"evaluating a batch of {lanes * copies:,} (input, output and register "
                     f"rows: {rows:,} x {lanes * copies:,} lanes of {self.dtype.name})",
                     "evaluate a smaller batch at a time")
        buf = np.zeros(copies * n + line, dtype=self.dtype)
        start = (-buf.ctypes.data % _CACHE_LINE) // self.dtype.itemsize
        V = buf[start:start + copies * n]
        for s in schedules:
            if len(s.const_reg):
                values = self._constants(s)
                for k in range(copies):
                    V[k * n:k * n + rows * lanes].reshape(rows, lanes)[s.const_reg] = \
                        values[:, None]
        return V

    def workspace(self, batch: int, inputs: np.ndarray | None = None,
                  outputs: np.ndarray | None = None) -> Workspace:
        """The memory to evaluate a batch in: `fill` it, `evaluate` it, read
        ``ws.outputs`` (output positions x batch, a view).

        Input rows, output rows and registers are rows of one buffer, so the gates read the
        inputs and write the outputs where they are: `fill` is the only copy. A workspace is
        reused across evaluations of the same batch size. When the batch is split over
        threads ("lanes" mode) each thread has a buffer of its own, copies its lanes of
        ``ws.inputs`` in and writes its lanes of ``ws.outputs``, separate (slots, batch)
        arrays, which may be given (C-contiguous or transposed C-contiguous); in the other
        modes `inputs` and `outputs` are not used.
        """
        s = self.schedule
        mode, threads, segments = self.plan(batch)
        if mode == "lanes":
            bounds = np.linspace(0, batch, threads + 1).round().astype(np.int64)
            share = int(np.diff(bounds).max())
            width = vector_width(share)
            lanes = -(-share // width) * width
            V = self._buffer(lanes, s.n_rows(1), [s], threads)
            if inputs is None:
                inputs = np.zeros((s.n_inputs, batch), dtype=self.dtype)
            if outputs is None:
                outputs = np.empty((s.n_outputs, batch), dtype=self.dtype)
            return Workspace(batch, lanes, width, mode, threads, segments, V, inputs, outputs,
                             bounds, None)
        width = vector_width(batch)
        lanes = -(-batch // width) * width
        parts = self.parts(threads) if mode == "parts" else None
        schedules = [s] if parts is None else parts
        tasks = 4 * threads if mode == "levels" else 1
        rows = max(part.n_rows(tasks) for part in schedules)
        V = self._buffer(lanes, rows, schedules)
        outputs = V[s.out_base * lanes:(s.out_base + s.n_outputs) * lanes]
        return Workspace(batch, lanes, width, mode, threads, segments, V, None,
                         outputs.reshape(s.n_outputs, lanes)[:, :batch],
                         np.zeros(2, dtype=np.int64), parts)

    def stats(self, batch: int, mode: str = "serial", threads: int = 1) -> EvalStats:
        width = vector_width(batch)
        lanes = -(-batch // width) * width
        item = self.dtype.itemsize
        s = self.schedule
        parts = self.parts(threads) if mode == "parts" else None
        n_regs = s.n_regs if parts is None else sum(part.n_regs for part in parts)
        return EvalStats(batch=batch, lanes=lanes, width=width, dtype=self.dtype.name,
                         n_regs=n_regs, peak_bytes=n_regs * lanes * item,
                         io_bytes=(s.n_inputs + s.n_outputs) * lanes * item,
                         naive_bytes=s.num_nodes * batch * 8, schedule_bytes=s.nbytes(),
                         threads=threads, mode=mode)

    def plan(self, batch: int) -> tuple[str, int, list]:
        """(mode, threads, segments): how a batch is split over threads and levels.

        Segments are ``("serial", l0, l1)``, ``("lanes", l0, l1)``, ``("wide", lv)`` or
        ``("parts", threads)``.
        """
        width = vector_width(batch)
        chunks = -(-batch // width)
        threads = numba.get_num_threads()
        s = self.schedule
        if threads > 1 and batch // threads >= LANES_PER_THREAD:
            return "lanes", threads, [("lanes", 0, s.n_levels)]
        if self.parts(threads) is not None:
            return "parts", threads, [("parts", threads)]
        work = s.level_work.astype(np.int64) * chunks * width
        if threads == 1 or work.max(initial=0) < self.wide_threshold:
            return "serial", 1, [("serial", 0, s.n_levels)]
        segments = []
        start = 0
        for lv in np.flatnonzero(work >= self.wide_threshold).tolist():
            if lv > start:
                segments.append(("serial", start, lv))
            segments.append(("wide", lv))
            start = lv + 1
        if start < s.n_levels:
            segments.append(("serial", start, s.n_levels))
        return "levels", threads, segments

    # -- evaluation ------------------------------------------------------------------------
    def fill(self, ws: Workspace, values: np.ndarray) -> None:
        """The workspace's inputs <- `values` ``(batch, slots)`` (C-contiguous or the
        transpose of a C-contiguous array), cast to the evaluator's dtype."""
        if not (values.flags.c_contiguous or values.flags.f_contiguous):
            values = np.ascontiguousarray(values)
        if ws.mode == "lanes":
            ws.inputs[...] = values.T
            return
        slots = values.shape[1]
        threads = numba.get_num_threads()
        if threads == 1 or values.size < FILL_SPLIT:
            kernels.fill_rows(values, ws.V, ws.lanes, self.schedule.slot_row, 0, slots)
            return
        bounds = np.linspace(0, slots, threads + 1).astype(np.int64)  # (kernels are nogil)
        list(_pool(threads).map(
            lambda k: kernels.fill_rows(values, ws.V, ws.lanes, self.schedule.slot_row,
                                        bounds[k], bounds[k + 1]), range(threads)))

    def run(self, X: np.ndarray, out: np.ndarray | None = None, *, progress=None,
            segment_gates: int | None = None) -> np.ndarray:
        """Evaluate on input slots `X` ``(slots, batch)``; return outputs ``(n_out, batch)``.

        `X` (and `out`, if given) may be C-contiguous (time-major) or the transpose of a
        C-contiguous ``(batch, slots)`` array; its dtype must be the evaluator's. Without
        `out` the result is a view into the workspace. `progress` is called as
        ``progress(done_gates, total_gates)`` between chunks of about `segment_gates` gates.
        Callers that evaluate the same batch size again can skip the copies: see
        `workspace`.
        """
        s = self.schedule
        if X.ndim != 2 or X.shape[0] != s.n_inputs:
            raise InputError(f"expected input slots of shape ({s.n_inputs}, batch), got "
                             f"{X.shape}")
        batch = X.shape[1]
        if X.dtype != self.dtype:
            raise InputError(f"inputs must have dtype {self.dtype}, got {X.dtype}")
        if not (X.flags.c_contiguous or X.flags.f_contiguous):
            X = np.ascontiguousarray(X)
        if out is not None and (out.shape != (s.n_outputs, batch) or out.dtype != self.dtype
                                or not (out.flags.c_contiguous or out.flags.f_contiguous)):
            raise InputError(f"out must be a contiguous ({s.n_outputs}, {batch}) array of "
                             f"{self.dtype}")
        ws = self.workspace(batch, X, out)  # (lanes mode reads X and writes out in place)
        if ws.mode == "lanes":
            return self.evaluate(ws, progress=progress, segment_gates=segment_gates)
        self.fill(ws, X.T)
        result = self.evaluate(ws, progress=progress, segment_gates=segment_gates)
        if out is None:
            return result
        out[...] = result
        return out

    def evaluate(self, ws: Workspace, *, progress=None,
                 segment_gates: int | None = None) -> np.ndarray:
        """Evaluate the workspace's inputs; returns ``ws.outputs``."""
        s = self.schedule
        if ws.batch == 0 or s.n_outputs == 0:
            return ws.outputs
        if ws.mode == "lanes":
            Xf, xs0, xs1 = self._flat(ws.inputs)
            Of, os0, os1 = self._flat(ws.outputs)
        else:  # (not read: the inputs and outputs are rows of V)
            Xf, xs0, xs1, Of, os0, os1 = ws.V, 0, 0, ws.V, 0, 0
        io = (ws.V, ws.lanes, Xf, xs0, xs1, Of, os0, os1, self.modulus, (0,) * ws.width)
        if ws.mode == "parts":
            self._run_parts(ws, io, progress, segment_gates)
            return ws.outputs
        arrays = self._arrays(s)
        segments = _chunked(ws.segments, s, ws.lanes, progress, segment_gates)
        gates_before = None if progress is None else _gates_before(s)
        threads = ws.threads
        for seg in segments:
            if seg[0] == "serial":
                kernels.run(kernels.SERIAL, seg[1], seg[2], 1, ws.bounds, *io, arrays)
            elif seg[0] == "lanes":
                kernels.run(kernels.LANES, seg[1], seg[2], threads, ws.bounds, *io, arrays)
            else:
                kernels.run(kernels.WIDE, seg[1], seg[1] + 1, 4 * threads, ws.bounds, *io,
                            arrays)
            if progress is not None:
                last = seg[2] if seg[0] != "wide" else seg[1] + 1
                progress(int(gates_before[last]), s.n_gates)
        return ws.outputs

    def _run_parts(self, ws: Workspace, io: tuple, progress,
                   segment_gates: int | None) -> None:
        """Each part's schedule on the whole batch in a thread of its own (see `plan`):
        the parts share the buffer's input and output rows and own disjoint registers."""
        parts = ws.parts
        total = sum(s.n_gates for s in parts)
        done = [0] * len(parts)
        lock = threading.Lock()
        stop = threading.Event()  # set when the caller is interrupted (Ctrl-C) or one fails

        def work(k: int) -> None:
            try:
                run_part(k)
            except BaseException:
                stop.set()  # the other parts stop too
                raise

        def run_part(k: int) -> None:
            s = parts[k]
            arrays = self._arrays(s)
            segments = _chunked([("serial", 0, s.n_levels)], s, ws.lanes, progress,
                                segment_gates)
            gates_before = None if progress is None else _gates_before(s)
            for _, l0, l1 in segments:
                if stop.is_set():  # (between segments: a kernel call runs to its end)
                    return
                kernels.run(kernels.SERIAL, l0, l1, 1, ws.bounds, *io, arrays)
                if progress is not None:
                    with lock:
                        done[k] = int(gates_before[l1])
                        progress(sum(done), total)

        futures = [_pool(len(parts)).submit(work, k) for k in range(len(parts))]
        try:
            for future in futures:
                future.result()
        except BaseException:
            stop.set()
            raise


def _gates_before(s: Schedule) -> np.ndarray:
    """Gates before each step of `s` (and in all, last), for progress reports: made only when
    they are asked for, as an evaluation of a small circuit takes microseconds."""
    return np.concatenate([[0], np.cumsum(s.level_work)])


def _chunked(segments: list, s: Schedule, lanes: int, progress, segment_gates) -> list:
    """`segments` cut into chunks that report progress (about 16M gate-lanes each, or
    `segment_gates` gates) when a callback or a chunk size is given; else as they are."""
    if progress is None and segment_gates is None:
        return segments
    return _split_segments(segments, s, segment_gates or max(1024, (1 << 24) // lanes))


def _split_segments(segments: list, s: Schedule, gates_per_segment: int) -> list:
    """Cut serial/lane segments into pieces of about `gates_per_segment` gates."""
    ptr = np.concatenate([[0], np.cumsum(s.level_work)])
    result = []
    for seg in segments:
        if seg[0] == "wide":
            result.append(seg)
            continue
        kind, l0, l1 = seg
        while l0 < l1:
            target = ptr[l0] + gates_per_segment
            l_next = int(np.searchsorted(ptr, target, side="right")) - 1
            l_next = min(l1, max(l0 + 1, l_next))
            result.append((kind, l0, l_next))
            l0 = l_next
    return result


def evaluate_fast(circuit: Circuit, values: np.ndarray, *, dtype="float64",
                  modulus: int | None = None, progress=None,
                  segment_gates: int | None = None,
                  options: ScheduleOptions | None = None) -> np.ndarray:
    """Outputs for input-slot values ``(batch, slots)``: ``(batch, *circuit.outputs.shape)``.

    The same contract as `rnncirc.ir.reference.evaluate_reference`, for float64, float32
    or exact residues modulo a prime (``dtype="int64"`` or ``modulus=p``); `options` tune the
    schedule (`ScheduleOptions`), never the numbers.
    """
    evaluator = Evaluator(circuit, dtype=dtype, modulus=modulus, options=options)
    values = np.asarray(values)
    if evaluator.modulus:
        values = residues(values, evaluator.modulus, "an input")
    batch = values.shape[0]
    ws = evaluator.workspace(batch)
    evaluator.fill(ws, values)
    out = evaluator.evaluate(ws, progress=progress, segment_gates=segment_gates)
    # (batch, n_out) as a transposed view into the workspace, not a copy: the output
    # transpose cost as much as the evaluation on long diagonal scans, and numpy handles
    # strided arrays
    return out.T.reshape((batch,) + circuit.outputs.shape)
