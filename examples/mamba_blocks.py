"""Two Mamba-style blocks (Gu and Dao 2023, "Mamba: linear-time sequence modeling with
selective state spaces", arXiv 2312.00752): RMSNorm, a selective diagonal scan gated by
silu, a gated MLP, and residual connections around both.

Per block, on the residual stream u_t (size M):
    z = RMSNorm(u);  h_t = exp(-softplus(W_d z + b_d) * A) * h_{t-1} + softplus(...) * (B z)
    u <- u + W_y (h * silu(W_g z))                       (the mixer, state size D per block)
    u <- u + W_2 (silu(W_1 RMSNorm(u)) * (W_3 RMSNorm(u)))  (the gated MLP)
The scans are diagonal (TC0); everything else is position-wise, so the whole program has
depth Theta(log n).
"""

import numpy as np

import rnncirc as rc

M, D, H = 4, 8, 8  # residual width, state per block, MLP hidden width
rng = np.random.default_rng(22)


def block_weights():
    return {"A": np.exp(rng.normal(size=D)), "W_d": rng.normal(size=(D, M)) / np.sqrt(M),
            "b_d": rng.normal(size=D) - 1.0, "B": rng.normal(size=(D, M)) / np.sqrt(M),
            "W_g": rng.normal(size=(D, M)) / np.sqrt(M),
            "W_y": rng.normal(size=(M, D)) / np.sqrt(D),
            "W_1": rng.normal(size=(H, M)) / np.sqrt(M),
            "W_3": rng.normal(size=(H, M)) / np.sqrt(M),
            "W_2": rng.normal(size=(M, H)) / np.sqrt(H),
            "norm1": 1.0 + 0.1 * rng.normal(size=M), "norm2": 1.0 + 0.1 * rng.normal(size=M)}


P1, P2 = block_weights(), block_weights()


def selective_step(p):
    def step(h, z):
        delta = rc.softplus(p["W_d"] @ z + p["b_d"])
        return rc.exp(-delta * p["A"]) * h + delta * (p["B"] @ z)

    return step


mixer1 = rc.rnn(state=D, inputs=M, name="mixer1")(selective_step(P1))
mixer2 = rc.rnn(state=D, inputs=M, name="mixer2")(selective_step(P2))


def block(u, mixer, p):
    z = rc.rms_norm(u, p["norm1"])
    h = rc.scan(mixer, z)
    u = u + p["W_y"] @ (h * rc.silu(p["W_g"] @ z))
    v = rc.rms_norm(u, p["norm2"])
    return u + p["W_2"] @ (rc.silu(p["W_1"] @ v) * (p["W_3"] @ v))


@rc.program(inputs=M)
def mamba_blocks(x):
    return block(block(x, mixer1, P1), mixer2, P2)
