"""Distributed benchmark (issue 21): a sequence too long for one machine's circuit, evaluated
in chunks on a Dask LocalCluster, against one machine at the longest length whose circuit fits.

Model: a selective diagonal recurrence, d = 64 state, K = 4 inputs, batch 8 (float64):
h_t = sigmoid(Wa x_t) * h_(t-1) + Wb x_t. Topology Brent-Kung (the fewest gates of the
log-depth networks: what a CPU pays for), ``outputs="last"``.

* sharded: ``rc.evaluate_sharded(model, xs, chunks=n / L, client=...)`` on a LocalCluster of
  ``--workers`` single-threaded worker processes, each with ``--worker-memory``: phase 1
  (each chunk's summary, on the workers) and phase 2 (the scan of the summaries, here); with
  ``outputs="last"`` the last state is the scan's, so phase 3 does not run (at n = 2^22 the
  states alone would be 17 GB). Timed once after a warm-up run on a short sequence (the
  workers load the kernels); the workers' peak resident memory is read from each process.
* one machine: ``rc.compile`` + ``Circuit.evaluate`` in a fresh process at ``--one-machine``
  steps (the longest power of two whose circuit fits in the workers' memory together):
  compile, then evaluation timed on a second call (the first builds the schedule), and that
  process's peak resident memory. The sharded run at the same length is timed beside it.
* whole circuit at n: gates per step of the one-machine circuit times n, at the bytes per
  gate that process peaked at: what one machine would need.

Throughput is state updates per second, n x d x batch / seconds, end to end (compile,
schedule, evaluation) for both; one machine's evaluation alone is reported beside it. The
last states are checked against a Numba sequential loop (float64), largest relative
difference reported.

64 workers on paper (``--components`` alone): the chunk circuit's compile and schedule, one
chunk's summary and the summary scan, each timed here, as compile + schedule +
ceil(P / 64) x summary + scan: the workers run their chunks side by side, the rest is serial.

Run: python bench/distributed_bench.py             # n = 2^22, 512 chunks of 2^13; ~10 min
     python bench/distributed_bench.py --quick     # n = 2^18, one machine at 2^14
     python bench/distributed_bench.py --components --chunk 13
     python bench/distributed_bench.py --summary-bytes   # bytes per chunk summary, per kind
     python bench/distributed_bench.py --alphabet-chunks # alphabet chunk circuits vs own
     python bench/distributed_bench.py --profile examples/lstm.py  # depth_profile(client=)

--profile MODEL.py: ``rc.depth_profile(model)`` at the default lengths (1 ... 4096) on this
machine, then with ``client=`` on a LocalCluster of ``--workers`` single-threaded worker
processes (started inside the timing: what ``rnncirc profile --scheduler local:2`` pays),
twice (the second on warm workers), with the rows phase alone (every length a task, and
the same rows computed here one after another) and the sum of the tasks' compute times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import table, write_json  # noqa: E402

import rnncirc as rc  # noqa: E402

D, K, BATCH = 64, 4, 8
_rng = np.random.default_rng(0)
WA, WB = _rng.normal(size=(D, K)) / 2, _rng.normal(size=(D, K)) / 2
TOPOLOGY = "brent-kung"


@rc.rnn(state=D, inputs=K)
def selective(h, x):
    return rc.sigmoid(WA @ x) * h + WB @ x


@numba.njit(cache=True)
def _last_state(xs, wa, wb):
    batch, n, k = xs.shape
    d = wa.shape[0]
    h = np.zeros((batch, d))
    for b in range(batch):
        for t in range(n):
            for i in range(d):
                za = 0.0
                zb = 0.0
                for j in range(k):
                    za += wa[i, j] * xs[b, t, j]
                    zb += wb[i, j] * xs[b, t, j]
                h[b, i] = h[b, i] / (1.0 + np.exp(-za)) + zb
    return h


def inputs(n: int) -> np.ndarray:
    return np.random.default_rng(n).normal(size=(BATCH, n, K))


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def one_machine_child(n: int) -> None:
    """In a fresh process: compile and evaluate at n, print one JSON line."""
    xs = inputs(n)
    start = time.perf_counter()
    circuit = rc.compile(selective, n, topology=TOPOLOGY, outputs="last")
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    circuit.evaluate(xs)  # with the schedule, built once per circuit
    first = time.perf_counter() - start
    start = time.perf_counter()
    last = circuit.evaluate(xs)
    seconds = time.perf_counter() - start
    error = float(np.abs(last - _last_state(xs, WA, WB)).max() / np.abs(last).max())
    print(json.dumps({"n": n, "gates": circuit.size, "depth": circuit.depth,
                      "compile_s": compiled, "first_eval_s": first, "eval_s": seconds,
                      "total_s": compiled + first, "peak_rss": _peak_rss(),
                      "rel_error": error}))


def one_machine(n: int) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one-machine-child",
                          str(n)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def sharded(client, n: int, chunk: int) -> dict:
    from rnncirc.compiler import compile_model
    from rnncirc.eval.sequence import carry_in_model

    xs = inputs(n)
    chunks = max(1, n // chunk)
    start = time.perf_counter()
    done = rc.evaluate_sharded(selective, xs, chunks=chunks, client=client,
                               topology=TOPOLOGY, outputs="last")
    seconds = time.perf_counter() - start
    error = float(np.abs(done.values - _last_state(xs, WA, WB)).max()
                  / np.abs(done.values).max())
    peaks = client.run(_peak_rss)
    chunk_circuit = compile_model(carry_in_model(selective), n // chunks, topology=TOPOLOGY,
                                  outputs="last").circuit
    return {"n": n, "chunks": chunks, "chunk_gates": chunk_circuit.size,
            "depth": done.depth, "eval_s": seconds,
            "worker_peak_rss": sorted(peaks.values()), "rel_error": error}


def components(chunk: int, workers: int = 64, n: int = 1 << 22) -> dict:
    """The parts of a sharded run, timed on this machine, and from them the paper estimate of
    the same run on `workers` workers: compile + schedule + ceil(P / W) chunk summaries +
    the summary scan (P steps, here)."""
    from rnncirc.compiler import compile_model
    from rnncirc.eval.fast import Evaluator
    from rnncirc.eval.sequence import _summary, carry_in_model
    from rnncirc.eval.summaries import summary_scan_model

    start = time.perf_counter()
    circuit = compile_model(carry_in_model(selective), chunk, topology=TOPOLOGY,
                            outputs="last").circuit
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    Evaluator(circuit)
    scheduled = time.perf_counter() - start
    xs = inputs(chunk)
    _summary(circuit, None, xs, "diagonal", "row", "float64", None)
    start = time.perf_counter()
    _summary(circuit, None, xs, "diagonal", "row", "float64", None)
    per_chunk = time.perf_counter() - start
    chunks = n // chunk
    start = time.perf_counter()
    scan = compile_model(summary_scan_model(D, True), chunks).circuit
    scan.evaluate(np.zeros((BATCH, chunks, 2 * D)))
    scanned = time.perf_counter() - start
    estimate = compiled + scheduled + -(-chunks // workers) * per_chunk + scanned
    return {"chunk": chunk, "chunks": chunks, "compile_s": compiled, "schedule_s": scheduled,
            "summary_per_chunk_s": per_chunk, "summary_scan_s": scanned,
            "workers": workers, "estimate_s": estimate,
            "estimate_M_updates_per_s": n * D * BATCH / estimate / 1e6}


PERM = _rng.permutation(D)
MERGE = np.eye(D)[_rng.integers(0, D, size=D)].T  # one nonzero per column: states merge
WK = _rng.normal(size=(D, K)) / 2


@rc.rnn(state=D, inputs=K)
def permuted(h, x):
    return rc.sigmoid(WA @ x) * h[PERM] + WB @ x


@rc.rnn(state=D, inputs=K)
def merging(h, x):
    return MERGE @ (rc.sigmoid(WA @ x) * h) + WB @ x


@rc.rnn(state=D, inputs=K)
def delta(h, x):
    k = WK @ x / 8
    return h - rc.sigmoid(WA[0] @ x) * k * (k @ h) + WB @ x


def summary_bytes(length: int = 64) -> list[dict]:
    """Bytes a worker ships per chunk summary (pickled, per sequence, batch 8, a chunk of
    `length` steps, d = 64), in the kind's compact form against the dense m x m form every
    non-diagonal kind travelled in before."""
    import pickle

    from rnncirc.compiler import compile_model
    from rnncirc.eval.sequence import _summary, carry_in_model, check_linear
    from rnncirc.eval.summaries import summary_form

    rows = []
    for model in (selective, permuted, merging, delta):
        cls = check_linear(model)
        circuit = compile_model(carry_in_model(model), length, topology=TOPOLOGY,
                                outputs="last").circuit
        sizes = {}
        for form in (summary_form(cls.kind), "dense"):
            shipped = _summary(circuit, None, inputs(length), form, cls.linear.orient,
                               "float64", None)
            sizes[form] = len(pickle.dumps(shipped)) / BATCH
        rows.append({"model": model.name, "kind": cls.kind, "form": summary_form(cls.kind),
                     "dense bytes": sizes["dense"],
                     "compact bytes": sizes[summary_form(cls.kind)]})
    return rows


def alphabet_chunks() -> list[dict]:
    """Gates and depth of an alphabet model's chunk circuit (the carry-in model over its
    symbols' one-hot bits, which classifies as dense) against the model's own one-machine
    circuit of the same length, "auto" topology."""
    from rnncirc.compiler import compile_model
    from rnncirc.eval.sequence import carry_in_model
    from rnncirc.frontend.loader import pick_model

    examples = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "examples")
    rows = []
    for name, lengths in (("pd_ssm", (64, 512)), ("dfa_reset", (64, 512)), ("dfa_s5", (16,))):
        model = pick_model(os.path.join(examples, f"{name}.py"), None)
        if not hasattr(model, "step"):  # a DFA program: its automaton layer
            model = model.graph.layers[0][1].model
        for n in lengths:
            for outputs in ("last", "all"):
                own = compile_model(model, n, outputs=outputs).circuit
                chunk = compile_model(carry_in_model(model), n, outputs=outputs).circuit
                rows.append({"model": name, "n": n, "outputs": outputs,
                             "own gates": own.size, "own depth": own.depth,
                             "chunk gates": chunk.size, "chunk depth": chunk.depth,
                             "ratio": chunk.size / own.size})
    return rows


def profile_times(path: str, workers: int) -> dict:
    """Phases of ``rc.depth_profile(model, client=)`` against the same profile here."""
    import logging

    from distributed import Client, LocalCluster, get_task_stream

    from rnncirc.analyze.profile import DEFAULT_LENGTHS
    from rnncirc.analyze.profile_rows import measured_row, remote
    from rnncirc.frontend.loader import pick_model

    def fresh():  # a model of its own per run: no formulas or choices cached from another
        return pick_model(path, None)

    def timed(fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    lengths = list(DEFAULT_LENGTHS)
    out = {"model": path, "lengths": f"{lengths[0]}..{lengths[-1]} ({len(lengths)})",
           "workers": workers}
    for run in ("first", "second"):  # the first in a fresh process: the kernels load
        model = fresh()
        out[f"local_{run}_profile_s"] = timed(lambda m=model: rc.depth_profile(m))
    model = fresh()
    out["local_rows_s"] = timed(lambda: [measured_row(model, n, "auto", "all")
                                         for n in lengths])
    start = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        out["cluster_start_s"] = time.perf_counter() - start
        for run in ("first", "second"):
            model = fresh()
            with get_task_stream(client) as stream:
                out[f"{run}_profile_s"] = timed(
                    lambda m=model: rc.depth_profile(m, client=client))
            out[f"{run}_tasks_compute_s"] = sum(
                part["stop"] - part["start"] for task in stream.data
                for part in task["startstops"] if part["action"] == "compute")
        model = fresh()
        out["rows_remote_s"] = timed(lambda m=model: remote(client, [
            (measured_row, m, n, "auto", "all") for n in lengths]))
        start = time.perf_counter()
    out["cluster_close_s"] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=22, help="log2 n (default 22)")
    parser.add_argument("--chunk", type=int, default=13, help="log2 of a chunk (default 13)")
    parser.add_argument("--one-machine", type=int, default=17,
                        help="log2 of the one-machine length (default 17)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="3GiB")
    parser.add_argument("--quick", action="store_true", help="n = 2^18, one machine 2^14")
    parser.add_argument("--one-machine-json", metavar="FILE",
                        help="reuse a one-machine result (the JSON line a run printed) "
                             "instead of measuring it again (minutes, and 12 GB at 2^17)")
    parser.add_argument("--components", action="store_true",
                        help="only time the parts of a sharded run and estimate 64 workers")
    parser.add_argument("--summary-bytes", action="store_true",
                        help="only measure the bytes shipped per chunk summary, per kind")
    parser.add_argument("--alphabet-chunks", action="store_true",
                        help="only compare alphabet models' chunk circuits with their own")
    parser.add_argument("--profile", metavar="MODEL.py",
                        help="only time depth_profile(client=) against one machine")
    parser.add_argument("--one-machine-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        found = profile_times(args.profile, args.workers)
        print(json.dumps(found, indent=1))
        write_json("distributed_bench_profile", found)
        return None
    if args.one_machine_child:
        return one_machine_child(args.one_machine_child)
    if args.alphabet_chunks:
        rows = alphabet_chunks()
        print(table(rows, ["model", "n", "outputs", "own gates", "own depth", "chunk gates",
                           "chunk depth", "ratio"]))
        write_json("distributed_bench_alphabet_chunks", {"rows": rows})
        return None
    if args.summary_bytes:
        rows = summary_bytes()
        print(table(rows, ["model", "kind", "form", "dense bytes", "compact bytes"]))
        write_json("distributed_bench_summary_bytes", {"rows": rows})
        return None
    if args.components:
        parts = components(1 << args.chunk, n=1 << args.length)
        print(json.dumps(parts, indent=1))
        write_json("distributed_bench_components", parts)
        return None
    if args.quick:
        args.length, args.one_machine = 18, 14
    import dask
    from distributed import Client, LocalCluster

    n, m = 1 << args.length, 1 << args.one_machine
    if args.one_machine_json:
        with open(args.one_machine_json) as found:
            local = json.load(found)
        m = local["n"]
    else:
        local = one_machine(m)
    print(f"one machine, n = {m:,}: {local}", flush=True)
    # Dask's own spilling would move the workers' data to disk and back: the limit is the
    # budget, and a worker past it is restarted (its tasks rerun), which would show in time
    with dask.config.set({"distributed.worker.memory.spill": False,
                          "distributed.worker.memory.target": False}), \
            LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                         dashboard_address=None, memory_limit=args.worker_memory) as cluster, \
            Client(cluster) as client:
        limit = min(w["memory_limit"] for w in
                    client.scheduler_info(n_workers=-1)["workers"].values())
        sharded(client, 1 << 10, 1 << 8)  # warm-up: the workers load the kernels
        same = sharded(client, m, 1 << min(args.chunk, args.one_machine - 2))
        print(f"sharded, n = {m:,}: {same}", flush=True)
        far = sharded(client, n, 1 << args.chunk)
        print(f"sharded, n = {n:,}: {far}", flush=True)
    parts = components(1 << args.chunk, n=n)
    print(f"parts, and 64 workers on paper: {parts}")
    per_gate = local["peak_rss"] / local["gates"]
    whole = local["gates"] / m * n * per_gate
    rows = [
        {"run": "one machine", "n": m, "chunks": 1, "processes": 1, "gates": local["gates"],
         "depth": local["depth"], "eval s": local["eval_s"], "total s": local["total_s"],
         "M updates/s": m * D * BATCH / local["total_s"] / 1e6,
         "peak GiB": local["peak_rss"] / 2**30, "rel error": local["rel_error"]}]
    for run in (same, far):
        rows.append({"run": "sharded", "n": run["n"], "chunks": run["chunks"],
                     "processes": args.workers, "gates": run["chunk_gates"],
                     "depth": run["depth"]["total"], "total s": run["eval_s"],
                     "M updates/s": run["n"] * D * BATCH / run["eval_s"] / 1e6,
                     "peak GiB": max(run["worker_peak_rss"]) / 2**30,
                     "rel error": run["rel_error"]})
    print()
    print(table(rows, ["run", "n", "chunks", "processes", "gates", "depth", "eval s",
                       "total s", "M updates/s", "peak GiB", "rel error"]))
    print(f"\n'gates': the whole circuit (one machine) or one chunk's summary circuit "
          f"(sharded); 'eval s': a second evaluation of the built circuit; 'total s': "
          f"compile, schedule and evaluation (sharded: the whole evaluate_sharded call); "
          f"'M updates/s': n x d x batch / total s; 'peak GiB': the process, or the largest "
          f"worker. Worker memory limit "
          f"{limit / 2**30:.2f} GiB; the whole circuit at n = {n:,} would need about "
          f"{whole / 2**30:,.0f} GiB on one machine ({local['gates'] / m:,.0f} gates per step "
          f"at {per_gate:.1f} B per gate, the one-machine run's peak).")
    path = write_json("distributed_bench", {
        "model": "selective diagonal d=64 K=4 batch 8 float64", "topology": TOPOLOGY,
        "workers": args.workers, "worker_memory_limit": limit, "one_machine": local,
        "sharded_same_n": same, "sharded": far, "whole_circuit_bytes_estimate": whole,
        "parts_and_64_workers": parts,
        "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
