"""Evaluation on a Dask cluster: connecting, batch sharding, and the helpers the other
distributed paths share.

Where this sits: the eval layer, beside `fast`. ``Circuit.evaluate(xs, client=...)``
dispatches here (`evaluate_batch`); sequence sharding (`rnncirc.eval.sequence`) and ``rnncirc
run/profile --scheduler`` use `open_client`, `gather` and `require_dask`. Dask is optional
(``pip install "rnncirc[distributed]"``) and is imported only inside these functions, so
``import rnncirc`` never loads it.

Batch sharding: the circuit travels once to every worker that runs a shard (`ship`: a worker
holds one copy, whose schedule the fast evaluator builds once and keeps), the batch is cut
into shards sized so that a shard's evaluation
fits in half of the smallest worker's memory limit, each shard is one task running the Numba
evaluator, and the shards are gathered in order. Each sequence is evaluated by the
same kernels as on one machine, on lanes of its own, so the result is bit-equal to local
evaluation. A worker that dies mid-run has its tasks rerun elsewhere by the scheduler; an
interrupted gather cancels the futures.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator

import numpy as np

from rnncirc.errors import InputError, RnncircError
from rnncirc.ir.circuit import BYTES_PER_GATE, Circuit

#: what to install when Dask is missing
INSTALL = 'pip install "rnncirc[distributed]"  (or: pip install "dask[distributed]")'
#: seconds to wait for a scheduler before saying it cannot be reached
CONNECT_TIMEOUT = 5.0
#: share of a worker's memory limit one shard may use (Dask pauses a worker at 80% and
#: restarts it at 95%; the rest is the worker's own and the transfers')
SHARD_MEMORY_SHARE = 0.5


class SchedulerError(RnncircError):
    """The Dask scheduler cannot be reached, or the cluster cannot do what was asked."""


def require_dask(what: str):
    """The ``distributed`` module, or a one-line error on how to install it."""
    try:
        import distributed
    except ImportError:
        raise SchedulerError(f"{what} needs Dask distributed, which is not installed: "
                             f"{INSTALL}") from None
    return distributed


@contextlib.contextmanager
def open_client(address: str, *, timeout: float = CONNECT_TIMEOUT,
                memory_limit: str | int | None = None) -> Iterator:
    """A Dask client for ``--scheduler``: ``ADDRESS`` (``tcp://host:8786`` or
    ``host:8786``) of a running scheduler, or ``local:N`` for a LocalCluster of N
    single-threaded worker processes on this machine (closed on exit).

    Examples
    --------
    >>> with open_client("local:2") as client:  # doctest: +SKIP
    ...     circuit.evaluate(xs, client=client)
    """
    distributed = require_dask("--scheduler")
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise SchedulerError(f"--scheduler local:N needs a worker count N >= 1, got "
                                 f"{address!r}")
        options = {} if memory_limit is None else {"memory_limit": memory_limit}
        # the workers' logs would interleave with our one line: warnings (a cancelled task,
        # say) and errors too, as a worker whose heartbeat meets the scheduler closing after a
        # Ctrl-C logs a traceback; a failed task or a dead worker still reaches the client as
        # its exception (its HTTP server starts with or without a dashboard: a free port, not
        # 8787, which another cluster may hold, said in a warning)
        with distributed.LocalCluster(n_workers=int(count), threads_per_worker=1,
                                      processes=True, dashboard_address=":0",
                                      silence_logs=logging.CRITICAL, **options) as cluster, \
                distributed.Client(cluster) as client:
            yield client
        return
    try:
        client = distributed.Client(address, timeout=timeout)
    except Exception as err:  # noqa: BLE001 - refused, timed out, or not Dask at that address
        reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise SchedulerError(f"cannot reach a Dask scheduler at {address} within "
                             f"{timeout:g} s ({reason}); start one with 'dask scheduler' "
                             "or use --scheduler local:N") from None
    with client:
        yield client


def _value(value):
    return value


@contextlib.contextmanager
def large_tasks() -> Iterator[None]:
    """Submit tasks that carry their data (a circuit, a shard of the inputs) without Dask's
    "Sending large graph" warning: they are large by design (see `ship`, `evaluate`), and the
    warning's advice (scatter the data) would lose the rerun of a dead worker's task."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
        yield


def ship(client, value):
    """A future of `value` for tasks to depend on: a worker fetches it once and keeps it, and
    unlike scattered data the scheduler can make it again when the workers holding it die."""
    with large_tasks():
        return client.submit(_value, value, pure=False)


def gather(client, futures: list) -> list:
    """The futures' results in order; an interrupt (Ctrl-C) cancels them first."""
    try:
        return client.gather(futures)
    except KeyboardInterrupt:
        _drop_abandoned_gathers()
        client.cancel(futures)
        raise


def _abandoned_gather(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return type(exc).__name__ != "AllExit"


def _drop_abandoned_gathers() -> None:
    """An interrupted gather leaves Dask tasks that end in AllExit once their futures are
    cancelled; asyncio would print each, with a traceback, as "never retrieved" when it is
    collected: after the one line an interrupted command prints."""
    logger = logging.getLogger("asyncio")
    if _abandoned_gather not in logger.filters:
        logger.addFilter(_abandoned_gather)


def worker_memory(client) -> int | None:
    """The smallest memory limit of the client's workers in bytes (None: no limit)."""
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else \
        client.scheduler_info()  # (newer clients list only 5 workers unless asked)
    limits = [w.get("memory_limit") or 0 for w in info["workers"].values()]
    if not limits:
        raise SchedulerError("the Dask cluster has no workers")
    known = [limit for limit in limits if limit > 0]
    return min(known) if known else None


def _takes_n_workers(client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def shard_bounds(batch: int, lane_bytes: int, fixed_bytes: int, memory: int | None,
                 workers: int) -> np.ndarray:
    """Where the batch is cut: at least one shard per worker, and no shard whose evaluation
    (`lane_bytes` per sequence, plus `fixed_bytes` for the circuit and its schedule) passes
    `SHARD_MEMORY_SHARE` of a worker's `memory`."""
    shards = min(batch, max(1, workers))
    if memory is not None:
        room = SHARD_MEMORY_SHARE * memory - fixed_bytes
        if room < lane_bytes:
            raise SchedulerError(
                f"one sequence needs about {_mib(lane_bytes + fixed_bytes)} to evaluate "
                f"(the circuit, its schedule and one lane of registers), more than half of "
                f"a worker's memory limit ({_mib(memory)}); give the workers more memory or "
                "shard the sequence instead (--chunks)")
        shards = max(shards, math.ceil(batch / max(1, int(room // lane_bytes))))
    return np.linspace(0, batch, shards + 1).round().astype(np.int64)


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def evaluation_bytes(circuit: Circuit, dtype: str = "float64",
                     modulus: int | None = None) -> tuple[int, int]:
    """(bytes per sequence, fixed bytes) of evaluating `circuit` with the fast evaluator:
    registers, input and output rows and the caller's copies per lane; the circuit and its
    schedule once. Runs where the schedule is wanted anyway (on a worker)."""
    from rnncirc.eval.fast import Evaluator
    from rnncirc.eval.modular import ModulusError

    try:
        evaluator = Evaluator(circuit, dtype=dtype, modulus=modulus)
    except ModulusError:  # divides: evaluated mod p elsewhere; the same 8-byte values
        evaluator = Evaluator(circuit)
    s = evaluator.schedule
    item = evaluator.dtype.itemsize
    io = s.n_inputs + s.n_outputs
    per_lane = (s.n_regs + io) * item + io * 8  # workspace rows, plus the shard in and out
    return per_lane, circuit.num_nodes * BYTES_PER_GATE + s.nbytes()


def _evaluate_shard(circuit: Circuit, xs: np.ndarray, dtype: str,
                    modulus: int | None) -> np.ndarray:
    # a copy: the evaluator returns a view into its workspace
    return np.array(circuit.evaluate(xs, dtype=dtype, modulus=modulus))


def evaluate_batch(circuit: Circuit, xs, client, *, dtype: str = "float64",
                   modulus: int | None = None) -> np.ndarray:
    """``circuit.evaluate(xs)`` with the batch split over the workers of `client`.

    Same shapes and values (bit for bit) as local evaluation with the fast evaluator; see
    the module docstring for how the shards are sized.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> from distributed import Client  # doctest: +SKIP
    >>> client = Client(processes=False, n_workers=2)  # doctest: +SKIP
    >>> @rc.rnn(state=1, inputs=1)
    ... def running_sum(h, x):
    ...     return h + x
    >>> xs = np.arange(6.0).reshape(2, 3, 1)
    >>> rc.compile(running_sum, 3).evaluate(xs, client=client)[:, :, 0]  # doctest: +SKIP
    array([[ 0.,  1.,  3.],
           [ 3.,  7., 12.]])
    """
    require_dask("evaluate(client=...)")
    circuit.check_inputs(xs, keep_dtype=True)  # a user's mistake is reported here, once
    xs = np.asarray(xs)
    batched = xs.ndim == (2 if circuit.info.alphabet else 3)
    batch = xs if batched else xs[None]
    if len(batch) == 0:
        raise InputError("inputs are empty; give at least one sequence")
    shipped = ship(client, circuit)
    futures = [shipped]
    try:
        lane_bytes, fixed = client.submit(evaluation_bytes, shipped, dtype, modulus,
                                          pure=False).result()
        workers = len(client.nthreads())
        bounds = shard_bounds(len(batch), lane_bytes, fixed, worker_memory(client), workers)
        # each shard travels inside its task, not scattered: a task whose worker dies is
        # rerun elsewhere only if the scheduler still holds its data
        with large_tasks():
            tasks = [client.submit(_evaluate_shard, shipped, batch[lo:hi], dtype, modulus,
                                   pure=False)
                     for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        futures += tasks
        values = np.concatenate(gather(client, tasks))
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    finally:
        client.cancel(futures)  # (done futures: only releases the worker-side copies)
    return values if batched else values[0]
