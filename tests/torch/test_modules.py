"""rc.from_torch on torch's recurrent modules: the circuit equals the module's forward.

Each module is built in float64 with small random weights; `rc.compile(rc.from_torch(m), n)`
is evaluated on two sequences and compared with ``m(xs)`` (the output sequence; for cells,
the hidden state of every step) for n = 1, 5 and 64.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.errors import OptionError, RnncircWarning

torch = pytest.importorskip("torch")
nn = torch.nn

K, H = 2, 3
LENGTHS = (1, 5, 64)

#: id -> (class, keyword arguments): every option, and the combinations that interact
MODULES = {
    "rnn-tanh": (nn.RNN, {}),
    "rnn-relu-2-bidirectional": (nn.RNN, dict(nonlinearity="relu", num_layers=2,
                                              bidirectional=True)),
    "rnn-no-bias-batch-first": (nn.RNN, dict(bias=False, batch_first=True)),
    "gru": (nn.GRU, {}),
    "gru-3-layers": (nn.GRU, dict(num_layers=3)),
    "gru-bidirectional-no-bias": (nn.GRU, dict(bidirectional=True, bias=False)),
    "gru-2-batch-first": (nn.GRU, dict(num_layers=2, batch_first=True)),
    "lstm": (nn.LSTM, {}),
    "lstm-2-bidirectional": (nn.LSTM, dict(num_layers=2, bidirectional=True)),
    "lstm-3-projection": (nn.LSTM, dict(num_layers=3, proj_size=2)),
    "lstm-projection-bidirectional-batch-first": (nn.LSTM, dict(proj_size=2,
                                                                bidirectional=True,
                                                                batch_first=True)),
    "lstm-no-bias": (nn.LSTM, dict(bias=False)),
    "rnncell": (nn.RNNCell, {}),
    "rnncell-relu-no-bias": (nn.RNNCell, dict(nonlinearity="relu", bias=False)),
    "grucell": (nn.GRUCell, {}),
    "lstmcell": (nn.LSTMCell, {}),
    "lstmcell-no-bias": (nn.LSTMCell, dict(bias=False)),
}


def build(key: str, seed: int = 0):
    cls, options = MODULES[key]
    torch.manual_seed(seed)
    return cls(K, H, **options).double().eval()


def torch_outputs(module, xs: np.ndarray) -> np.ndarray:
    """What the module computes on `xs` (batch, n, K): (batch, n, output)."""
    batch = torch.tensor(xs)
    with torch.no_grad():
        if isinstance(module, nn.RNNCellBase):
            state, outs = None, []
            for t in range(batch.shape[1]):
                state = module(batch[:, t], state)
                outs.append(state[0] if isinstance(state, tuple) else state)
            return torch.stack(outs, dim=1).numpy()
        if module.batch_first:
            return module(batch)[0].numpy()
        return module(batch.transpose(0, 1))[0].transpose(0, 1).numpy()


@pytest.mark.parametrize("key", sorted(MODULES))
def test_circuit_equals_forward(key):
    module = build(key)
    model = rc.from_torch(module)
    rng = np.random.default_rng(len(key))
    for n in LENGTHS:
        xs = rng.normal(size=(2, n, K))
        expected = torch_outputs(module, xs)
        got = rc.compile(model, n).evaluate(xs)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9, err_msg=f"n={n}")
    np.testing.assert_allclose(model.run(xs), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("key, kind", [
    ("gru", rc.RNN), ("rnn-tanh", rc.RNN), ("grucell", rc.RNN), ("rnncell", rc.RNN),
    ("lstm", rc.Program), ("lstmcell", rc.Program), ("gru-3-layers", rc.Program),
    ("gru-bidirectional-no-bias", rc.Program),
])
def test_one_recurrence_is_an_rnn(key, kind):
    assert isinstance(rc.from_torch(build(key)), kind)


def test_layers_are_named_as_torch_names_the_weights():
    model = rc.from_torch(build("lstm-2-bidirectional"), name="enc")
    assert [layer.name for layer in model.layers] == [
        "enc_l0", "enc_l0 (reverse)", "enc_l1", "enc_l1 (reverse)"]
    assert model.name == "enc" and model.state_shape == (2 * H,)


def test_float32_weights_are_copied_exactly():
    """A float32 module converts to the same model as its float64 copy (no rounding)."""
    module = build("gru-2-batch-first").float()
    xs = np.random.default_rng(1).normal(size=(2, 6, K))
    got = rc.from_torch(module).run(xs)
    expected = torch_outputs(module.double(), xs)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_weights_are_copied_when_converting():
    module = build("gru")
    model = rc.from_torch(module)
    xs = np.random.default_rng(2).normal(size=(4, K))
    before = model.run(xs)
    with torch.no_grad():
        module.weight_hh_l0.mul_(2.0)
    np.testing.assert_array_equal(model.run(xs), before)


def test_dropout_is_ignored_with_a_warning():
    torch.manual_seed(0)
    module = nn.LSTM(K, H, num_layers=2, dropout=0.5).double()
    with pytest.warns(RnncircWarning, match=r"dropout=0\.5 .* ignored: .*inference"):
        model = rc.from_torch(module)
    xs = np.random.default_rng(3).normal(size=(1, 5, K))
    np.testing.assert_allclose(model.run(xs), torch_outputs(module.eval(), xs), atol=1e-12)


def test_classification_of_torch_modules():
    assert rc.classify(rc.from_torch(build("gru"))).kind == "nonlinear"
    result = rc.classify(rc.from_torch(build("lstm-2-bidirectional")))
    assert result.kind == "nonlinear" and len(result.layers) == 4


def test_not_a_module_is_one_line():
    with pytest.raises(OptionError, match="takes a torch.nn.Module, got ndarray"):
        rc.from_torch(np.zeros(3))


def test_shapes_are_not_given_for_builtin_modules():
    with pytest.raises(OptionError, match="state= and inputs= are for custom cells; GRU knows"):
        rc.from_torch(build("gru"), state=3)
