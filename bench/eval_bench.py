"""Evaluation benchmark: the fast evaluator against CPU scan peers (scan-peers.md §6-7).

For each configuration, on the same data: rnncirc's fast evaluator on the circuit that
``rc.compile(model, n)`` builds (topology "auto": least depth, then least size), and for
linear models also the circuit with topology "brent-kung" and the sequential circuit; a numpy
loop, a Numba sequential loop with a preallocated output,
``jax.lax.scan`` and jitted ``jax.lax.associative_scan`` (JAX is optional: without it those rows
are skipped with a note). Every row reports the median of 15 timed runs after a warm-up
(3 rounds of 5; the methods of a configuration take turns round by round, so that load from
other processes hits them alike),
elements/s (state elements h_t[i] of the batch produced per second), the fraction of the
memory-bandwidth roofline, the largest error against a float64 sequential reference, the
one-time cost (JIT / compile / cache load) separately, and for rnncirc the circuit's depth and
size.

Roofline. A STREAM triad (a = b + s*c, Numba, one thread, 256 MB arrays) is timed in the
rounds of every configuration, between its methods; its best bandwidth there, BW, turns bytes
into a time bound, and roofline = bound / measured time (the host's bandwidth drifts by a
quarter within minutes, so a triad measured once at the start misstated later rows).
Two byte counts, both written into the JSON:

* problem bytes (every row): read the inputs once and write the states once,
  (n*K + n*d) * batch * itemsize; for the diagonal scan that is 12 B per element in fp32
  (read a, read b, write h), as in scan-peers §6.
* circuit bytes (rnncirc rows), the bytes-per-gate model of the evaluator
  (`Schedule.register_traffic`): a gate of arity k reads k register rows and writes one,
  (k + 1) * lanes * itemsize; a fused tree (a dot product, a scaled sum) counts the rows it
  reads and the one it writes, not the scratch rows between its instructions; plus the index
  bytes of indexed gates and instructions, and the output rows copied (an output that is an
  input, a constant or named twice). Input and output rows are rows of the buffer the gates
  read and write, so they count as register rows. This is
  traffic between the kernels and the register file, most of which stays in L1/L2 (the
  schedule keeps the register file small), so this fraction measures cache traffic against
  the DRAM triad and can pass 1; the problem-bytes fraction is the DRAM bound.

Data layout: rnncirc and Numba read time-major arrays (slot, batch) and write into a
preallocated output. For rnncirc that is its workspace (`Evaluator.workspace`): input rows,
output rows and registers in one buffer, the input rows filled once before timing
(`Evaluator.fill`, as data made in place would be), so the timed call (`Evaluator.evaluate`)
is the gates alone, reading the inputs and writing the states where they are. JAX reads
time-major (n, batch, ...) arrays and allocates its output (it always does). The row
"rnncirc evaluate()" is the end-to-end ``Circuit.evaluate`` call on (batch, n, K) data with a
fresh output. Threads: ``--threads`` (default: all cores) for Numba and XLA alike.

Like for like. ``jax.lax.associative_scan`` is a recursive odd-even scan: it pairs
neighbours on the way up and fixes up the even positions on the way down, which is the
Brent-Kung network (2n - 2 - log2 n combines, depth 2 log2 n - 2). The "rnncirc brent-kung"
row evaluates the same network, compiled to gates; it is the row the speed targets against
associative_scan are judged on, and the summary says so. "auto" minimizes circuit depth
(Ladner-Fischer or Kogge-Stone: at n = 1024 2x the gates of Brent-Kung on the diagonal scan,
2.3x on dense d=16, 25x on DPLR rank 1), which a CPU pays for in time; its rows are printed
and summarized too.

Targets (issue "A Numba evaluator ..."): diagonal d=64, batch 8, n=2^14 and 2^16 faster than
jax.lax.associative_scan (goal 2x) and >= 50% of the roofline; dense d=16 and DPLR within 1.5x of
associative_scan; >= 20x faster than the numpy reference evaluator on a 10-million-gate
circuit; warm start (cached kernels, fresh process) under 1 s. The summary at the end says
which were met.

Run: python bench/eval_bench.py [--quick] [--only diagonal,dense,...] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time

# threads must be fixed before numba / jax start their pools
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--threads", type=int, default=None)
_THREADS = _pre.parse_known_args()[0].threads
if _THREADS:
    os.environ["NUMBA_NUM_THREADS"] = str(_THREADS)
    _multi = "true" if _THREADS > 1 else "false"
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_cpu_multi_thread_eigen={_multi}"
                               f" intra_op_parallelism_threads={_THREADS}")

import numba  # noqa: E402
import numpy as np  # noqa: E402

import rnncirc as rc  # noqa: E402
from rnncirc.eval.fast import Evaluator, get_schedule  # noqa: E402
from rnncirc.ir.reference import evaluate_reference  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import table, write_json  # noqa: E402

try:
    import jax  # noqa: E402

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp  # noqa: E402

    JAX = True
except ImportError:  # pragma: no cover - jax is optional
    JAX = False

REPEATS = 5
#: timed rounds: each round times every method of a configuration REPEATS times in turn, so
#: a burst of load from other processes hits all methods alike (the ratios stay fair)
ROUNDS = 3
#: the topology of jax.lax.associative_scan's network (see the module docstring)
LIKE_FOR_LIKE = "brent-kung"
COLUMNS = ["config", "n", "dtype", "method", "ms", "Gelem/s", "roofline", "circuit_roofline",
           "max_err", "jit_s", "depth", "size", "regs_MiB", "naive_MiB", "vs_assoc"]


# -- timing ---------------------------------------------------------------------------------
def timed(fn, repeats: int = REPEATS) -> tuple[float, float, list[float]]:
    """(first call seconds, median of `repeats` later calls, the later calls)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), times


@numba.njit(cache=True, nogil=True)
def _triad(a, b, c, s):
    for i in range(len(a)):
        a[i] = b[i] + s * c[i]


class Triad:
    """A STREAM triad on 256 MB arrays (bytes moved: read b, read c, write a; write-allocate
    not counted): ``Triad()()`` runs it once, `bytes` is what one run moves."""

    def __init__(self, mb: int = 256):
        n = mb * 2**20 // 8
        self.a, self.b, self.c = np.zeros(n), np.ones(n), np.full(n, 2.0)
        self.bytes = 3 * n * 8
        self()

    def __call__(self) -> None:
        _triad(self.a, self.b, self.c, 3.0)


def measure_bandwidth(triad: Triad) -> dict:
    """The triad's bandwidth, best of 7, and numpy copy for reference."""
    best = min(timed(triad, 7)[2])
    dst = np.empty_like(triad.b)
    copy = min(timed(lambda: np.copyto(dst, triad.b), 7)[2])
    return {"triad_GBps": triad.bytes / best / 1e9,
            "copy_GBps": 2 * triad.b.nbytes / copy / 1e9, "array_MB": triad.b.nbytes / 1e6}


# -- circuit bytes ---------------------------------------------------------------------------
def circuit_bytes(evaluator: Evaluator, batch: int) -> float:
    """Bytes the evaluator moves by its own model (`Schedule.register_traffic`): register
    rows read and written (a fused tree counted by the rows it reads and its result, not its
    scratch rows), index bytes, and the output rows copied."""
    s = evaluator.schedule
    row = evaluator.stats(batch).lanes * evaluator.dtype.itemsize
    rows, index = s.register_traffic()
    return float((rows + 2 * int(s.copy_len.sum())) * row + index)


# -- configurations: model, data, peers ---------------------------------------------------------
class Config:
    """One recurrence: its rnncirc model, input data, a float64 reference and the peers."""

    name: str
    d: int
    K: int
    nonlinear = False

    def model(self):
        raise NotImplementedError

    def data(self, n: int, batch: int, rng) -> dict:
        raise NotImplementedError

    def xs(self, data) -> np.ndarray:
        """(batch, n, K) float64 inputs of the rnncirc model."""
        raise NotImplementedError

    def reference(self, data) -> np.ndarray:
        """(n, batch, d) float64 states, sequentially."""
        raise NotImplementedError

    def numpy_loop(self, data, dtype):
        raise NotImplementedError

    def numba_seq(self, data, dtype):
        raise NotImplementedError

    def jax_scan(self, data, dtype):
        raise NotImplementedError

    def jax_assoc(self, data, dtype):
        return None


def _cast(data, dtype):
    return {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for k, v in data.items()}


# diagonal -------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _diag_seq(a, b, out):
    n, m = a.shape
    h = np.zeros(m, dtype=a.dtype)
    for t in range(n):
        for i in range(m):
            h[i] = a[t, i] * h[i] + b[t, i]
            out[t, i] = h[i]


class Diagonal(Config):
    name = "diagonal"

    def __init__(self, d=64):
        self.d, self.K = d, 2 * d

    def model(self):
        d = self.d

        @rc.rnn(state=d, inputs=2 * d)
        def diagonal(h, x):
            return x[:d] * h + x[d:]

        return diagonal

    def data(self, n, batch, rng):
        return {"a": rng.uniform(0.9, 1.0, size=(n, batch, self.d)),
                "b": rng.normal(size=(n, batch, self.d))}

    def xs(self, data):
        return np.concatenate([data["a"], data["b"]], axis=2).transpose(1, 0, 2)

    def reference(self, data):
        n, batch, d = data["a"].shape
        out = np.empty((n, batch * d))
        _diag_seq(data["a"].reshape(n, -1), data["b"].reshape(n, -1), out)
        return out.reshape(n, batch, d)

    def numpy_loop(self, data, dtype):
        a, b = data["a"].astype(dtype), data["b"].astype(dtype)
        out = np.empty_like(a)

        def run():
            h = np.zeros(a.shape[1:], dtype)
            for t in range(len(a)):
                h = a[t] * h + b[t]
                out[t] = h
            return out
        return run

    def numba_seq(self, data, dtype):
        n = len(data["a"])
        a = data["a"].astype(dtype).reshape(n, -1)
        b = data["b"].astype(dtype).reshape(n, -1)
        out = np.empty_like(a)
        return lambda: (_diag_seq(a, b, out), out.reshape(data["a"].shape))[1]

    def jax_scan(self, data, dtype):
        n = len(data["a"])
        a = jnp.asarray(data["a"].astype(dtype).reshape(n, -1))
        b = jnp.asarray(data["b"].astype(dtype).reshape(n, -1))

        @jax.jit
        def f(a, b):
            def step(h, ab):
                h = ab[0] * h + ab[1]
                return h, h
            return jax.lax.scan(step, jnp.zeros_like(a[0]), (a, b))[1]
        return lambda: f(a, b).block_until_ready()

    def jax_assoc(self, data, dtype):
        n = len(data["a"])
        a = jnp.asarray(data["a"].astype(dtype).reshape(n, -1))
        b = jnp.asarray(data["b"].astype(dtype).reshape(n, -1))

        @jax.jit
        def f(a, b):
            return jax.lax.associative_scan(
                lambda e1, e2: (e2[0] * e1[0], e2[0] * e1[1] + e2[1]), (a, b))[1]
        return lambda: f(a, b).block_until_ready()


# dense ----------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _dense_seq(A, b, out):
    n, batch, d = b.shape
    h = np.zeros((batch, d), dtype=b.dtype)
    for t in range(n):
        for j in range(batch):
            for i in range(d):
                acc = b[t, j, i]
                for k in range(d):
                    acc += A[t, j, i, k] * h[j, k]
                out[t, j, i] = acc
        h[:] = out[t]


class Dense(Config):
    name = "dense"

    def __init__(self, d=16):
        self.d, self.K = d, d * d + d

    def model(self):
        d = self.d

        @rc.rnn(state=d, inputs=d * d + d)
        def dense(h, x):
            return x[:d * d].reshape(d, d) @ h + x[d * d:]

        return dense

    def data(self, n, batch, rng):
        d = self.d
        return {"A": rng.normal(size=(n, batch, d, d)) / math.sqrt(d) * 0.9,
                "b": rng.normal(size=(n, batch, d))}

    def xs(self, data):
        n, batch, d = data["b"].shape
        return np.concatenate([data["A"].reshape(n, batch, d * d), data["b"]],
                              axis=2).transpose(1, 0, 2)

    def reference(self, data):
        out = np.empty_like(data["b"])
        _dense_seq(data["A"], data["b"], out)
        return out

    def numpy_loop(self, data, dtype):
        A, b = data["A"].astype(dtype), data["b"].astype(dtype)
        out = np.empty_like(b)

        def run():
            h = np.zeros(b.shape[1:], dtype)
            for t in range(len(b)):
                h = np.einsum("bij,bj->bi", A[t], h) + b[t]
                out[t] = h
            return out
        return run

    def numba_seq(self, data, dtype):
        A, b = data["A"].astype(dtype), data["b"].astype(dtype)
        out = np.empty_like(b)
        return lambda: (_dense_seq(A, b, out), out)[1]

    def jax_scan(self, data, dtype):
        A, b = jnp.asarray(data["A"].astype(dtype)), jnp.asarray(data["b"].astype(dtype))

        @jax.jit
        def f(A, b):
            def step(h, Ab):
                h = jnp.einsum("bij,bj->bi", Ab[0], h) + Ab[1]
                return h, h
            return jax.lax.scan(step, jnp.zeros_like(b[0]), (A, b))[1]
        return lambda: f(A, b).block_until_ready()

    def jax_assoc(self, data, dtype):
        A, b = jnp.asarray(data["A"].astype(dtype)), jnp.asarray(data["b"].astype(dtype))
        return lambda: _jax_dense_assoc(A, b).block_until_ready()


if JAX:
    @jax.jit
    def _jax_dense_assoc(A, b):
        def combine(e1, e2):
            return (jnp.einsum("...ij,...jk->...ik", e2[0], e1[0]),
                    jnp.einsum("...ij,...j->...i", e2[0], e1[1]) + e2[1])
        return jax.lax.associative_scan(combine, (A, b))[1]


# permutation-diagonal -------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _perm_seq(a, b, perm, out):
    n, batch, d = a.shape
    h = np.zeros((batch, d), dtype=a.dtype)
    for t in range(n):
        for j in range(batch):
            for i in range(d):
                out[t, j, i] = a[t, j, i] * h[j, perm[i]] + b[t, j, i]
        h[:] = out[t]


class PermutationDiagonal(Config):
    name = "perm-diagonal"

    def __init__(self, d=16):
        self.d, self.K = d, 2 * d
        self.perm = np.roll(np.arange(d), 1)

    def model(self):
        d, perm = self.d, self.perm

        @rc.rnn(state=d, inputs=2 * d)
        def perm_diagonal(h, x):
            return x[:d] * h[perm] + x[d:]

        return perm_diagonal

    def data(self, n, batch, rng):
        return {"a": rng.uniform(0.9, 1.0, size=(n, batch, self.d)) * rng.choice(
            [-1.0, 1.0], size=(n, batch, self.d)), "b": rng.normal(size=(n, batch, self.d))}

    def xs(self, data):
        return np.concatenate([data["a"], data["b"]], axis=2).transpose(1, 0, 2)

    def reference(self, data):
        out = np.empty_like(data["a"])
        _perm_seq(data["a"], data["b"], self.perm, out)
        return out

    def numpy_loop(self, data, dtype):
        a, b, perm = data["a"].astype(dtype), data["b"].astype(dtype), self.perm
        out = np.empty_like(a)

        def run():
            h = np.zeros(a.shape[1:], dtype)
            for t in range(len(a)):
                h = a[t] * h[:, perm] + b[t]
                out[t] = h
            return out
        return run

    def numba_seq(self, data, dtype):
        a, b = data["a"].astype(dtype), data["b"].astype(dtype)
        out = np.empty_like(a)
        return lambda: (_perm_seq(a, b, self.perm, out), out)[1]

    def jax_scan(self, data, dtype):
        a, b = jnp.asarray(data["a"].astype(dtype)), jnp.asarray(data["b"].astype(dtype))
        perm = jnp.asarray(self.perm)

        @jax.jit
        def f(a, b):
            def step(h, ab):
                h = ab[0] * h[:, perm] + ab[1]
                return h, h
            return jax.lax.scan(step, jnp.zeros_like(a[0]), (a, b))[1]
        return lambda: f(a, b).block_until_ready()

    def jax_assoc(self, data, dtype):
        """Monomial matrices (v, p): (A x)[i] = v[i] x[p[i]], composed in O(d)."""
        a, b = jnp.asarray(data["a"].astype(dtype)), jnp.asarray(data["b"].astype(dtype))
        p = jnp.broadcast_to(jnp.asarray(self.perm, dtype=jnp.int32), a.shape)

        @jax.jit
        def f(a, p, b):
            def combine(e1, e2):
                v1, p1, b1 = e1
                v2, p2, b2 = e2
                return (v2 * jnp.take_along_axis(v1, p2, -1), jnp.take_along_axis(p1, p2, -1),
                        v2 * jnp.take_along_axis(b1, p2, -1) + b2)
            return jax.lax.associative_scan(combine, (a, p, b))[2]
        return lambda: f(a, p, b).block_until_ready()


# DPLR rank 1 ----------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _dplr_seq(a, u, v, b, out):
    n, batch, d = a.shape
    h = np.zeros((batch, d), dtype=a.dtype)
    for t in range(n):
        for j in range(batch):
            s = 0.0
            for i in range(d):
                s += v[t, j, i] * h[j, i]
            for i in range(d):
                out[t, j, i] = a[t, j, i] * h[j, i] + u[t, j, i] * s + b[t, j, i]
        h[:] = out[t]


class DPLR(Config):
    name = "dplr-r1"

    def __init__(self, d=16):
        self.d, self.K = d, 4 * d

    def model(self):
        d = self.d

        @rc.rnn(state=d, inputs=4 * d)
        def dplr(h, x):
            a, u, v, b = x[:d], x[d:2 * d], x[2 * d:3 * d], x[3 * d:]
            return a * h + u * (v @ h) + b

        return dplr

    def data(self, n, batch, rng):
        d = self.d
        return {"a": rng.uniform(0.5, 0.9, size=(n, batch, d)),
                "u": rng.normal(size=(n, batch, d)) / math.sqrt(d),
                "v": rng.normal(size=(n, batch, d)) / math.sqrt(d) * 0.5,
                "b": rng.normal(size=(n, batch, d))}

    def xs(self, data):
        return np.concatenate([data[k] for k in "auvb"], axis=2).transpose(1, 0, 2)

    def reference(self, data):
        out = np.empty_like(data["a"])
        _dplr_seq(data["a"], data["u"], data["v"], data["b"], out)
        return out

    def numpy_loop(self, data, dtype):
        a, u, v, b = (data[k].astype(dtype) for k in "auvb")
        out = np.empty_like(a)

        def run():
            h = np.zeros(a.shape[1:], dtype)
            for t in range(len(a)):
                h = a[t] * h + u[t] * np.sum(v[t] * h, axis=-1, keepdims=True) + b[t]
                out[t] = h
            return out
        return run

    def numba_seq(self, data, dtype):
        a, u, v, b = (data[k].astype(dtype) for k in "auvb")
        out = np.empty_like(a)
        return lambda: (_dplr_seq(a, u, v, b, out), out)[1]

    def jax_scan(self, data, dtype):
        a, u, v, b = (jnp.asarray(data[k].astype(dtype)) for k in "auvb")

        @jax.jit
        def f(a, u, v, b):
            def step(h, e):
                h = e[0] * h + e[1] * jnp.sum(e[2] * h, -1, keepdims=True) + e[3]
                return h, h
            return jax.lax.scan(step, jnp.zeros_like(a[0]), (a, u, v, b))[1]
        return lambda: f(a, u, v, b).block_until_ready()

    def jax_assoc(self, data, dtype):
        """Dense d x d elements (the rank grows under composition), built inside the jit."""
        a, u, v, b = (jnp.asarray(data[k].astype(dtype)) for k in "auvb")

        @jax.jit
        def f(a, u, v, b):
            A = jnp.eye(a.shape[-1], dtype=a.dtype) * a[..., None] + u[..., :, None] * v[
                ..., None, :]
            return _jax_dense_assoc(A, b)
        return lambda: f(a, u, v, b).block_until_ready()


# GRU (nonlinear: sequential circuit) ----------------------------------------------------------
class GRU(Config):
    name = "gru"
    nonlinear = True

    def __init__(self, d=32, k=8):
        self.d, self.K = d, k
        rng = np.random.default_rng(1)
        self.Wz, self.Wr, self.Wc = (rng.normal(size=(d, k)) / np.sqrt(k) for _ in range(3))
        self.Uz, self.Ur, self.Uc = (rng.normal(size=(d, d)) / np.sqrt(d) for _ in range(3))
        self.bz, self.br, self.bc = (0.1 * rng.normal(size=d) for _ in range(3))

    def model(self):
        s = self

        @rc.rnn(state=self.d, inputs=self.K)
        def gru(h, x):
            z = rc.sigmoid(s.Wz @ x + s.Uz @ h + s.bz)
            r = rc.sigmoid(s.Wr @ x + s.Ur @ h + s.br)
            c = rc.tanh(s.Wc @ x + r * (s.Uc @ h) + s.bc)
            return (1 - z) * c + z * h

        return gru

    def data(self, n, batch, rng):
        return {"x": rng.normal(size=(n, batch, self.K))}

    def xs(self, data):
        return data["x"].transpose(1, 0, 2)

    def _weights(self, dtype):
        return tuple(w.astype(dtype) for w in (self.Wz, self.Wr, self.Wc, self.Uz, self.Ur,
                                                self.Uc, self.bz, self.br, self.bc))

    def reference(self, data):
        out = np.empty(data["x"].shape[:2] + (self.d,))
        _gru_seq(data["x"], *self._weights(np.float64), out)
        return out

    def numpy_loop(self, data, dtype):
        x = data["x"].astype(dtype)
        Wz, Wr, Wc, Uz, Ur, Uc, bz, br, bc = self._weights(dtype)
        out = np.empty(x.shape[:2] + (self.d,), dtype)

        def sig(v):
            return 1 / (1 + np.exp(-v))

        def run():
            h = np.zeros((x.shape[1], self.d), dtype)
            for t in range(len(x)):
                z = sig(x[t] @ Wz.T + h @ Uz.T + bz)
                r = sig(x[t] @ Wr.T + h @ Ur.T + br)
                c = np.tanh(x[t] @ Wc.T + r * (h @ Uc.T) + bc)
                h = (1 - z) * c + z * h
                out[t] = h
            return out
        return run

    def numba_seq(self, data, dtype):
        x = data["x"].astype(dtype)
        weights = self._weights(dtype)
        out = np.empty(x.shape[:2] + (self.d,), dtype)
        return lambda: (_gru_seq(x, *weights, out), out)[1]

    def jax_scan(self, data, dtype):
        x = jnp.asarray(data["x"].astype(dtype))
        Wz, Wr, Wc, Uz, Ur, Uc, bz, br, bc = (jnp.asarray(w) for w in self._weights(dtype))

        @jax.jit
        def f(x):
            def step(h, xt):
                z = jax.nn.sigmoid(xt @ Wz.T + h @ Uz.T + bz)
                r = jax.nn.sigmoid(xt @ Wr.T + h @ Ur.T + br)
                c = jnp.tanh(xt @ Wc.T + r * (h @ Uc.T) + bc)
                h = (1 - z) * c + z * h
                return h, h
            return jax.lax.scan(step, jnp.zeros((x.shape[1], Wz.shape[0]), x.dtype), x)[1]
        return lambda: f(x).block_until_ready()


@numba.njit(cache=True, nogil=True)
def _gru_seq(x, Wz, Wr, Wc, Uz, Ur, Uc, bz, br, bc, out):
    n, batch, k = x.shape
    d = Wz.shape[0]
    h = np.zeros(d, dtype=x.dtype)
    z = np.empty(d, dtype=x.dtype)
    r = np.empty(d, dtype=x.dtype)
    for j in range(batch):
        h[:] = 0
        for t in range(n):
            for i in range(d):
                sz = bz[i]
                sr = br[i]
                for q in range(k):
                    sz += Wz[i, q] * x[t, j, q]
                    sr += Wr[i, q] * x[t, j, q]
                for q in range(d):
                    sz += Uz[i, q] * h[q]
                    sr += Ur[i, q] * h[q]
                z[i] = 1.0 / (1.0 + np.exp(-sz))
                r[i] = 1.0 / (1.0 + np.exp(-sr))
            for i in range(d):
                sc = bc[i]
                for q in range(k):
                    sc += Wc[i, q] * x[t, j, q]
                su = 0.0
                for q in range(d):
                    su += Uc[i, q] * h[q]
                out[t, j, i] = (1 - z[i]) * np.tanh(sc + r[i] * su) + z[i] * h[i]
            h[:] = out[t, j]


# -- one configuration at one size ----------------------------------------------------------
def run_config(cfg: Config, n: int, batch: int, dtypes, triad: Triad, topologies,
               with_reference: bool = False, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    data64 = cfg.data(n, batch, rng)
    model = cfg.model()
    elements = n * batch * cfg.d
    rows = []
    circuits = {}
    for topology in topologies:
        start = time.perf_counter()
        circuit = rc.compile(model, n, topology=topology)
        build = time.perf_counter() - start
        if any(c.topology == circuit.topology for c, _, _ in circuits.values()):
            continue  # auto picked it already: one row
        start = time.perf_counter()
        get_schedule(circuit)
        circuits[topology] = (circuit, build, time.perf_counter() - start)
    for dtype in dtypes:
        itemsize = np.dtype(dtype).itemsize
        data = _cast(data64, dtype)
        ref = cfg.reference(_cast(data, np.float64))  # fp64 sequential, same rounded inputs
        problem = (n * cfg.K + n * cfg.d) * batch * itemsize

        base = {"config": cfg.name, "n": n, "batch": batch, "d": cfg.d,
                "dtype": np.dtype(dtype).name, "elements": elements, "problem_bytes": problem}
        row = _Rows(rows, base, ref, triad)

        xs = cfg.xs(data).astype(dtype)
        for topology, (circuit, build, sched_s) in circuits.items():
            evaluator = Evaluator(circuit, dtype=dtype)
            values, _ = circuit.check_inputs(xs)
            workspace = evaluator.workspace(batch)
            evaluator.fill(workspace, values)  # filled once, before timing
            stats = evaluator.stats(batch)
            bytes_ = circuit_bytes(evaluator, batch)

            states = _NativeStates(n, cfg.d, batch)
            extra = {"topology": circuit.topology, "requested": topology,
                     "depth": circuit.depth,
                     "size": circuit.size, "build_s": build, "schedule_s": sched_s,
                     "regs_MiB": stats.peak_bytes / 2**20,
                     "naive_MiB": stats.naive_bytes / 2**20, "mode": evaluator.plan(batch)[0],
                     "circuit_bytes_per_gate": (bytes_ - problem) / max(1, circuit.size)}
            extra["circuit_bytes"] = bytes_
            entry = row(f"rnncirc {circuit.topology}",
                        lambda e=evaluator, w=workspace: e.evaluate(w), states, extra)
            if topology == topologies[0]:
                row("rnncirc evaluate()",
                    lambda c=circuit, x=xs, t=dtype: c.evaluate(x, dtype=t),
                    lambda o: o.transpose(1, 0, 2), {"topology": circuit.topology})
            if with_reference and dtype == np.float64:
                ref_first, ref_med, _ = timed(
                    lambda c=circuit, v=values: evaluate_reference(c, v), repeats=1)
                rows.append({"config": cfg.name, "n": n, "batch": batch, "dtype": "float64",
                             "method": "numpy reference evaluator", "ms": ref_med * 1e3,
                             "Gelem/s": elements / ref_med / 1e9,
                             "size": circuit.size, "depth": circuit.depth,
                             "fast_entry": entry})
        if n <= 2**14 or cfg.name == "diagonal":
            row("numpy loop", cfg.numpy_loop(data, dtype))
        row("numba seq (prealloc)", cfg.numba_seq(data, dtype))
        if JAX:
            row("jax.lax.scan", cfg.jax_scan(data, dtype))
            assoc = cfg.jax_assoc(data, dtype)
            if assoc is not None:
                row("jax associative_scan", assoc)
        row.finish()
    for entry in rows:
        fast = entry.pop("fast_entry", None)
        if fast is not None:
            entry["fast_over_reference"] = entry["ms"] / fast["ms"]
    for entry in rows:
        assoc = next((r for r in rows if r["method"] == "jax associative_scan"
                      and r["dtype"] == entry["dtype"]), None)
        if assoc and entry["method"].startswith("rnncirc"):
            entry["vs_assoc"] = assoc["ms"] / entry["ms"]
    return rows


class _Rows:
    """The rows of one configuration and dtype (shared fields in `base`): each method is
    called once when added (JIT, warm-up, its error against the reference), and `finish`
    times them all, interleaved in `ROUNDS` rounds of `REPEATS` calls, the triad too: the
    roofline of a row is set by the bandwidth measured in its own rounds (best triad of
    them), not minutes earlier (on this host the triad moves 17-23 GB/s from one run to
    the next)."""

    def __init__(self, rows: list, base: dict, ref: np.ndarray, triad: Triad):
        self.rows, self.base, self.ref, self.triad = rows, base, ref, triad
        self.pending: list[tuple[dict, object]] = []

    def __call__(self, method, fn, states_of=None, extra=None) -> dict:
        start = time.perf_counter()
        result = fn()
        first = time.perf_counter() - start
        states = states_of(result) if states_of else result
        states = np.asarray(states, dtype=np.float64).reshape(self.ref.shape)
        entry = {key: self.base[key] for key in ("config", "n", "batch", "d", "dtype")}
        entry.update({"method": method,
                      "max_err": float(np.max(np.abs(states - self.ref))),
                      "first_call_s": first})
        entry.update(extra or {})
        self.rows.append(entry)
        self.pending.append((entry, fn))
        return entry

    def finish(self) -> None:
        samples = [[] for _ in self.pending]
        triad_times = []
        for _ in range(ROUNDS):
            for (_, fn), times in zip(self.pending, samples, strict=True):
                times += timed(fn, REPEATS)[2]
            triad_times += timed(self.triad, REPEATS)[2]
        bandwidth = self.triad.bytes / min(triad_times)
        base = self.base
        for (entry, _), times in zip(self.pending, samples, strict=True):
            med = statistics.median(times)
            entry.update({"ms": med * 1e3, "Gelem/s": base["elements"] / med / 1e9,
                          "roofline": base["problem_bytes"] / bandwidth / med,
                          "triad_GBps": bandwidth / 1e9,
                          "jit_s": max(0.0, entry["first_call_s"] - med)})
            if "circuit_bytes" in entry:
                entry["circuit_roofline"] = entry["circuit_bytes"] / bandwidth / med
        self.pending = []


class _NativeStates:
    """Time-major outputs (n*d, batch) as (n, batch, d)."""

    def __init__(self, n, d, batch):
        self.shape = (n, d, batch)

    def __call__(self, out):
        return out.reshape(self.shape).transpose(0, 2, 1)


def warm_start() -> dict:
    """Seconds a fresh process needs to import rnncirc, compile a small model and evaluate it
    with kernels from the on-disk cache (the first evaluation is what the target is about)."""
    code = ("import time; t0 = time.perf_counter(); import numpy as np, rnncirc as rc; "
            "t1 = time.perf_counter()\n"
            "@rc.rnn(state=4, inputs=2)\ndef m(h, x):\n    return rc.tanh(h * x[0] + x[1])\n"
            "c = rc.compile(m, 32); xs = np.ones((8, 32, 2)); t2 = time.perf_counter(); "
            "c.evaluate(xs); t3 = time.perf_counter(); c.evaluate(xs); t4 = time.perf_counter()\n"
            "print(t1 - t0, t3 - t2, t4 - t3, t3 - t0)")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm cache
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True).stdout.split()
        runs.append([float(v) for v in out])
    imp, first, second, total = (statistics.median(col) for col in zip(*runs, strict=True))
    return {"import_s": imp, "first_evaluate_s": first, "second_evaluate_s": second,
            "process_to_result_s": total}


def summarize(rows: list[dict], warm: dict) -> list[str]:
    lines = []

    def get(config, n, dtype, method):
        return next((r for r in rows if r["config"] == config and r["n"] == n and
                     r["dtype"] == dtype and r["method"] == method), None)

    def verdict(ok):
        return "met" if ok else "NOT met"

    def role(r):
        """Why this rnncirc row is there, for the summary."""
        if r["method"] == f"rnncirc {LIKE_FOR_LIKE}":
            return " [associative_scan's own network: the like-for-like row]" + (
                " (auto's pick too)" if r.get("requested") == "auto" else "")
        if r["method"] == "rnncirc sequential":
            return " [extra row: the unrolled circuit]"
        return " [topology auto: least circuit depth]"

    def rnncirc_rows(config, n=None, dtype=None):
        return [r for r in rows if r["config"] == config and r["method"].startswith("rnncirc ")
                and r["method"] != "rnncirc evaluate()" and (n is None or r["n"] == n)
                and (dtype is None or r["dtype"] == dtype)]

    for n in (2**14, 2**16):
        for dtype in ("float32", "float64"):
            assoc = get("diagonal", n, dtype, "jax associative_scan")
            for r in rnncirc_rows("diagonal", n, dtype):
                speed = (f"{assoc['ms'] / r['ms']:.2f}x assoc_scan "
                         f"({verdict(assoc['ms'] > r['ms'])}, goal 2)") if assoc else "no jax"
                lines.append(
                    f"diagonal n=2^{int(math.log2(n))} {dtype} {r['method']}: {speed}; "
                    f"roofline {r['roofline']:.0%} of problem bytes (target 50%: "
                    f"{verdict(r['roofline'] >= 0.5)}), {r.get('circuit_roofline', 0):.0%} "
                    f"by circuit bytes (cache traffic){role(r)}")
    for config in ("dense", "dplr-r1"):
        for r in rnncirc_rows(config):
            if "vs_assoc" in r:
                lines.append(f"{config} n={r['n']} {r['dtype']} {r['method']}: assoc_scan / "
                             f"rnncirc = {r['vs_assoc']:.2f} (target >= 0.67: "
                             f"{verdict(r['vs_assoc'] >= 2 / 3)}){role(r)}")
    for r in rows:
        if "fast_over_reference" in r:
            lines.append(f"{r['config']} n={r['n']} ({r['size']:,} gates): fast evaluator "
                         f"{r['fast_over_reference']:.1f}x the numpy reference (target >= 20)")
    if warm:
        lines.append(f"warm start: first evaluate in a fresh process {warm['first_evaluate_s']:.2f}"
                     f" s after a {warm['import_s']:.2f} s import (target < 1 s)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", help="comma-separated configs: diagonal, dense, perm, dplr, "
                                       "gru, reference, warm")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for Numba and XLA (default: all cores)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--sequential-too", action=argparse.BooleanOptionalAction,
                        default=True, help="for linear models also time the sequential circuit")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None

    def wanted(name):
        return only is None or name in only

    triad = Triad()
    bw = measure_bandwidth(triad)
    print(f"bandwidth: triad {bw['triad_GBps']:.1f} GB/s, numpy copy {bw['copy_GBps']:.1f} GB/s"
          f" (at the start; each table's roofline uses the triad timed in its own rounds)"
          f"; threads: numba {numba.get_num_threads()}"
          + (f", jax {jax.__version__}" if JAX else ", jax not importable: its rows skipped"))
    quick = args.quick
    linear_topologies = ["auto", LIKE_FOR_LIKE] + (["sequential"] if args.sequential_too else [])
    plan = []
    if wanted("diagonal"):
        sizes = [2**10, 2**12] if quick else [2**10, 2**12, 2**14, 2**16]
        plan += [(Diagonal(64), n, (np.float32, np.float64), linear_topologies) for n in sizes]
    if wanted("dense"):
        plan += [(Dense(16), n, (np.float64,), linear_topologies)
                 for n in ([2**8] if quick else [2**8, 2**10])]
    if wanted("perm"):
        plan += [(PermutationDiagonal(16), n, (np.float64,), linear_topologies)
                 for n in ([2**10] if quick else [2**10, 2**12, 2**14])]
    if wanted("dplr"):
        plan += [(DPLR(16), n, (np.float64,), linear_topologies)
                 for n in ([2**8] if quick else [2**8, 2**10])]
    if wanted("gru"):
        plan += [(GRU(), n, (np.float32, np.float64), ["auto"])
                 for n in ([2**8] if quick else [2**8, 2**10])]
    rows = []
    for cfg, n, dtypes, topologies in plan:
        start = time.perf_counter()
        got = run_config(cfg, n, args.batch, dtypes, triad, topologies)
        rows += got
        triads = ", ".join(sorted({f"{r['triad_GBps']:.1f}" for r in got if "triad_GBps" in r}))
        print(f"\n{cfg.name} d={cfg.d} batch={args.batch} n={n} "
              f"({time.perf_counter() - start:.0f} s; triad in its rounds {triads} GB/s)")
        print(table(got, COLUMNS))
    if wanted("reference"):
        # the >= 20x target: a GRU circuit of about 10 million gates against the numpy oracle
        n = 160 if quick else 1280
        got = run_config(GRU(), n, args.batch, (np.float64,), triad, ["auto"],
                         with_reference=True)
        rows += got
        print(f"\ngru batch={args.batch} n={n}, fast vs numpy reference evaluator")
        print(table(got, COLUMNS + ["fast_over_reference"]))
    warm = warm_start() if wanted("warm") else {}
    if warm:
        print(f"\nwarm start: {warm}")
    summary = summarize(rows, warm)
    print("\nsummary")
    for line in summary:
        print("  " + line)
    if not JAX:
        print("  note: jax is not importable; install it (pip install jax) for the jax rows")
    path = write_json("eval_bench", {
        "bandwidth": bw, "threads": numba.get_num_threads(), "batch": args.batch,
        "jax": jax.__version__ if JAX else None, "quick": quick,
        "bytes_model": {
            "problem": "(n*K + n*d) * batch * itemsize: read inputs once, write states once",
            "circuit": "register rows read and written (a gate: arity + 1; a fused tree: "
                       "the rows it reads + its result, scratch rows not counted) * lanes * "
                       "itemsize + index bytes of indexed gates and instructions + loads and "
                       "stores of the inputs and outputs (Schedule.register_traffic)",
            "bandwidth": "STREAM triad a = b + s*c, numba, 1 thread, 256 MB: best of 7 at "
                         "the start ('bandwidth'), and per row the best of the triad runs "
                         "interleaved with its configuration's rounds ('triad_GBps', the one "
                         "its rooflines use)"},
        "rows": rows, "warm_start": warm, "summary": summary})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
