"""``--scheduler`` and ``--chunks``: the command line's way onto a Dask cluster.

Where this sits: the CLI, beside `run` and `profile_dot`, which register these options with
`add_scheduler_options` and hand a parsed ``--scheduler`` to `run_on_cluster` (``rnncirc
run``) or open a client with `rnncirc.eval.distributed.open_client` (``rnncirc profile``).
Without Dask installed the options say, in one line, how to install it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rnncirc.cli.options import positive_int
from rnncirc.errors import OptionError

_SCHEDULER_HELP = (
    "run on a Dask cluster: ADDRESS of a running scheduler (tcp://host:8786), or local:N for "
    "N worker processes on this machine (needs pip install 'rnncirc[distributed]')")


def add_scheduler_options(parser: argparse.ArgumentParser, what: str,
                          chunks: bool = False) -> None:
    """``--scheduler ADDRESS|local:N`` (and for ``run``, ``--chunks P``)."""
    parser.add_argument("--scheduler", metavar="ADDRESS|local:N",
                        help=f"{_SCHEDULER_HELP}: {what}")
    if chunks:
        parser.add_argument(
            "--chunks", type=positive_int, metavar="P",
            help="with --scheduler: split each sequence into P chunks (the three-phase "
                 "scan: chunk summaries on the workers, a scan of the P summaries here, "
                 "then every chunk from its carry-in) instead of splitting the batch; "
                 "linear models and programs of linear layers only, compiled from MODEL.py")
        parser.add_argument("--worker-memory", metavar="BYTES",
                            help="with --scheduler local:N: each worker's memory limit "
                                 "(e.g. 2GiB; default: this machine's memory / N)")


def run_on_cluster(args, xs: np.ndarray, circuit_for, check, human) -> None:
    """``rnncirc run --scheduler ...``: batch sharding of the compiled (or loaded) circuit,
    or with ``--chunks`` sequence sharding of MODEL.py; prints what ran, checks, saves."""
    from rnncirc.eval.distributed import open_client

    if args.method != "fast":
        raise OptionError("--scheduler runs the fast evaluator only (drop --method)")
    if args.worker_memory and not args.scheduler.startswith("local:"):
        raise OptionError("--worker-memory sets the workers of --scheduler local:N; a running "
                          "scheduler's workers have the limits they were started with")
    if args.chunks is not None and (args.load or not args.model_file):
        raise OptionError("--chunks compiles each chunk from MODEL.py: give the model file, "
                          "not --load")
    model = compilation = None
    if args.chunks is None:  # compiled here once, shipped to every worker once
        circuit, model, compilation = circuit_for(args)
        circuit.check_inputs(xs, keep_dtype=True)  # before a cluster is started or reached
    else:
        from rnncirc.frontend.loader import pick_model

        if args.length is None:
            raise OptionError("--length N is required with MODEL.py")
        from rnncirc.eval.sequence import check_shardable

        model = pick_model(args.model_file, args.model)
        check_shardable(model)  # before a cluster is started or reached
        model.check_inputs(xs)
        n = xs.shape[1] if xs.ndim == (2 if model.alphabet else 3) else xs.shape[0]
        if n != args.length:
            raise OptionError(f"the inputs hold sequences of length {n}, not --length "
                              f"{args.length}")
    with open_client(args.scheduler, memory_limit=args.worker_memory) as client:
        workers = len(client.nthreads())
        start = time.perf_counter()
        if args.chunks is None:
            hs = circuit.evaluate(xs, dtype=args.dtype, modulus=args.modulus, client=client)
            seconds = time.perf_counter() - start
            batch = len(xs) if xs.ndim == (2 if circuit.info.alphabet else 3) else 1
            print(f"{circuit!r}")
            print(f"evaluated {batch} sequence{'s' if batch != 1 else ''} on {workers} Dask "
                  f"worker{'s' if workers != 1 else ''} (the batch split over them, "
                  f"{args.dtype}) in {seconds:.3f} s: "
                  f"{circuit.size * batch / max(seconds, 1e-9) / 1e6:,.1f} M "
                  "gate-evaluations/s")
        else:
            from rnncirc.eval.sequence import evaluate_sharded

            done = evaluate_sharded(model, xs, chunks=args.chunks, client=client,
                                    topology=args.topology, outputs=args.outputs,
                                    dtype=args.dtype, modulus=args.modulus)
            hs = done.values
            _report_sharded(model, done, workers)
    if args.check:
        expected = np.asarray(model.run(xs))
        if args.outputs == "last":
            expected = np.take(expected, -1, axis=1 if expected.ndim > len(
                model.state_shape) + 1 else 0)
        check(hs, expected, model.name, args)
    if args.output:
        with open(args.output, "wb") as out:
            np.save(out, hs)
        print(f"wrote {args.output}: shape {hs.shape}, dtype {hs.dtype}")


def _report_sharded(model, done, workers: int) -> None:
    lengths = sorted(set(done.chunks))
    sizes = " or ".join(f"{n:,}" for n in lengths)
    print(f"{model.name}: {len(done.chunks)} chunks of {sizes} steps on {workers} Dask "
          f"worker{'s' if workers != 1 else ''} in {done.seconds:.3f} s (summaries sent as "
          f"{done.summary})")
    if done.layers:
        for layer in done.layers:
            print(f"  layer {layer['name']} ({layer['kind']}): {_phases(layer['depth'])}")
        print(f"depth of the whole computation: {done.depth['total']} (layers and the "
              "position-wise gates between them, phase after phase)")
    else:
        print(f"depth of the whole computation: {_phases(done.depth)}")


def _phases(depth: dict) -> str:
    return (f"{depth['total']} = chunk {depth['chunk']} + extract {depth['extract']} + "
            f"summary scan {depth['summary_scan']} + carry {depth['carry']}")
