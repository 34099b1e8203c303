"""``rnncirc run``: evaluate a compiled (or saved) circuit on data from a file.

    rnncirc run MODEL.py --length N --input xs.npy --output hs.npy
    rnncirc run --load circuit.npz --input xs.npy --output hs.npy

`add_run_command` registers the subcommand on the CLI's subparsers; the handler is stored as
``run`` (``args.run(args)``) and raises `RnncircError` subclasses for user mistakes, which the
CLI prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import zipfile
import zlib

import numpy as np

from rnncirc.cli.distributed import add_scheduler_options
from rnncirc.cli.options import (
    add_objective_option,
    add_outputs_option,
    add_topology_option,
    add_trust_pickle_option,
    check_output_path,
    positive_int,
)
from rnncirc.errors import CheckFailedError, InputError, OptionError

_DESCRIPTION = (
    "Evaluate the circuit of MODEL.py over N steps (or a circuit saved with 'rnncirc compile "
    "--save', given with --load) on the sequences in an .npy file, with the levelized Numba "
    "evaluator, and save the states h_1..h_n (or h_n with --outputs last) as .npy. Inputs "
    "have shape (n, K) or (batch, n, K); models over an alphabet take integer symbols of "
    "shape (n,) or (batch, n). A progress bar appears on a terminal when evaluation runs "
    "long.")

_EPILOG = """examples:
  rnncirc run examples/gru.py --length 1000 --input xs.npy --output hs.npy
  rnncirc run --load mamba.npz --input xs.npy --output hs.npy --dtype float32
  rnncirc run examples/parity.py -n 64 --input symbols.npy --output hs.npy --check
  rnncirc run examples/mamba.py -n 4096 -i xs.npy -o hs.npy --scheduler local:2
  rnncirc run examples/mamba.py -n 65536 -i xs.npy -o hs.npy --scheduler local:2 --chunks 8"""


def add_run_command(subparsers) -> argparse.ArgumentParser:
    """Register ``run`` on `subparsers` (an ``add_subparsers()`` result); return its parser."""
    run = subparsers.add_parser(
        "run", help="evaluate a circuit on sequences from an .npy file",
        description=_DESCRIPTION, epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("model_file", metavar="MODEL.py", nargs="?",
                     help="a Python file defining RNNs (@rc.rnn) or programs (@rc.program) "
                          "(not needed with --load)")
    run.add_argument("--length", "-n", type=positive_int, metavar="N",
                     help="sequence length n to compile for (with MODEL.py)")
    run.add_argument("--model", "-m", metavar="NAME",
                     help="which RNN or program of the file when it defines several")
    add_trust_pickle_option(run)
    add_topology_option(run, ". For speed on a CPU choose --objective size, or brent-kung: "
                             "the fewest gates of the log-depth networks (the network "
                             "jax.lax.associative_scan uses); auto's least-depth circuits "
                             "can have many more gates")
    add_objective_option(run)
    add_outputs_option(run)
    run.add_argument("--load", metavar="CIRCUIT.npz",
                     help="evaluate a circuit saved with 'rnncirc compile --save' instead of "
                          "compiling MODEL.py")
    run.add_argument("--input", "-i", required=True, metavar="XS.npy",
                     help="the input sequences (.npy)")
    run.add_argument("--output", "-o", metavar="HS.npy",
                     help="where to save the states (.npy); without it only a summary is "
                          "printed")
    run.add_argument("--dtype", choices=("float64", "float32", "int64"), default="float64",
                     help="arithmetic: float64 (default), float32, or int64 = exact modulo "
                          "a prime (add/sub/mul/neg circuits only)")
    run.add_argument("--modulus", type=int, metavar="P",
                     help="the prime for --dtype int64 (default 2147483647); implies int64")
    run.add_argument("--method", choices=("fast", "reference"), default="fast",
                     help="fast: Numba kernels (default); reference: the numpy oracle")
    run.add_argument("--check", action="store_true",
                     help="also run the model eagerly (RNN.run or Program.run), report the "
                          "largest absolute and relative difference, and fail (exit 2) when "
                          "the relative one passes --check-tol or NaN/inf differ (needs "
                          "MODEL.py)")
    run.add_argument("--check-tol", type=float, default=None, metavar="TOL",
                     help="largest relative difference --check accepts, max |circuit - run| "
                          "/ max(1, max |run|) (default 1e-9 in float64, 1e-3 in float32: "
                          "the circuit adds in another order than the step-by-step run)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="show a progress bar (default: on a terminal, when it runs long)")
    add_scheduler_options(run, "the batch is split over its workers (or each sequence, with "
                          "--chunks)", chunks=True)
    run.set_defaults(run=run_command)
    return run


class _ProgressBar:
    """A one-line bar on stderr, drawn only once evaluation has taken `delay` seconds."""

    def __init__(self, enabled: bool, delay: float = 1.0, stream=None):
        self.enabled = enabled
        self.delay = delay
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter() - self.start
        if not self.enabled or now < self.delay or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        frac = done / total if total else 1.0
        bar = "#" * int(30 * frac)
        eta = now * (1 - frac) / frac if frac > 0 else 0.0
        self.stream.write(f"\revaluating [{bar:<30}] {100 * frac:5.1f}%  {done:,}/{total:,} "
                          f"gates  {now:.1f}s elapsed, ~{eta:.1f}s left")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _load_inputs(path: str) -> np.ndarray:
    if not os.path.exists(path):
        raise InputError(f"input file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if len(data.files) != 1:
                    raise InputError(f"{path} holds {len(data.files)} arrays "
                                     f"({', '.join(data.files)}); give a .npy file or an "
                                     ".npz with exactly one array")
                data = data[data.files[0]]
    except InputError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # empty, truncated or not numpy at all: numpy, zipfile or zlib says so
        raise InputError(f"cannot read {path} as a .npy array ({err or type(err).__name__})"
                         ) from None
    return data


def _circuit_for(args):
    """(circuit, model or None, compilation or None) from --load or MODEL.py + --length."""
    from rnncirc.compiler import compile_model
    from rnncirc.frontend.loader import pick_model
    from rnncirc.ir.circuit import Circuit

    model = pick_model(args.model_file, args.model, trust_pickle=args.trust_pickle) \
        if args.model_file else None
    if args.load:
        if not os.path.exists(args.load):
            raise InputError(f"circuit file {args.load} does not exist")
        if not zipfile.is_zipfile(args.load):
            raise InputError(f"cannot read circuit file {args.load}: not an .npz written by "
                             "'rnncirc compile --save'")
        circuit = Circuit.load(args.load)
        if args.length is not None and args.length != circuit.length:
            raise OptionError(f"--length {args.length} does not match the loaded circuit "
                              f"(length {circuit.length}); drop --length with --load")
        return circuit, model, None
    if model is None:
        raise OptionError("give a model file (rnncirc run MODEL.py --length N ...) or a saved "
                          "circuit (--load CIRCUIT.npz)")
    if args.length is None:
        raise OptionError("--length N is required to compile MODEL.py (or use --load)")
    compilation = compile_model(model, args.length, topology=args.topology,
                                outputs=args.outputs, objective=args.objective)
    return compilation.circuit, model, compilation


def _topology_hint(compilation) -> str | None:
    """A line for when `auto` (least depth) chose a network with far more gates than
    Brent-Kung: on a CPU the gate count, not the depth, sets the evaluation time."""
    circuit, cls = compilation.circuit, compilation.classification
    if (compilation.requested_topology != "auto" or compilation.objective != "depth"
            or circuit.length <= 2
            or compilation.topology in ("sequential", "brent-kung")
            or not hasattr(cls, "linear")):  # a program: its layers chose one by one
        return None
    from rnncirc.lower.measure import measure_linear

    if (cls.linear.symbol_perm is not None or cls.linear.index is not None
            or cls.kind in ("max-plus", "min-plus")):  # measured by a full build: not here
        return None
    fewer = measure_linear(compilation.model, cls, circuit.length, "brent-kung",
                           compilation.outputs)
    if 1.5 * fewer.size > circuit.size:
        return None
    return (f"hint: --topology brent-kung gives {fewer.size:,} gates instead of "
            f"{circuit.size:,} ({circuit.size / fewer.size:.1f}x fewer, depth {fewer.depth} "
            f"instead of {circuit.depth}), which evaluates faster on a CPU; --objective size "
            f"picks the circuit of fewest gates")


def _check(hs: np.ndarray, expected: np.ndarray, name: str, args) -> None:
    """Print how far the circuit's outputs are from ``RNN.run``; raise past the tolerance."""
    tol = args.check_tol if args.check_tol is not None else \
        (1e-3 if args.dtype == "float32" else 1e-9)
    got = hs.astype(np.float64)
    finite = np.isfinite(expected) & np.isfinite(got)
    # NaN and inf must sit where the run has them, and be the same
    same_special = np.array_equal(np.isnan(got), np.isnan(expected)) and \
        np.array_equal(got[np.isinf(expected)], expected[np.isinf(expected)])
    diff = float(np.max(np.abs(got - expected)[finite], initial=0.0))
    scale = float(np.max(np.abs(expected)[finite], initial=0.0))
    relative = diff / max(1.0, scale)
    print(f"check against {name}.run: max |difference| = {diff:.3g}, relative "
          f"{relative:.3g} (max |h| = {scale:.3g}; tolerance {tol:g})")
    if not same_special:
        where = np.argwhere(np.isnan(got) != np.isnan(expected)
                            | (np.isinf(got) != np.isinf(expected)))
        first = tuple(int(i) for i in where[0]) if len(where) else ()
        raise CheckFailedError(f"--check failed: NaN or inf differ between the circuit and "
                               f"{name}.run (first at index {first})")
    if not relative <= tol:
        raise CheckFailedError(f"--check failed: relative difference {relative:.3g} is above "
                               f"the tolerance {tol:g} (--check-tol sets it)")


class _CompileWatch:
    """Numba's compile events during a run: the first one says that the kernels are being
    compiled (about a minute after an install, then cached), and their time is kept out of
    the rate. Loading cached kernels is no compile event."""

    def __init__(self) -> None:
        from numba.core import event

        self.seconds = 0.0
        self._open: dict[int, float] = {}  # compile nesting per thread: outermost start
        self._depth: dict[int, int] = {}
        self._lock = threading.Lock()
        watch = self

        class Listener(event.Listener):
            def on_start(self, ev):
                watch._started()

            def on_end(self, ev):
                watch._ended()

        self.listener = Listener()

    def _started(self) -> None:
        with self._lock:
            me = threading.get_ident()
            if not self._depth.get(me):
                if not self._open and self.seconds == 0.0:
                    print("compiling the evaluator's kernels (once after an install: Numba "
                          "caches them) ...", flush=True)
                self._open[me] = time.perf_counter()
            self._depth[me] = self._depth.get(me, 0) + 1

    def _ended(self) -> None:
        with self._lock:
            me = threading.get_ident()
            self._depth[me] -= 1
            if not self._depth[me]:
                self.seconds += time.perf_counter() - self._open.pop(me)


def run_command(args) -> None:
    """The handler of ``rnncirc run``."""
    if args.modulus is not None:
        args.dtype = "int64"
    if args.check and not args.model_file:
        raise OptionError("--check compares against the model's eager run: give MODEL.py")
    if args.check and args.dtype == "int64":
        raise OptionError("--check compares floats with RNN.run; it cannot check int64 "
                          "residues")
    if args.method == "reference" and args.dtype != "float64":
        raise OptionError("--method reference evaluates in float64 only")
    if args.output:  # before the (possibly long) compile and evaluation
        check_output_path(args.output, "--output", "hs.npy")
    xs = _load_inputs(args.input)
    if args.scheduler:
        from rnncirc.cli.distributed import run_on_cluster

        return run_on_cluster(args, xs, _circuit_for, _check, _human)
    if args.chunks is not None:
        raise OptionError("--chunks splits sequences over a Dask cluster: give --scheduler "
                          "ADDRESS or --scheduler local:N")
    circuit, model, compilation = _circuit_for(args)

    batched = xs.ndim == (2 if circuit.info.alphabet else 3)
    batch = xs.shape[0] if batched else 1
    evaluator = None
    from rnncirc.ir.ops import Op

    # a circuit that divides is evaluated modulo p by eval.exact, not by the kernels
    divides = args.dtype == "int64" and bool(np.any(circuit.op == Op.DIV))
    # schedule first (once per circuit), so the rate is the run's
    if args.method == "fast" and not divides:
        from rnncirc.eval.fast import Evaluator

        start = time.perf_counter()
        evaluator = Evaluator(circuit, dtype=args.dtype, modulus=args.modulus)
        mode, threads, _ = evaluator.plan(batch)
        scheduled = time.perf_counter() - start

    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = _ProgressBar(show, delay=1.0 if args.progress is None else 0.0)
    from numba.core import event

    watch = _CompileWatch()
    start = time.perf_counter()
    try:
        with event.install_listener("numba:compile", watch.listener):
            hs = circuit.evaluate(xs, method=args.method, dtype=args.dtype,
                                  modulus=args.modulus, progress=bar)
    finally:
        bar.close()
    seconds = time.perf_counter() - start - watch.seconds
    if watch.seconds:
        print(f"kernels: compiled in {watch.seconds:.0f} s (not counted in the rate below)")

    rate = circuit.size * batch / seconds if seconds > 0 else float("inf")
    print(f"{circuit!r}")
    print(f"evaluated {batch} sequence{'s' if batch != 1 else ''} with the {args.method} "
          f"evaluator ({args.dtype}) in {seconds:.3f} s: {rate / 1e6:,.1f} M gate-evaluations/s")
    if evaluator is not None:
        stats = evaluator.stats(batch, mode, threads)
        how = {"serial": "1 thread", "lanes": f"{threads} threads, each on its share of the "
               "batch", "levels": f"{threads} threads on the wide levels",
               "parts": f"{threads} threads, each on an independent part of the circuit"}[mode]
        print(f"schedule: {scheduled:.3f} s (once per circuit); {how}")
        print(f"memory: register file {_human(stats.peak_bytes)} ({stats.n_regs:,} live "
              f"values x {stats.lanes} lanes) next to {_human(stats.io_bytes)} of input and "
              f"output rows, instead of {_human(stats.naive_bytes)} for one value per node")
    if args.check:
        expected = np.asarray(model.run(xs))
        if circuit.info.outputs == "last":
            expected = np.take(expected, -1, axis=1 if batched else 0)
        _check(hs, expected, model.name, args)
    if args.output:
        with open(args.output, "wb") as out:  # a name without .npy is kept as given
            np.save(out, hs)
        print(f"wrote {args.output}: shape {hs.shape}, dtype {hs.dtype}")
    hint = _topology_hint(compilation) if compilation is not None else None
    if hint:
        print(hint)


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError

