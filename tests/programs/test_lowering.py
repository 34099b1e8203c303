"""Program lowering: random programs against `Program.run`, exact formulas, depth growth.

Random programs mix linear (scalar, diagonal, dense) and nonlinear layers with position-wise
blocks, shifts, reverse scans and residuals; every circuit must evaluate to `Program.run`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.analyze.formula_eval import evaluate_formula
from rnncirc.analyze.report import compile_report, program_family_formulas
from rnncirc.compiler import TOPOLOGIES, compile_model
from rnncirc.lower import segment_lower

LAYER_KINDS = ("scalar", "diagonal", "dense", "tanh", "relu-gated")


def random_layer(rng, inputs: int, index: int) -> rc.RNN:
    d = int(rng.integers(1, 4))
    kind = LAYER_KINDS[int(rng.integers(len(LAYER_KINDS)))]
    W = rng.normal(size=(d, inputs)) / np.sqrt(inputs)
    U = rng.normal(size=(d, d)) * 0.4
    g = rng.normal(size=inputs)
    steps = {
        "scalar": lambda h, x: rc.sigmoid(g @ x) * h + W @ x,
        "diagonal": lambda h, x: rc.sigmoid(W @ x) * h + rc.tanh(W @ x),
        "dense": lambda h, x: U @ h + W @ x,
        "tanh": lambda h, x: rc.tanh(U @ h + W @ x),
        "relu-gated": lambda h, x: rc.relu(h) * rc.sigmoid(W @ x) + 0.1 * h,
    }
    init = rng.normal(size=d) if rng.random() < 0.3 else None
    return rc.rnn(state=d, inputs=inputs, init=init, name=f"{kind}{index}")(steps[kind])


def random_program(seed: int, n: int) -> rc.Program:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    layers = []
    size = k
    for index in range(int(rng.integers(1, 4))):
        layers.append(random_layer(rng, size, index))
        size = layers[-1].state_shape[0]
    blocks = [int(rng.integers(5)) for _ in layers]
    reverse = [bool(rng.random() < 0.25) for _ in layers]
    readout = rng.normal(size=(2, size))

    def body(x):
        u = x
        for layer, block, back in zip(layers, blocks, reverse, strict=True):
            h = rc.scan(layer, u, reverse=back)
            if block == 1:
                h = rc.silu(h) + h
            elif block == 2 and n > 1:
                h = rc.shift(h, 1)
            elif block == 3:
                h = rc.rms_norm(h) * rc.softmax(h)
            elif block == 4:
                h = rc.concat([h[1:], h[:1]]) * rc.clip(h, -1.0, 1.0)
            u = h
        return readout @ u

    return rc.program(inputs=k, name=f"random{seed}")(body)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 9),
       topology=st.sampled_from(TOPOLOGIES), outputs=st.sampled_from(("all", "last")))
def test_random_programs_evaluate_as_program_run(seed, n, topology, outputs):
    program = random_program(seed, n)
    xs = np.random.default_rng(seed + 1).normal(size=(2, n, program.input_size))
    expected = program.run(xs)
    kinds = {cls.kind for _, cls in rc.classify(program).layers if cls.is_linear}
    if topology.startswith("segment-sum") and not kinds <= set(segment_lower.KINDS):
        with pytest.raises(rc.RnncircError, match="is built for scalar, diagonal, dense"):
            compile_model(program, n, topology=topology, outputs=outputs)
        return
    circuit = compile_model(program, n, topology=topology, outputs=outputs).circuit
    circuit.verify()
    want = expected if outputs == "all" else expected[:, -1]
    np.testing.assert_allclose(circuit.evaluate(xs), want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(circuit.evaluate(xs, method="reference"), want, rtol=1e-9,
                               atol=1e-9)


rng = np.random.default_rng(5)
W2 = rng.normal(size=(2, 2)) * 0.5


@rc.rnn(state=2, inputs=2)
def gated(h, x):
    return rc.sigmoid(x) * h + x


@rc.rnn(state=2, inputs=2)
def elman(h, x):
    return rc.tanh(W2 @ h + x)


@rc.program(inputs=2)
def linear_pair(x):
    return rc.scan(gated, rc.silu(rc.scan(gated, x)) + x)


@rc.program(inputs=2)
def with_elman(x):
    return W2 @ rc.shift(rc.scan(elman, rc.scan(gated, x)))


@pytest.mark.parametrize("program, topology", [(linear_pair, "sklansky"),
                                                (with_elman, "sklansky"),
                                                (with_elman, "kogge-stone")])
def test_program_formulas_are_exact_within_and_past_the_fit(program, topology):
    done = compile_model(program, 70, topology=topology)
    depth, size = program_family_formulas(done)
    assert depth is not None and size is not None, (depth, size)
    first = 2 if program is with_elman else 1
    for n in list(range(first, 71)) + [97, 300, 700]:
        circuit = compile_model(program, n, topology=topology).circuit
        assert (evaluate_formula(depth, n), evaluate_formula(size, n)) == \
            (circuit.depth, circuit.size), n


def test_no_formula_rather_than_a_wrong_one():
    """Two Brent-Kung layers in a chain: the path through both switches irregularly with n,
    and no basis combination holds at the lengths past the fit, so no depth formula is given
    (the fitted candidate that matched n <= 260 is rejected)."""
    depth, size = program_family_formulas(compile_model(linear_pair, 64, topology="brent-kung"))
    assert depth is None
    if size is not None:
        for n in (1, 5, 64, 300, 1000):
            assert evaluate_formula(size, n) == \
                compile_model(linear_pair, n, topology="brent-kung").circuit.size


def test_linear_layers_give_log_depth_and_a_nonlinear_layer_linear_depth():
    lengths = (64, 128, 256, 512, 1024)
    linear = [compile_model(linear_pair, n, topology="sklansky").circuit.depth
              for n in lengths]
    steps = np.diff(linear)
    assert np.all(steps == steps[0]) and 0 < steps[0] <= 8, linear  # a constant per doubling
    nonlinear = [compile_model(with_elman, n).circuit.depth for n in lengths]
    ratios = np.array(nonlinear[1:]) / np.array(nonlinear[:-1])
    assert np.all(np.abs(ratios - 2) < 0.05), nonlinear  # doubles with n
    report = compile_report(compile_model(with_elman, 256), formulas=False)
    crossed = report["critical_path"]["layers"]
    assert max(crossed, key=lambda c: c["gates"])["layer"] == "elman"
    assert {row["name"]: row["kind"] for row in report["layers"]}["elman"] == "nonlinear"


def test_classify_program_per_layer_and_overall():
    found = rc.classify(with_elman)
    assert found.kind == "nonlinear" and "elman" in found.reason
    assert [(name, cls.kind) for name, cls in found.layers] == [("gated", "diagonal"),
                                                                 ("elman", "nonlinear")]
    assert rc.classify(linear_pair).complexity == "TC0"


def test_outputs_last_keeps_only_what_the_last_output_needs():
    full = compile_model(linear_pair, 64, topology="sklansky", outputs="all").circuit
    last = compile_model(linear_pair, 64, topology="sklansky", outputs="last").circuit
    assert last.size < full.size
    layers = {row["name"]: row for row in last.info.extra["layers"]}
    assert layers["gated #2"]["positions"] == "last"  # read at position n only: a tree
    # the second layer alone, over the same inputs, with outputs="last"
    alone = compile_model(gated, 64, topology="sklansky", outputs="last").circuit
    assert layers["gated #2"]["gates"] == alone.size


def test_profile_rows_have_layers():
    profile = rc.depth_profile(with_elman, [1, 2, 4, 8, 16])
    assert [row["length"] for row in profile.rows] == [2, 4, 8, 16]
    assert "lengths below 2 skipped" in profile.formula_note
    assert {layer["name"] for layer in profile.rows[-1]["layers"]} >= {"gated", "elman"}
    for row in profile.rows:
        assert evaluate_formula(profile.depth_formula, row["length"]) == row["depth"]


def test_saved_program_circuit_keeps_its_layers(tmp_path):
    circuit = compile_model(with_elman, 8).circuit
    circuit.save(tmp_path / "c.npz")
    loaded = rc.Circuit.load(tmp_path / "c.npz")
    xs = np.random.default_rng(0).normal(size=(8, 2))
    np.testing.assert_array_equal(loaded.evaluate(xs), circuit.evaluate(xs))
    assert [g.get("layer") for g in loaded.critical_path()] == \
        [g.get("layer") for g in circuit.critical_path()]


def test_segment_sum_layers_in_a_program():
    xs = np.random.default_rng(4).normal(size=(2, 300, 2))
    done = compile_model(linear_pair, 300, topology="segment-sum")
    layers = [row for row in done.circuit.info.extra["layers"] if row["kind"] != "position-wise"]
    assert {row["topology"] for row in layers} == {"segment-sum"}
    np.testing.assert_allclose(done.circuit.evaluate(xs), linear_pair.run(xs), rtol=1e-9,
                               atol=1e-9)
    sklansky = compile_model(linear_pair, 300, topology="sklansky").circuit
    assert done.circuit.depth < sklansky.depth


def test_segment_sum_names_a_layer_it_cannot_build():
    @rc.rnn(state=2, inputs=2, name="running_max0")
    def running_max(h, x):  # max-plus: over a semiring, which no segment-sum lowering builds
        return rc.maximum(h + x, x)

    program = rc.program(inputs=2)(lambda x: rc.scan(running_max, rc.scan(gated, x)))
    with pytest.raises(rc.RnncircError, match="layer running_max0 is max-plus.*segment-sum"):
        compile_model(program, 8, topology="segment-sum")


def test_segment_sum_builds_a_complex_diagonal_layer_by_its_blocks():
    program = program_with_a_rotation()
    xs = np.random.default_rng(4).normal(size=(2, 40, 2))
    done = compile_model(program, 40, topology="segment-sum")
    np.testing.assert_allclose(done.circuit.evaluate(xs), program.run(xs), rtol=1e-10,
                               atol=1e-12)


def test_segment_sum_builds_a_dense_layer_with_matrices():
    program = program_with_a_rotation(np.array([[0.5, 0.1], [0.2, 0.3]]))
    xs = np.random.default_rng(5).normal(size=(2, 40, 2))
    done = compile_model(program, 40, topology="segment-sum")
    np.testing.assert_allclose(done.circuit.evaluate(xs), program.run(xs), rtol=1e-10,
                               atol=1e-12)
    assert done.circuit.depth < compile_model(program, 40, topology="sklansky").circuit.depth


#: a rotation-scaling: complex-diagonal, built by segment-sum as its 2 x 2 block
ROTATION = np.array([[0.5, -0.2], [0.2, 0.5]])


def program_with_a_rotation(matrix: np.ndarray = ROTATION) -> rc.Program:
    """A gated layer, then h' = matrix h + x: complex-diagonal by default; dense for another
    matrix."""
    name = "rotation0" if matrix is ROTATION else "dense0"

    @rc.rnn(state=2, inputs=2, name=name)
    def layer(h, x):
        return matrix @ h + x

    return rc.program(inputs=2)(lambda x: rc.scan(layer, rc.scan(gated, x)))
