"""Thm 10: the 4-layer RWKV-7 program computes 3x3 iterated matrix products, checked exactly
(modulo a prime) against integer products at every block end."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.compiler import compile_model

P = 2**31 - 1


@pytest.fixture(scope="module")
def imm():
    return rc.imm_program()


def products_mod_p(mats: np.ndarray) -> np.ndarray:
    """vec(A_1 ... A_N) mod P for every N, in Python integers: ``(N, 9)``."""
    product, out = np.eye(3, dtype=object), []
    for m in mats:
        product = product.dot(m.astype(object))
        out.append(np.mod(product, P).astype(np.int64).ravel())
    return np.array(out)


def check(circuit, mats: np.ndarray, outputs: str = "all") -> None:
    batch, n_mats = mats.shape[:2]
    got = circuit.evaluate(mats.reshape(batch, -1, 1), modulus=P)
    for m, out in zip(mats, got, strict=True):
        want = products_mod_p(m)
        if outputs == "last":
            np.testing.assert_array_equal(out, want[-1])
        else:
            np.testing.assert_array_equal(out[8::9], want)


def entries(rng, shape, low=-1, high=1):
    return rng.integers(low, high + 1, size=shape + (3, 3))


def test_every_layer_is_an_rwkv7_head(imm):
    """DPLR (diagonal minus rank one) but the window, whose removal term is 0: diagonal."""
    kinds = [cls.kind for _, cls in rc.classify(imm).layers]
    assert kinds == ["dplr", "dplr", "diagonal", "dplr"]
    assert [layer.name for layer in imm.layers] == ["clock", "slow_clock", "window",
                                                    "arithmetic"]


@pytest.mark.parametrize("n_mats", [1, 2, 3, 5])
@pytest.mark.parametrize("topology", ["auto", "sklansky", "brent-kung"])
def test_products_on_prefix_circuits(imm, n_mats, topology):
    mats = entries(np.random.default_rng(n_mats), (6, n_mats), -3, 3)
    check(rc.compile(imm, 9 * n_mats, topology=topology), mats)


def test_products_of_256_matrices_at_every_block_end(imm):
    """n = 2304 tokens on the sequential circuit: every block end, 20 random instances over
    {-1, 0, 1}."""
    mats = entries(np.random.default_rng(7), (20, 256))
    check(rc.compile(imm, 9 * 256, topology="sequential"), mats)


def test_products_of_32_matrices_on_the_prefix_circuit(imm):
    mats = entries(np.random.default_rng(8), (4, 32))
    check(compile_model(imm, 9 * 32, outputs="last").circuit, mats, outputs="last")


@pytest.mark.slow
def test_products_of_256_matrices_on_the_prefix_circuit(imm):
    """n = 2304 tokens, the last output of the prefix circuit (32 million gates)."""
    mats = entries(np.random.default_rng(9), (4, 256))
    check(compile_model(imm, 9 * 256, outputs="last").circuit, mats, outputs="last")


def test_run_equals_the_products(imm):
    mats = entries(np.random.default_rng(3), (7,), -2, 2)
    out = imm.run(mats.reshape(-1, 1).astype(float))
    product = np.eye(3)
    for n, m in enumerate(mats):
        product = product @ m
        np.testing.assert_array_equal(out[9 * n + 8], product.ravel())


def test_depth_grows_as_log_n_beside_the_unrolled_circuit(imm):
    """Prefix circuits: depth <= c log2 n with the constant of 2 matrices (n = 18) up to 8
    (n = 72); the sequential circuit's depth grows by the same amount per matrix."""
    depths = {n: rc.compile(imm, 9 * n).depth for n in (2, 4, 8)}
    c = depths[2] / math.log2(18)
    assert all(d <= c * math.log2(9 * n) for n, d in depths.items()), depths
    assert depths[8] > depths[2]
    unrolled = {n: rc.compile(imm, 9 * n, topology="sequential").depth for n in (4, 8, 16)}
    per_matrix = (unrolled[8] - unrolled[4]) / 4
    assert unrolled[16] - unrolled[8] == 8 * per_matrix > 0
    assert unrolled[16] > 5 * depths[8]
