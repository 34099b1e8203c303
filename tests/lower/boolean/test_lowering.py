"""Boolean lowering == the integer (mod 2^w) evaluation of the arithmetic circuit.

Exhaustively for every op at tiny widths and for tiny models at tiny lengths; on random inputs
for every gallery model that lowers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.compiler import compile_boolean
from rnncirc.lower.boolean import (
    BooleanLoweringError,
    IntSemantics,
    WidthError,
    evaluate_int,
    to_boolean,
)
from rnncirc.lower.boolean.words import ADDERS

from ...conftest import example, rnn_examples
from ...models import LINEAR, nonlinear

OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "square": lambda a, b: a * a + a * b * a, "div": lambda a, b: a / b,
    "max": rc.maximum, "min": rc.minimum, "neg": lambda a, b: -a,
    "relu": lambda a, b: rc.relu(a), "abs": lambda a, b: rc.abs(a),
    "where": lambda a, b: rc.where(a, b, a - b),
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "constants": lambda a, b: a * 3.0 + b * -5.0 + a * 0.75 - 2.5,
    "tanh": lambda a, b: rc.tanh(a), "sigmoid": lambda a, b: rc.sigmoid(a),
    "exp": lambda a, b: rc.exp(b), "log": lambda a, b: rc.log(a),
    "sqrt": lambda a, b: rc.sqrt(b), "silu": lambda a, b: rc.silu(a),
    "softplus": lambda a, b: rc.softplus(b),
}

#: (width, signed, frac_bits, adder, multiplier): every adder and tree, both signednesses
CONFIGS = [(4, True, 0, "sklansky", "dadda"), (4, False, 0, "ripple", "wallace"),
           (5, True, 2, "kogge-stone", "dadda"), (5, False, 1, "brent-kung", "wallace"),
           (4, True, 1, "han-carlson", "dadda"), (5, True, 3, "ladner-fischer", "wallace")]


def op_model(name: str):
    fn = OPS[name]

    @rc.rnn(state=1, inputs=2)
    def one_op(h, x):
        return h * 0.0 + fn(x[0:1], x[1:2])

    return one_op


def every_pair(width: int, signed: bool) -> np.ndarray:
    values = np.arange(1 << width) - ((1 << (width - 1)) if signed else 0)
    return np.array(list(itertools.product(values, values)))[:, None, :]


@pytest.mark.parametrize("name", OPS)
def test_every_op_exhaustively(name):
    circuit = rc.compile(op_model(name), 1)
    for width, signed, frac, adder, multiplier in CONFIGS:
        bc = to_boolean(circuit, width, signed, frac_bits=frac, adder=adder,
                        multiplier=multiplier)
        xs = every_pair(width, signed)
        want = evaluate_int(circuit, xs, width, signed, frac)
        assert np.array_equal(bc.evaluate(xs), want), (width, signed, frac, adder)


@rc.rnn(state=2, inputs=1, init=np.array([1.0, -1.0]))
def tiny_linear(h, x):
    return np.array([[1.0, 2.0], [0.0, -1.0]]) @ h * x + np.array([1.0, 3.0]) * x


@rc.rnn(state=1, inputs=1)
def tiny_nonlinear(h, x):
    return rc.relu(h - x) + rc.maximum(h, x) * 2.0


@pytest.mark.parametrize("model", [tiny_linear, tiny_nonlinear])
@pytest.mark.parametrize("topology", ["sequential", "sklansky", "brent-kung"])
def test_tiny_models_exhaustively(model, topology):
    if topology != "sequential" and model is tiny_nonlinear:
        pytest.skip("a nonlinear model is only unrolled")
    width = 3
    for n in (1, 2, 3):
        circuit = rc.compile(model, n, topology=topology)
        values = np.arange(-4, 4)
        xs = np.array(list(itertools.product(values, repeat=n)))[:, :, None]
        want = evaluate_int(circuit, xs, width)
        assert np.array_equal(to_boolean(circuit, width).evaluate(xs), want)


def test_the_integer_semantics_itself():
    """The oracle against hand-computed values (w = 8, f = 2: a word v is v / 4)."""
    sem = IntSemantics(8, True, 2)
    assert sem.quantize([1.0, -0.25, 0.3, 100.0]).tolist() == [4, 255, 1, 144]
    assert sem.value([255, 128, 127]).tolist() == [-1, -128, 127]
    assert sem.table(rc.ir.ops.Op.EXP)[sem.quantize([0.0])].tolist() == [4]
    assert sem.table(rc.ir.ops.Op.EXP)[sem.quantize([10.0])].tolist() == [127]  # saturates
    assert sem.table(rc.ir.ops.Op.LOG)[sem.quantize([-1.0])].tolist() == [0]  # NaN -> 0

    @rc.rnn(state=1, inputs=2)
    def arith(h, x):
        return x[0:1] * x[1:2] + x[0:1] / x[1:2]

    circuit = rc.compile(arith, 1)
    # (6/4) * (-3/4) = -1.125 -> floor(-4.5) = -5; (6/4) / (-3/4) = -2 -> -8; sum -13
    assert evaluate_int(circuit, np.array([[[6, -3]]]), 8, True, 2).ravel().tolist() == [-13]
    assert evaluate_int(circuit, np.array([[[6, 0]]]), 8, True, 2).ravel().tolist() == [0]


GALLERY = rnn_examples()  # the programs' boolean lowering: tests/programs/test_everywhere.py


MODELS = [("examples", name) for name in GALLERY] + \
    [("tests", name) for name in list(LINEAR) + ["nonlinear"]]


@pytest.mark.parametrize("source, name", MODELS, ids=[f"{s}/{n}" for s, n in MODELS])
def test_gallery_models_on_random_inputs(source, name):
    """Every example model and every test model lowers, and matches the integer oracle."""
    if source == "examples":
        model = example(name)
    else:
        model = nonlinear if name == "nonlinear" else LINEAR[name][0]
    rng = np.random.default_rng(0)
    circuit = rc.compile(model, 2)
    small = circuit.size < 2000  # the wide lookup tables of w = 12 only on small circuits
    for width, frac in ((8, 3), (12, 5)) if small else ((8, 3),):
        bc = to_boolean(circuit, width, frac_bits=frac)
        bc.verify()
        if model.alphabet:
            xs = rng.integers(0, model.alphabet, size=(256, circuit.length))
        else:
            half = 1 << (width - 1)
            xs = rng.integers(-half, half, size=(256, circuit.length, model.input_size))
        assert np.array_equal(bc.evaluate(xs), evaluate_int(circuit, xs, width, True, frac))


@pytest.mark.parametrize("symbols", ["onehot", "binary"])
@pytest.mark.parametrize("outputs", ["all", "last"])
def test_alphabet_codings_and_last_output(symbols, outputs):
    model = LINEAR["symbol_permutation"][0]
    circuit = rc.compile(model, 5, outputs=outputs)
    bc = to_boolean(circuit, 6, symbols=symbols)
    assert bc.num_inputs == 5 * (3 if symbols == "onehot" else 2)
    xs = np.array(list(itertools.product(range(3), repeat=5)))
    want = evaluate_int(circuit, xs, 6)
    assert np.array_equal(bc.evaluate(xs), want)
    assert np.array_equal(bc.evaluate(xs[7]), want[7])  # unbatched
    assert bc.outputs.shape == circuit.outputs.shape + (6,)


@rc.rnn(state=1, inputs=1)
def running_sum(h, x):
    return h + x


def test_adder_choice_changes_the_circuit_not_the_function():
    circuit = rc.compile(running_sum, 2, topology="sequential")  # one 16-bit adder
    xs = np.random.default_rng(1).integers(-1 << 15, 1 << 15, size=(64, 2, 1))
    want = evaluate_int(circuit, xs, 16)
    depths = {}
    for adder in ADDERS + ("sequential",):
        bc = to_boolean(circuit, 16, adder=adder)
        assert np.array_equal(bc.evaluate(xs), want)
        depths[adder] = bc.and_depth
    assert depths["ripple"] == depths["sequential"] == 15
    assert depths["sklansky"] == depths["ladner-fischer"] == depths["brent-kung"] - 1 == 5
    assert depths["kogge-stone"] == 4


def test_linear_model_and_depth_grows_like_log_n():
    depths = [compile_boolean(tiny_linear, n, 8, topology="sklansky", frac_bits=3).and_depth
              for n in (4, 8, 16, 32)]
    steps = np.diff(depths)
    assert steps[0] > 0 and np.all(steps == steps[0])  # a constant per doubling of n
    unrolled = [compile_boolean(tiny_nonlinear, n, 8).and_depth for n in (4, 8, 16)]
    assert unrolled[2] - unrolled[1] == 2 * (unrolled[1] - unrolled[0])  # linear in n


def test_errors_are_user_errors():
    circuit = rc.compile(op_model("tanh"), 2)
    with pytest.raises(WidthError, match="tanh.*12 bits"):
        to_boolean(circuit, 16)
    to_boolean(rc.compile(op_model("relu"), 2), 32)  # exact ops work at every width
    with pytest.raises(WidthError, match="width"):
        to_boolean(circuit, 1)
    with pytest.raises(WidthError, match="frac_bits"):
        to_boolean(circuit, 8, frac_bits=7)
    with pytest.raises(BooleanLoweringError, match="unknown adder"):
        to_boolean(circuit, 8, adder="carry-skip")
    with pytest.raises(BooleanLoweringError, match="Circuit"):
        to_boolean("not a circuit", 8)
    with pytest.raises(BooleanLoweringError, match="integer inputs"):
        to_boolean(circuit, 8).evaluate(np.zeros((2, 2)))
    assert issubclass(WidthError, rc.RnncircError)


def test_auto_passes_over_networks_whose_boolean_circuit_would_not_fit(monkeypatch):
    # room for about 600k nodes: a scan's 8-bit circuit (~180k at n = 128) fits, segment-sum's
    # (~1.1 M) does not, so auto's shallowest choice gives way to one that can be built
    from rnncirc.ir import memory
    from rnncirc.ir.aig import PEAK_BYTES_PER_NODE

    assert compile_boolean(tiny_linear, 128, 8).info.topology == "segment-sum"
    monkeypatch.setattr(memory, "available_bytes",
                        lambda: 600_000 * PEAK_BYTES_PER_NODE / memory.BUDGET)
    bc = compile_boolean(tiny_linear, 128, 8)
    assert not bc.info.topology.startswith("segment-sum")
    assert bc.num_nodes < 600_000


def test_a_boolean_circuit_that_outgrows_memory_is_refused_while_it_grows(monkeypatch):
    from rnncirc.errors import CircuitTooLargeError
    from rnncirc.ir import memory
    from rnncirc.ir.aig import AigBuilder

    monkeypatch.setattr(memory, "available_bytes", lambda: 1 << 20)
    aig = AigBuilder()
    x = aig.inputs(64)
    with pytest.raises(CircuitTooLargeError, match="grown past"):
        for _ in range(20):  # new, distinct gates double the nodes until 1 MiB is too little
            x = np.concatenate([x, aig.and_(x, np.roll(x, 1) ^ 1)])
