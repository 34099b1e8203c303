"""Writing programs: what a program function may do, and one clear error for what it may not.

Every mistake here is an `RnncircError` with one line that names the construct (and the
layer, where there is one) and says what to write instead; from the command line it is one
line and exit status 2.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.cli import main
from rnncirc.errors import RnncircError

rng = np.random.default_rng(0)
W = rng.normal(size=(3, 2))


@rc.rnn(state=3, inputs=2)
def decay(h, x):
    return 0.5 * h + W @ x


@rc.rnn(state=2, alphabet=3)
def counter(h, s):
    return h + rc.lookup(np.eye(3)[:, :2], s)


def error_of(build) -> str:
    with pytest.raises(RnncircError) as found:
        build()
    message = str(found.value)
    assert "\n" not in message
    return message


def test_values_behave_like_one_position():
    @rc.program(inputs=2)
    def block(x):
        h = rc.scan(decay, x)
        z = rc.layer_norm(h) + rc.softmax(h) * h.mean() - h.max() + np.clip(h, -1, 1).min()
        return rc.concat([z, rc.rms_norm(h)[:1], rc.rsqrt(1 + h * h)[1:2]])

    xs = rng.normal(size=(2, 6, 2))
    hs = decay.run(xs)
    mu = hs.mean(-1, keepdims=True)
    norm = (hs - mu) / np.sqrt(((hs - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
    soft = np.exp(hs - hs.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    z = norm + soft * hs * 0 + soft * hs.mean(-1, keepdims=True) - hs.max(-1, keepdims=True) \
        + np.clip(hs, -1, 1).min(-1, keepdims=True)
    rms = hs / np.sqrt((hs * hs).mean(-1, keepdims=True) + 1e-6)
    expected = np.concatenate([z, rms[..., :1], 1 / np.sqrt(1 + hs[..., 1:2] ** 2)], axis=-1)
    np.testing.assert_allclose(block.run(xs), expected, rtol=1e-12)
    circuit = rc.compile(block, 6)
    np.testing.assert_allclose(circuit.evaluate(xs), expected, rtol=1e-10)


def test_model_call_is_scan_and_shift_reads_earlier_positions():
    @rc.program(inputs=2)
    def readout(x):
        return rc.shift(decay(x), 2, fill=np.array([1.0, 2.0, 3.0]))

    xs = rng.normal(size=(5, 2))
    hs = decay.run(xs)
    expected = np.concatenate([[[1.0, 2.0, 3.0]] * 2, hs[:3]])
    np.testing.assert_allclose(readout.run(xs), expected)
    np.testing.assert_allclose(rc.compile(readout, 5).evaluate(xs), expected)


def test_reverse_scan_runs_from_the_end():
    @rc.program(inputs=2)
    def backward(x):
        return rc.scan(decay, x, reverse=True)

    xs = rng.normal(size=(6, 2))
    np.testing.assert_allclose(backward.run(xs), decay.run(xs[::-1])[::-1])
    for topology in ("sklansky", "sequential"):
        np.testing.assert_allclose(rc.compile(backward, 6, topology=topology).evaluate(xs),
                                   decay.run(xs[::-1])[::-1])


def test_alphabet_program_scans_symbols():
    @rc.program(alphabet=3)
    def count(x):
        return 2.0 * rc.scan(counter, x)

    symbols = np.array([0, 1, 2, 0, 0, 1])
    expected = 2.0 * np.cumsum(np.eye(3)[symbols][:, :2], axis=0)
    np.testing.assert_allclose(count.run(symbols), expected)
    np.testing.assert_allclose(rc.compile(count, 6).evaluate(symbols), expected)


@pytest.mark.parametrize("body, facts", [
    (lambda x: rc.scan(decay, x[:1]), ["layer decay", "(2,)", "(1,)"]),
    (lambda x: rc.scan(lambda h, u: h, x), ["rc.scan", "RNN", "function"]),
    (lambda x: [rc.scan(decay, x), x], ["returned a list of 2 values", "rc.concat"]),
    (lambda x: None, ["returned None", "return"]),
    (lambda x: np.ones(3), ["returned a ndarray", "computed from its input"]),
    (lambda x: x[:0], ["shape (0,)", "at least one value per position"]),
    (lambda x: [decay(x[None]) for _ in range(len(x))], ["loop over the positions", "rc.scan"]),
    (lambda x: sum(xt for xt in x), ["loop over the positions", "rc.scan"]),
    (lambda x: rc.shift(x, -1), ["k must be an integer >= 0", "-1"]),
    (lambda x: rc.shift(x, 1, fill=np.ones(5)), ["fill of shape (5,)", "(2,)"]),
])
def test_mistakes_in_a_program_are_one_clear_line(body, facts):
    message = error_of(lambda: rc.program(inputs=2)(body))
    for fact in facts:
        assert fact in message, (fact, message)


def test_symbols_must_be_read_with_lookup():
    message = error_of(lambda: rc.program(alphabet=3)(lambda x: x + 1.0))
    assert "rc.lookup" in message
    message = error_of(lambda: rc.program(alphabet=3)(lambda x: rc.scan(decay, x)))
    assert "layer decay" in message and "(2,)" in message


def test_declared_output_shape_is_checked():
    message = error_of(lambda: rc.program(inputs=2, outputs=4)(lambda x: decay(x)))
    assert "(3,)" in message and "outputs=(4,)" in message


def test_scan_and_shift_only_inside_a_program():
    assert "@rc.program" in error_of(lambda: rc.scan(decay, np.ones((4, 2))))
    assert "@rc.program" in error_of(lambda: rc.shift(np.ones(4)))


def test_shift_as_long_as_the_sequence_is_refused():
    @rc.program(inputs=2)
    def late(x):
        return rc.shift(decay(x), 3)

    for build in (lambda: rc.compile(late, 3), lambda: late.run(np.ones((2, 2)))):
        message = error_of(build)
        assert "k=3" in message and "length is" in message


def test_bad_program_file_from_the_command_line(tmp_path, capsys):
    path = tmp_path / "bad_program.py"
    path.write_text(
        "import numpy as np\nimport rnncirc as rc\n"
        "@rc.rnn(state=3, inputs=4)\ndef cell(h, x):\n    return 0.5 * h + np.ones((3, 4)) @ x\n"
        "@rc.program(inputs=2)\ndef net(x):\n    return rc.scan(cell, x)\n")
    status = main(["compile", str(path), "-n", "4"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "layer cell" in lines[0] and "(4,)" in lines[0], err


def test_file_with_a_program_and_its_layers_means_the_program(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(
        "import numpy as np\nimport rnncirc as rc\n"
        "@rc.rnn(state=2, inputs=2)\ndef cell(h, x):\n    return 0.5 * h + x\n"
        "@rc.program(inputs=2)\ndef net(x):\n    return rc.relu(rc.scan(cell, x))\n")
    assert main(["compile", str(path), "-n", "8", "--no-formulas"]) == 0
    out = capsys.readouterr().out
    assert "net" in out and "layers" in out
    assert main(["compile", str(path), "-n", "8", "--model", "cell", "--no-formulas"]) == 0
    assert "layers" not in capsys.readouterr().out
