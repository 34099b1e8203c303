"""The gallery (examples/*.py): each model's classification matches the paper's table, and its
compiled circuit equals an independent numpy implementation of the architecture written here
from its paper's equations (not by calling the example's step function)."""

from __future__ import annotations

import importlib.util
import os
import re

import numpy as np
import pytest

import rnncirc as rc

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
GALLERY_MD = os.path.join(os.path.dirname(EXAMPLES), "docs", "gallery.md")

#: file -> (kind, complexity class, rank): Merrill et al. 2026, Fig. 1 and Sec. 1.3 / 2
PAPER_TABLE = {
    "elman": ("nonlinear", "L (log precision) / P (poly precision)", None),
    "lstm": ("nonlinear", "L (log precision) / P (poly precision)", None),
    "gru": ("nonlinear", "L (log precision) / P (poly precision)", None),
    "mingru": ("diagonal", "TC0", None),
    "lru": ("diagonal", "TC0", None),
    "lru_complex": ("complex-diagonal", "TC0", None),
    "mamba": ("diagonal", "TC0", None),
    "mamba2": ("scalar", "TC0", None),
    "retnet": ("scalar", "TC0", None),
    "linear_attention": ("scalar", "TC0", None),
    "gla": ("diagonal", "TC0", None),
    "deltanet": ("dplr", "PNC1", 1),
    "gated_deltanet": ("dplr", "PNC1", 1),
    "rwkv7": ("dplr", "PNC1", 1),
    "pd_ssm": ("permutation-diagonal", "NC1", None),
    "parity": ("permutation-diagonal", "NC1", None),
    "s5": ("permutation-diagonal", "NC1", None),
    # outside the paper (a recurrence over the (max, +) semiring): rnncirc's derived bound
    "viterbi": ("max-plus", "NC1-hard (derived, not in the paper)", None),
}


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"gallery_{name}", f"{EXAMPLES}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_MODULES: dict = {}


def module(name: str):
    if name not in _MODULES:
        _MODULES[name] = _module(name)
    return _MODULES[name]


def model_of(name: str) -> rc.RNN:
    found = [v for v in vars(module(name)).values() if isinstance(v, rc.RNN)]
    assert len(found) == 1, name
    return found[0]


# -- independent references, from the papers' equations ---------------------------------------
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def softplus(z):
    return np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0)


def unit(k):
    return k / np.sqrt(k @ k + 1e-6)


def scan(step, h0, xs):
    h, out = h0, []
    for x in xs:
        h = step(h, x)
        out.append(h)
    return np.array(out)


def reference(name: str, xs: np.ndarray) -> np.ndarray:
    """h_1..h_n of one sequence, from the architecture's equations."""
    m = module(name)
    if name == "elman":  # h' = tanh(W h + U x + b)
        return scan(lambda h, x: np.tanh(m.W @ h + m.U @ x + m.b), np.zeros(m.D), xs)
    if name == "lstm":  # Hochreiter & Schmidhuber, with forget gate; state [h; c]
        def lstm(state, x):
            h, c = state[:m.D], state[m.D:]
            gates = [m.W[j] @ x + m.U[j] @ h + m.b[j] for j in range(4)]
            i, f, o, g = (sigmoid(gates[0]), sigmoid(gates[1]), sigmoid(gates[2]),
                          np.tanh(gates[3]))
            c = f * c + i * g
            return np.concatenate([o * np.tanh(c), c])
        return scan(lstm, np.zeros(2 * m.D), xs)
    if name == "gru":  # Cho et al. 2014
        def gru(h, x):
            z = sigmoid(m.Wz @ x + m.Uz @ h + m.bz)
            r = sigmoid(m.Wr @ x + m.Ur @ h + m.br)
            cand = np.tanh(m.Wc @ x + r * (m.Uc @ h) + m.bc)
            return (1 - z) * cand + z * h
        return scan(gru, np.zeros(m.D), xs)
    if name == "mingru":  # h' = (1 - z) h + z h~, z and h~ from x only
        def mingru(h, x):
            z = sigmoid(m.W_z @ x + m.b_z)
            return (1 - z) * h + z * (m.W_h @ x)
        return scan(mingru, np.zeros(m.D), xs)
    if name == "lru":  # h' = lambda h + gamma (B x), lambda = exp(-exp(nu))
        lam = np.exp(-np.exp(m.nu))
        return scan(lambda h, x: lam * h + np.sqrt(1 - lam**2) * (m.B @ x), np.zeros(m.D), xs)
    if name == "lru_complex":  # the same over C: lambda = |lambda| e^(i theta), (re, im) pairs
        lam = m.radius * np.exp(1j * m.theta)
        b_re, b_im = m.B[0::2], m.B[1::2]

        def lru_complex(h, x):
            z = lam * (h[0::2] + 1j * h[1::2]) + np.sqrt(1 - m.radius**2) * (b_re @ x
                                                                            + 1j * (b_im @ x))
            return np.stack([z.real, z.imag], axis=1).reshape(-1)
        return scan(lru_complex, np.zeros(2 * m.UNITS), xs)
    if name == "mamba":  # ZOH-discretised selective diagonal SSM (simplified B-bar = delta B)
        def mamba(h, x):
            delta = softplus(m.W_delta @ x + m.b_delta)
            return np.exp(-delta * m.A) * h + delta * (m.B @ x)
        return scan(mamba, np.zeros(m.D), xs)
    if name == "mamba2":  # SSD: S' = exp(-dt A) S + B (dt X)^T
        def mamba2(S, x):
            dt = softplus(m.w_dt @ x + m.b_dt)
            return np.exp(-dt * m.A) * S + np.outer(m.W_B @ x, dt * (m.W_X @ x))
        return scan(mamba2, np.zeros((m.N, m.P)), xs)
    if name == "retnet":  # S' = gamma S + k^T v
        return scan(lambda S, x: m.GAMMA * S + np.outer(m.W_K @ x, m.W_V @ x),
                    np.zeros((m.DK, m.DV)), xs)
    if name == "linear_attention":  # S' = S + phi(k) v^T, phi = elu + 1
        def la(S, x):
            k = m.Wk @ x
            phi = np.where(k > 0, k + 1, np.exp(k))
            return S + np.outer(phi, m.Wv @ x)
        return scan(la, np.zeros((m.DK, m.DV)), xs)
    if name == "gla":  # S' = diag(alpha) S + k^T v, alpha = sigmoid(.)^(1/tau)
        def gla(S, x):
            alpha = sigmoid(m.W_a @ x + m.b_a) ** (1 / m.TAU)
            return np.diag(alpha) @ S + np.outer(m.W_K @ x, m.W_V @ x)
        return scan(gla, np.zeros((m.DK, m.DV)), xs)
    if name in ("deltanet", "gated_deltanet"):  # S' = S alpha (I - beta k k^T) + beta v k^T
        def delta(S, x):
            k, beta = unit(m.W_K @ x), sigmoid(m.w_b @ x)
            alpha = np.exp(-softplus(m.w_a @ x + m.b_a)) if name == "gated_deltanet" else 1.0
            transition = alpha * (np.eye(m.DK) - beta * np.outer(k, k))
            return S @ transition + beta * np.outer(m.W_V @ x, k)
        return scan(delta, np.zeros((m.DV, m.DK)), xs)
    if name == "rwkv7":  # S' = S (diag(w) - kappa^T (a * kappa)) + v^T k~
        def rwkv7(S, x):
            w = np.exp(-np.exp(-0.5) * sigmoid(m.W_w @ x))
            a = sigmoid(m.W_a @ x)
            k = m.W_k @ x
            kappa = unit(k)
            k_new = k * (1 + (a - 1) * m.xi)
            return S @ (np.diag(w) - np.outer(kappa, a * kappa)) + np.outer(m.W_v @ x, k_new)
        return scan(rwkv7, np.zeros((m.DV, m.DK)), xs)
    if name == "pd_ssm":  # h' = P(x) D(x) h + b(x)
        return scan(lambda h, s: m.PERMS[s] @ np.diag(m.DIAG[s]) @ h + m.OFFSET[s],
                    np.zeros(m.D), xs)
    if name == "parity":  # one-hot of the number of ones mod 2
        return np.eye(2)[np.cumsum(xs) % 2]
    if name == "s5":  # compose the permutations: the value at position i moves to g[i]
        generators = list(m.GENERATORS.values())
        h, out = np.arange(5.0), []
        for s in xs:
            moved = np.empty(5)
            moved[generators[s]] = h
            h = moved
            out.append(h)
        return np.array(out)
    if name == "viterbi":  # delta' = max_j (delta[j] + log T[j, i]) + log E[i, x]
        return scan(lambda d, s: np.max(d[:, None] + m.LOG_T, axis=0) + m.LOG_E[:, s],
                    m.LOG_PI, xs)
    raise KeyError(name)


def _inputs(model: rc.RNN, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if model.alphabet:
        return rng.integers(0, model.alphabet, size=(2, n))
    return rng.normal(size=(2, n, model.input_size))


# -- tests -------------------------------------------------------------------------------------
def test_every_example_is_in_the_gallery():
    """Single-RNN examples here; program examples in tests/programs/test_gallery.py."""
    from tests.conftest import PROGRAM_EXAMPLES, rnn_examples
    from tests.programs.test_gallery import GALLERY

    assert set(rnn_examples()) == set(PAPER_TABLE), "add new examples to PAPER_TABLE, " \
        "ARCHITECTURES and docs/gallery.md (python tests/test_gallery.py)"
    assert set(PROGRAM_EXAMPLES) == set(GALLERY), "add new program examples to " \
        "tests/programs/test_gallery.py"


@pytest.mark.parametrize("name", sorted(PAPER_TABLE))
def test_classification_matches_the_paper(name):
    kind, complexity, rank = PAPER_TABLE[name]
    result = rc.classify(model_of(name))
    assert (result.kind, result.complexity, result.rank) == (kind, complexity, rank), \
        result.reason


@pytest.mark.parametrize("name", sorted(set(PAPER_TABLE) - {"parity"}))  # a textbook automaton
def test_docstring_cites_the_architecture(name):
    doc = module(name).__doc__
    assert doc and (re.search(r"\b(19|20)\d\d\b", doc) or "arXiv" in doc), name


@pytest.mark.parametrize("name", sorted(PAPER_TABLE))
def test_circuit_equals_the_papers_equations(name):
    model = model_of(name)
    lengths = [(1, "auto"), (9, "auto"), (16, "auto")] if PAPER_TABLE[name][0] != "nonlinear" \
        else [(1, "auto"), (5, "auto")]
    if PAPER_TABLE[name][0] != "nonlinear":
        lengths.append((6, "sequential"))
    for k, (n, topology) in enumerate(lengths):
        xs = _inputs(model, n, seed=k)
        expected = np.array([reference(name, seq) for seq in xs])
        got = rc.compile(model, n, topology=topology).evaluate(xs)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9,
                                   err_msg=f"{name} n={n} {topology}")


def test_s5_detects_the_identity_word():
    model = model_of("s5")
    five_cycle, swap = 2, 1
    words = np.array([[five_cycle] * 5 + [0, 0, 0],  # a 5-cycle to the fifth: identity
                      [swap, five_cycle, swap, 0, 0, 0, 0, 0],
                      [swap, swap, 0, five_cycle, 0, 0, 0, 0]])
    final = rc.compile(model, 8, outputs="last").evaluate(words)
    identity = np.all(final == np.arange(5.0), axis=1)
    assert identity.tolist() == [True, False, False]


def test_gallery_table_is_current():
    """docs/gallery.md lists every model with its kind, class and depth at n = 1024."""
    with open(GALLERY_MD, encoding="utf-8") as f:
        text = f.read()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.search(r"examples/(\w+)\.py", line)
        if match and len(cells) >= 6:
            rows[match.group(1)] = cells
    assert set(rows) == set(PAPER_TABLE)
    for name, cells in rows.items():
        kind, complexity, _ = PAPER_TABLE[name]
        assert cells[3].startswith(kind), (name, cells)
        assert cells[4] == complexity, cells
    for name in ("mamba", "s5", "parity", "mingru", "gru"):
        depth = int(rows[name][5].replace(",", ""))
        assert depth == rc.compile(model_of(name), 1024).depth


# -- the README table (regenerate with: python tests/test_gallery.py) -------------------------
ARCHITECTURES = {
    "elman": "Elman RNN (Elman 1990)",
    "lstm": "LSTM (Hochreiter and Schmidhuber 1997)",
    "gru": "GRU (Cho et al. 2014)",
    "mingru": "minGRU (Feng et al. 2024)",
    "lru": "LRU / S4D, time-invariant diagonal (Orvieto et al. 2023; Gu et al. 2022)",
    "lru_complex": "LRU with complex eigenvalues, 2x2 rotation-scaling blocks (Orvieto et al. "
                   "2023)",
    "mamba": "Mamba / S6, selective diagonal (Gu and Dao 2023)",
    "mamba2": "Mamba-2 / SSD, scalar decay, matrix state (Dao and Gu 2024)",
    "retnet": "RetNet, fixed decay, matrix state (Sun et al. 2023)",
    "linear_attention": "Linear attention (Katharopoulos et al. 2020)",
    "gla": "GLA, diagonal gate, matrix state (Yang et al. 2024)",
    "deltanet": "DeltaNet (Schlag et al. 2021; Yang et al. 2024)",
    "gated_deltanet": "Gated DeltaNet (Yang, Kautz and Hatamizadeh 2025)",
    "rwkv7": "RWKV-7 (Peng et al. 2025)",
    "pd_ssm": "PD-SSM (Terzic et al. 2025)",
    "parity": "Parity automaton",
    "s5": "S5 word problem, NC1-complete (Barrington 1989)",
    "viterbi": "HMM Viterbi scores, (max, +) semiring (Viterbi 1967)",
}


def render_gallery_table() -> str:
    """The markdown table of docs/gallery.md: kind, class, depth at n = 1024, formula."""
    from rnncirc.analyze.formula_eval import format_formula
    from rnncirc.analyze.profile import depth_profile

    lines = [
        "| Model | File | State | Kind | Class | Depth at n = 1024 | depth(n) |",
        "| --- | --- | --- | --- | --- | ---: | --- |",
    ]
    notes = []
    for name, title in ARCHITECTURES.items():
        model = model_of(name)
        profile = depth_profile(model, [1024])
        row = profile.rows[0]
        kind = profile.kind + (f" (rank {rc.classify(model).rank})"
                               if profile.kind == "dplr" else "")
        formula = format_formula(profile.depth_formula, style="math")
        if profile.depth_formula is None:
            formula = "n/a ¹"
            notes.append(profile.formula_note)
        state = "x".join(map(str, model.state_shape))
        inputs = f"{model.alphabet} symbols" if model.alphabet else f"{model.input_size} inputs"
        lines.append(f"| {title} | `examples/{name}.py` | {state}, "
                     f"{inputs} | {kind} | {profile.complexity} | {row['depth']:,} | "
                     f"`{formula}` |")
    text = "\n".join(lines)
    text += ("\n\nDepth is measured on the circuit `rc.compile(model, 1024)` builds (topology "
             "auto: a prefix network or segment-sum for linear models, the unroll for nonlinear "
             "ones); "
             "`depth(n)` is exact for every n in its range (`rc.depth_profile`; "
             "⌈log2 n⌉ is the ceiling of log2 n). Class: where the paper (Merrill et al. 2026, "
             "Fig. 1) places the kind.")
    if notes:
        text += f"\n\n¹ {notes[0]}"
    return text + "\n"


if __name__ == "__main__":
    os.makedirs(os.path.dirname(GALLERY_MD), exist_ok=True)
    with open(GALLERY_MD, "w", encoding="utf-8") as out:
        out.write("# Gallery\n\nOne runnable model file per architecture in `examples/`; "
                  "`rnncirc classify FILE` and `rnncirc profile FILE` reproduce each row.\n\n")
        out.write(render_gallery_table())
    print(f"wrote {GALLERY_MD}")
