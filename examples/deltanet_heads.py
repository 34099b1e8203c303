"""A 2-layer DeltaNet with 2 heads per layer and the readout y_t = S_t q_t (Yang et al. 2024,
"Parallelizing linear transformers with the delta rule over sequence length", arXiv
2406.06484).

Per layer and head: k_t = normalize(W_k u_t), v_t = W_v u_t, q_t = W_q u_t,
beta_t = sigmoid(w_b . u_t), S_t = S_{t-1} (I - beta_t k_t k_t^T) + beta_t v_t k_t^T, and the
head reads o_t = S_t q_t. The heads are concatenated and projected, with a residual:
u <- u + W_o [o^1; o^2]. The transition is identity minus rank one (DPLR, PNC1; Merrill et
al. 2026, Thm. 5): the program is as hard as its layers, with depth Theta(log n).
"""

import numpy as np

import rnncirc as rc

M, DK, DV, HEADS = 8, 4, 4, 2
rng = np.random.default_rng(23)


def head_weights():
    return {"W_k": rng.normal(size=(DK, M)) / np.sqrt(M),
            "W_v": rng.normal(size=(DV, M)) / np.sqrt(M),
            "W_q": rng.normal(size=(DK, M)) / np.sqrt(M),
            "w_b": rng.normal(size=M) / np.sqrt(M)}


WEIGHTS = [[head_weights() for _ in range(HEADS)] for _ in range(2)]
W_O = [rng.normal(size=(M, HEADS * DV)) / np.sqrt(HEADS * DV) for _ in range(2)]


def delta_rule(p, name):
    @rc.rnn(state=(DV, DK), inputs=M, name=name)
    def head(S, u):
        k = p["W_k"] @ u
        k = k / rc.sqrt((k * k).sum() + 1e-6)
        beta = rc.sigmoid(p["w_b"] @ u)
        return S - beta * rc.outer(S @ k, k) + beta * rc.outer(p["W_v"] @ u, k)

    return head


HEAD_RNNS = [[delta_rule(p, f"layer{i + 1}_head{j + 1}") for j, p in enumerate(layer)]
             for i, layer in enumerate(WEIGHTS)]


def layer(u, i):
    outs = [rc.scan(head, u) @ (p["W_q"] @ u)  # o_t = S_t q_t
            for head, p in zip(HEAD_RNNS[i], WEIGHTS[i], strict=True)]
    return u + W_O[i] @ rc.concat(outs)


@rc.program(inputs=M)
def deltanet_heads(x):
    return layer(layer(x, 0), 1)
