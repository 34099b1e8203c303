"""The example programs against independent numpy references written from their papers.

Each reference below re-implements the architecture with plain numpy loops from the weights
of the example module; it never calls the example's step functions or `Program.run`. Every
circuit is checked against it, on every topology where a layer is linear.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from rnncirc.compiler import TOPOLOGIES, compile_model
from tests.conftest import EXAMPLES


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"gallery_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _silu(x):
    return x * _sigmoid(x)


# -- references ------------------------------------------------------------------------------
def stacked_lstm_reference(m, xs: np.ndarray) -> np.ndarray:
    """Graves et al. 2013: layer l reads layer l-1's hidden state; y_t = W_out h2_t."""
    def lstm(seq, W, U, b):
        h, c, out = np.zeros(m.D), np.zeros(m.D), []
        for x in seq:
            pre = np.einsum("gdk,k->gd", W, x) + np.einsum("gde,e->gd", U, h) + b
            i, f, o, g = _sigmoid(pre[0]), _sigmoid(pre[1]), _sigmoid(pre[2]), np.tanh(pre[3])
            c = f * c + i * g
            h = o * np.tanh(c)
            out.append(h)
        return np.array(out)

    h2 = lstm(lstm(xs, m.W1, m.U1, m.B1), m.W2, m.U2, m.B2)
    return h2 @ m.W_OUT.T


def mamba_blocks_reference(m, xs: np.ndarray) -> np.ndarray:
    """Gu and Dao 2023 blocks: RMSNorm -> selective diagonal scan gated by silu -> residual,
    RMSNorm -> gated MLP -> residual."""
    def rms(u, w):
        return u / np.sqrt((u * u).mean(axis=-1, keepdims=True) + 1e-6) * w

    def block(u, p):
        z = rms(u, p["norm1"])
        h, states = np.zeros(m.D), []
        for zt in z:
            delta = _softplus(p["W_d"] @ zt + p["b_d"])
            h = np.exp(-delta * p["A"]) * h + delta * (p["B"] @ zt)
            states.append(h)
        u = u + (np.array(states) * _silu(z @ p["W_g"].T)) @ p["W_y"].T
        v = rms(u, p["norm2"])
        return u + (_silu(v @ p["W_1"].T) * (v @ p["W_3"].T)) @ p["W_2"].T

    return block(block(xs, m.P1), m.P2)


def deltanet_heads_reference(m, xs: np.ndarray) -> np.ndarray:
    """Yang et al. 2024: S_t = S_{t-1}(I - b k k^T) + b v k^T per head, o_t = S_t q_t."""
    u = xs
    for i in range(2):
        heads = []
        for p in m.WEIGHTS[i]:
            S, outs = np.zeros((m.DV, m.DK)), []
            for ut in u:
                k = p["W_k"] @ ut
                k = k / np.sqrt(k @ k + 1e-6)
                beta = _sigmoid(p["w_b"] @ ut)
                S = S @ (np.eye(m.DK) - beta * np.outer(k, k)) + beta * np.outer(p["W_v"] @ ut, k)
                outs.append(S @ (p["W_q"] @ ut))
            heads.append(np.array(outs))
        u = u + np.concatenate(heads, axis=1) @ m.W_O[i].T
    return u


def mod3_reference(m, symbols: np.ndarray) -> np.ndarray:
    """Accept iff (#a - #b) mod 3 == 0 after each prefix: +1 accept, -1 reject."""
    count = np.cumsum(np.where(symbols == 0, 1, np.where(symbols == 1, -1, 0)))
    return np.where(count % 3 == 0, 1.0, -1.0)[:, None]


def s5_reference(m, symbols: np.ndarray) -> np.ndarray:
    """Accept iff the generators read so far multiply to the identity of S5."""
    element, out = tuple(range(5)), []
    for s in symbols:
        element = tuple(m.GENERATORS[s][element[i]] for i in range(5))
        out.append(1.0 if element == tuple(range(5)) else -1.0)
    return np.array(out)[:, None]


def flip_flop_reference(m, symbols: np.ndarray) -> np.ndarray:
    """Accept iff the last set (1) came after the last reset (2)."""
    on, out = False, []
    for s in symbols:
        on = True if s == 1 else False if s == 2 else on
        out.append(1.0 if on else -1.0)
    return np.array(out)[:, None]


def connectivity_reference(m, symbols: np.ndarray) -> np.ndarray:
    """The counter machine of Lemma 2 run on Python integers (no move: rejected for good)."""
    q, counters, out = "source", [0, 0], []
    for s in symbols:
        move = None if q is None else m.move(q, int(s), tuple(c == 0 for c in counters))
        if move is None:
            q = None
        else:
            q, updates = move
            counters = [0 if u == "reset" else c + u for c, u in zip(counters, updates,
                                                                     strict=True)]
        accepted = q is not None and m.accepts(q, tuple(c == 0 for c in counters))
        out.append(1.0 if accepted else -1.0)
    return np.array(out)[:, None]


GALLERY = {
    "counter_connectivity": (connectivity_reference, "connectivity"),
    "dfa_reset": (flip_flop_reference, "flip_flop"),
    "dfa_s5": (s5_reference, "s5_word_problem"),
    "stacked_lstm": (stacked_lstm_reference, "stacked_lstm"),
    "mamba_blocks": (mamba_blocks_reference, "mamba_blocks"),
    "deltanet_heads": (deltanet_heads_reference, "deltanet_heads"),
    "pd_ssm_automaton": (mod3_reference, "mod3_acceptor"),
}

#: the longest length checked on every topology: the S5 DFA's 120 states make its prefix
#: circuits 0.15 million gates at n = 7 (tests/constructions checks it at n = 64, once)
LONGEST = {"dfa_s5": 7}


def _inputs(module, program, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if program.alphabet:
        return rng.integers(0, program.alphabet, size=n)
    return rng.normal(size=(n, program.input_size))


@pytest.fixture(scope="module", params=sorted(GALLERY))
def example(request):
    reference, attribute = GALLERY[request.param]
    module = _module(request.param)
    return request.param, module, getattr(module, attribute), reference


def test_program_run_equals_the_reference(example):
    _, module, program, reference = example
    for seed, n in enumerate((1, 2, 7, 64)):
        xs = _inputs(module, program, n, seed)
        np.testing.assert_allclose(program.run(xs), reference(module, xs), rtol=1e-10,
                                   atol=1e-10)


def _topologies(program) -> tuple[str, ...]:
    """Every topology when a layer is linear (a nonlinear layer is unrolled whatever it is
    given: there one topology stands for all); segment-sum where every linear layer is scalar
    or diagonal (other kinds are refused, tests/programs/test_lowering.py)."""
    from rnncirc.lower.layers import classify
    from rnncirc.lower.segment_lower import KINDS
    from rnncirc.lower.segment_sum import TOPOLOGIES as SEGMENT_SUM

    kinds = {cls.kind for _, cls in classify(program).layers if cls.is_linear}
    if not kinds:
        return ("auto",)
    return tuple(t for t in TOPOLOGIES if t not in SEGMENT_SUM or kinds <= set(KINDS))


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_circuit_equals_the_reference_on_every_topology(example, n):
    name, module, program, reference = example
    if n > LONGEST.get(name, n):
        pytest.skip(f"{name} is checked up to n = {LONGEST[name]} on every topology")
    xs = _inputs(module, program, n, 100 + n)
    expected = reference(module, xs)
    for topology in _topologies(program):
        for outputs in ("all", "last"):
            circuit = compile_model(program, n, topology=topology, outputs=outputs).circuit
            want = expected if outputs == "all" else expected[-1]
            np.testing.assert_allclose(circuit.evaluate(xs), want, rtol=1e-9, atol=1e-9,
                                       err_msg=f"{program.name} n={n} {topology} {outputs}")


@pytest.mark.slow
@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_circuit_equals_the_reference_at_300(example, topology):
    name, module, program, reference = example
    if 300 > LONGEST.get(name, 300):
        pytest.skip(f"{name} is checked up to n = {LONGEST[name]} on every topology")
    if topology not in _topologies(program):
        pytest.skip("one topology stands for all (every layer nonlinear), or a segment-sum "
                    "the layers' kinds refuse")
    xs = _inputs(module, program, 300, 7)
    circuit = compile_model(program, 300, topology=topology).circuit
    np.testing.assert_allclose(circuit.evaluate(xs), reference(module, xs), rtol=1e-8,
                               atol=1e-8)


def test_a_nonlinear_program_has_one_circuit_whatever_the_topology():
    module = _module("stacked_lstm")
    sizes = {compile_model(module.stacked_lstm, 9, topology=t).circuit.size for t in TOPOLOGIES}
    assert len(sizes) == 1
