"""Custom torch cells (``forward(x, h) -> h``) through torch.fx.

A linear-in-state cell must classify and lower exactly as its hand-written rnncirc twin (the
examples' Mamba and DeltaNet, given the same weights): same kind, same depth and gate count,
equal evaluation. Every cell's circuit equals the module's own forward, step by step.
"""

from __future__ import annotations

import doctest
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.errors import (
    OptionError,
    StepOutputError,
    TracingError,
    UnsupportedOperationError,
)
from rnncirc.frontend.loader import pick_model
from tests.conftest import EXAMPLES

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


def twin(name: str) -> rc.RNN:
    return pick_model(os.path.join(EXAMPLES, f"{name}.py"))


def example_module(name: str):
    """The example file as a module (its weights)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"twin_{name}",
                                                  os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def set_weights(layer, weight, bias=None):
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(np.atleast_2d(weight)))
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias))


class Selective(nn.Module):
    """examples/mamba.py written in torch."""

    def __init__(self, D: int, K: int):
        super().__init__()
        self.input_size, self.hidden_size = K, D
        self.delta = nn.Linear(K, D)
        self.B = nn.Linear(K, D, bias=False)
        self.A = nn.Parameter(torch.ones(D))

    def forward(self, x, h):
        delta = F.softplus(self.delta(x))
        return torch.exp(-delta * self.A) * h + delta * self.B(x)


class DeltaRule(nn.Module):
    """examples/deltanet.py written in torch (einsum for the rank-one update)."""

    def __init__(self, K: int, DK: int, DV: int):
        super().__init__()
        self.k = nn.Linear(K, DK, bias=False)
        self.v = nn.Linear(K, DV, bias=False)
        self.beta = nn.Linear(K, 1, bias=False)

    def forward(self, x, S):
        k = self.k(x)
        k = k / torch.sqrt((k * k).sum() + 1e-6)
        beta = torch.sigmoid(self.beta(x))
        return S - beta * torch.einsum("i,j->ij", S @ k, k) + beta * torch.outer(self.v(x), k)


class DeltaRuleEinsum(DeltaRule):
    """The same cell with every product an einsum, as linear-attention code writes it."""

    def forward(self, x, S):
        k = self.k(x)
        k = k * torch.rsqrt(torch.einsum("i,i->", k, k) + 1e-6)
        beta = torch.sigmoid(self.beta(x))
        read = torch.einsum("vk,k->v", S, k)
        return S + beta * torch.einsum("v,k->vk", self.v(x) - read, k)


def mamba_pair():
    m = example_module("mamba")
    cell = Selective(m.D, m.K).double()
    set_weights(cell.delta, m.W_delta, m.b_delta)
    set_weights(cell.B, m.B)
    with torch.no_grad():
        cell.A.copy_(torch.tensor(m.A))
    return cell, rc.from_torch(cell, name="mamba"), twin("mamba")


def deltanet_pair(cls=DeltaRule):
    m = example_module("deltanet")
    cell = cls(m.K, m.DK, m.DV).double()
    set_weights(cell.k, m.W_K)
    set_weights(cell.v, m.W_V)
    set_weights(cell.beta, m.w_b)
    model = rc.from_torch(cell, state=(m.DV, m.DK), inputs=m.K, name="deltanet")
    return cell, model, twin("deltanet")


def torch_scan(cell, xs: np.ndarray, h0) -> np.ndarray:
    """The cell's forward, step by step, on one sequence; the first part of a tuple state."""
    out, h = [], h0
    with torch.no_grad():
        for x in torch.tensor(xs):
            h = cell(x, h)
            out.append((h[0] if isinstance(h, tuple) else h).numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("pair", [mamba_pair, deltanet_pair], ids=["mamba", "deltanet"])
def test_linear_cell_lowers_as_its_twin(pair):
    cell, model, hand = pair()
    ours, theirs = rc.classify(model), rc.classify(hand)
    assert (ours.kind, ours.rank, ours.complexity) == (theirs.kind, theirs.rank,
                                                       theirs.complexity)
    rng = np.random.default_rng(0)
    for n in (1, 5, 64):
        a, b = rc.compile(model, n), rc.compile(hand, n)
        assert (a.kind, a.topology, a.depth, a.size) == (b.kind, b.topology, b.depth, b.size)
        assert a.op_counts == b.op_counts
        xs = rng.normal(size=(2, n, model.input_size))
        got = a.evaluate(xs)
        np.testing.assert_allclose(got, b.evaluate(xs), rtol=1e-12, atol=1e-12)
        expected = torch_scan(cell, xs[0], torch.zeros(model.state_shape, dtype=torch.float64))
        np.testing.assert_allclose(got[0], expected, rtol=1e-9, atol=1e-9)


def test_einsum_deltanet_classifies_as_its_twin():
    """Written differently (S + beta (v - S k) k^T, einsums, rsqrt): the same kind and rank,
    the same values; the gate count may differ with the formula."""
    cell, model, hand = deltanet_pair(DeltaRuleEinsum)
    ours, theirs = rc.classify(model), rc.classify(hand)
    assert (ours.kind, ours.rank) == (theirs.kind, theirs.rank) == ("dplr", 1)
    xs = np.random.default_rng(3).normal(size=(2, 16, model.input_size))
    np.testing.assert_allclose(rc.compile(model, 16).evaluate(xs),
                               rc.compile(hand, 16).evaluate(xs), rtol=1e-9, atol=1e-9)


class LinearAttention(nn.Module):
    """S' = S + phi(k) v^T with phi = elu + 1 (Katharopoulos et al. 2020), via einsum."""

    def __init__(self, K: int, DK: int, DV: int):
        super().__init__()
        self.qk = nn.Linear(K, 2 * DK, bias=False)
        self.v = nn.Linear(K, DV, bias=False)

    def forward(self, x, S):
        _, k = self.qk(x).chunk(2, dim=-1)
        phi = F.elu(k) + 1
        return S + torch.einsum("i,j->ij", phi, self.v(x))


class TupleLSTM(nn.Module):
    """An LSTM cell written out, with a tuple state: forward(x, (h, c)) -> (h, c)."""

    def __init__(self, K: int, H: int):
        super().__init__()
        self.gates = nn.Linear(K + H, 4 * H)

    def forward(self, x, state):
        h, c = state
        i, f, g, o = torch.split(self.gates(torch.cat([x, h])), h.shape[0])
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class Normed(nn.Module):
    """Methods, transposes, reductions, a LayerNorm and a matrix state."""

    def __init__(self, K: int, D: int):
        super().__init__()
        self.norm = nn.LayerNorm(D)
        self.mix = nn.Linear(K, D)
        self.W = nn.Parameter(torch.randn(D, D) / D)

    def forward(self, x, h):
        u = self.norm(self.mix(x)).unsqueeze(0)  # (1, D)
        g = torch.sigmoid(u.transpose(0, 1)).squeeze(-1)  # (D,)
        mixed = torch.tanh(h @ self.W.t() + F.silu(u).mean(dim=0))
        return g * mixed + (1 - g) * h.clamp(-1.0, 1.0) + F.normalize(u, dim=-1).sum()


class Residual(nn.Module):
    """torch's own cells inside a custom one, and math on a traced size."""

    def __init__(self, K: int, H: int):
        super().__init__()
        self.gru = nn.GRUCell(K, H)
        self.lstm = nn.LSTMCell(K, H, bias=False)

    def forward(self, x, h):
        a, _ = self.lstm(x)
        return self.gru(x, h) + a / math.sqrt(h.shape[-1])


class WrappedLSTM(nn.Module):
    def __init__(self, K: int, H: int):
        super().__init__()
        self.cell = nn.LSTMCell(K, H)
        self.drop = nn.Dropout(0.0)

    def forward(self, x, state):
        h, c = self.cell(self.drop(x), state)
        return h, c


@pytest.mark.parametrize("make, options, kind", [
    (lambda: LinearAttention(3, 2, 4), dict(state=(2, 4), inputs=3), "scalar"),
    (lambda: TupleLSTM(3, 4), dict(state=[4, 4], inputs=3), "nonlinear"),
    (lambda: Normed(3, 4), dict(state=4, inputs=3), "nonlinear"),
    (lambda: Residual(3, 4), dict(state=4, inputs=3), "nonlinear"),
    (lambda: WrappedLSTM(3, 4), dict(state=[4, 4], inputs=3), "nonlinear"),
])
def test_custom_cell_equals_forward(make, options, kind):
    torch.manual_seed(1)
    cell = make().double()
    model = rc.from_torch(cell, **options)
    assert rc.classify(model).kind == kind
    shapes = options["state"] if isinstance(options["state"], list) else [options["state"]]
    zeros = [torch.zeros(s, dtype=torch.float64) for s in shapes]
    h0 = tuple(zeros) if isinstance(options["state"], list) else zeros[0]
    rng = np.random.default_rng(2)
    for n in (1, 5, 64):
        xs = rng.normal(size=(2, n, options["inputs"]))
        got = rc.compile(model, n).evaluate(xs)
        for b in range(2):
            np.testing.assert_allclose(got[b], torch_scan(cell, xs[b], h0), rtol=1e-9,
                                       atol=1e-9)


def test_dropout_in_a_custom_cell_is_ignored_with_a_warning():
    class Dropped(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.25)

        def forward(self, x, h):
            if self.training:  # traced in eval mode: this branch is not compiled
                x = 2 * x
            return 0.5 * h + F.dropout(F.dropout(self.drop(x), 0.5), 0.5, self.training)

    module = Dropped()
    with pytest.warns(rc.errors.RnncircWarning) as caught:
        model = rc.from_torch(module, state=2, inputs=2)
    said = sorted(str(w.message).split(" is ignored")[0] for w in caught)
    assert said == ["dropped: F.dropout in dropped (Dropped.forward)",
                    "dropped: nn.Dropout in dropped.drop (Dropout)"]
    assert module.training  # as it was
    assert rc.classify(model).kind == "scalar"
    xs = np.ones((1, 2))
    np.testing.assert_array_equal(model.run(xs), [[1.0, 1.0]])


def test_custom_cell_shapes_from_attributes():
    model = rc.from_torch(Selective(5, 2))
    assert (model.state_shape, model.input_size, model.name) == ((5,), 2, "selective")


class Cumulative(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 3)

    def forward(self, x, h):
        return torch.cumsum(self.proj(x), 0) * h


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Cumulative()

    def forward(self, x, h):
        return self.inner(x, h) + h


class Branchy(nn.Module):
    def forward(self, x, h):
        if h.sum() > 0:
            return h
        return x


class Convolved(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 1)

    def forward(self, x, h):
        return self.conv(x) + h


class Pair(nn.Module):
    def forward(self, x, h):
        return h, x


class First(nn.Module):
    def forward(self, x, state):
        return state[0] + x


def test_unsupported_function_names_op_path_and_line():
    with pytest.raises(UnsupportedOperationError) as info:
        rc.from_torch(Outer(), state=3, inputs=3)
    message = str(info.value)
    assert "\n" not in message
    line = next(i for i, text in enumerate(open(__file__), 1) if "torch.cumsum(" in text)
    assert message.startswith(f"test_custom.py:{line}: rc.from_torch: torch.cumsum in "
                              "outer.inner (Cumulative.forward) is not supported; supported:")
    for known in ("nn.{Linear", "torch.{cat", "einsum", "F.{", "softplus", "transpose", "@"):
        assert known in message


def test_unsupported_module_is_named():
    with pytest.raises(UnsupportedOperationError, match=r"nn\.Conv1d in convolved\.conv "
                                                        r"\(Conv1d\) is not supported"):
        rc.from_torch(Convolved(), state=1, inputs=1)


def test_control_flow_is_one_line():
    with pytest.raises(TracingError, match=r"test_custom\.py:\d+: rc\.from_torch: branchy: "
                                           r"torch\.fx cannot trace Branchy\.forward .*torch\."
                                           r"where") as info:
        rc.from_torch(Branchy(), state=3, inputs=3)
    assert "\n" not in str(info.value)


def test_missing_shapes_and_wrong_returns():
    with pytest.raises(OptionError, match="state=D, inputs=K"):
        rc.from_torch(Branchy())
    with pytest.raises(StepOutputError, match="returns 2 values, but the state was declared "
                                              "as one tensor"):
        rc.from_torch(Pair(), state=3, inputs=3)
    with pytest.raises(StepOutputError, match="returns one tensor, but the state was declared "
                                              "with 2 parts"):
        rc.from_torch(First(), state=[3, 3], inputs=3)


def test_shape_errors_point_at_forward():
    class Reshaped(nn.Module):
        def forward(self, x, h):
            return x.reshape(2, 2) @ h

    with pytest.raises(rc.RnncircError, match=r"test_custom\.py:\d+: reshaped: Tensor\.reshape "
                                              r"in reshaped .*cannot reshape"):
        rc.from_torch(Reshaped(), state=3, inputs=3)

    class Batched(nn.Module):
        def forward(self, x, h):
            return torch.cat([x, h], dim=1)[:, :3]

    with pytest.raises(rc.RnncircError) as info:
        rc.from_torch(Batched(), state=3, inputs=2)
    assert str(info.value).startswith("test_custom.py:")
    assert str(info.value).count("test_custom.py") == 1
    assert str(info.value).endswith("(forward runs on one step without a batch axis: x has "
                                    "shape (2,), the state (3,))")


def test_nonlinear_cell_names_the_forward_line():
    class Elman(nn.Module):
        def __init__(self):
            super().__init__()
            self.W = nn.Linear(3, 3)

        def forward(self, x, h):
            return torch.tanh(self.W(h)) + x

    reason = rc.classify(rc.from_torch(Elman(), state=3, inputs=3)).reason
    line = next(i for i, text in enumerate(open(__file__), 1)
                if "torch.tanh(self.W(h)) + x" in text)
    assert f"the tanh applied to a value that depends on the state at test_custom.py:{line}" \
        in reason


def test_docstring_example():
    from rnncirc.frontend import torch_import

    failures, tried = doctest.testmod(torch_import, optionflags=doctest.ELLIPSIS)
    assert tried and not failures


def test_import_rnncirc_does_not_import_torch():
    code = "import sys, rnncirc; assert 'torch' not in sys.modules, 'torch was imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_without_torch_one_line_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(OptionError) as info:
        rc.from_torch(object())
    assert 'pip install "rnncirc[torch]"' in str(info.value)
    assert "\n" not in str(info.value)
