"""Fused trees (`rnncirc.eval.schedule.fusion`, `.grouping`): dot products and scaled sums
evaluated as one op must give the circuit's own numbers, bit for bit, in every mode."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.eval import isa
from rnncirc.eval import schedule as sched
from rnncirc.eval.fast import Evaluator, evaluate_fast, get_schedule
from rnncirc.ir.ops import Op
from rnncirc.ir.reference import evaluate_reference

from ..conftest import example
from ..models import LINEAR
from .circuits import circuits, make_circuit
from .test_fast import SPECIAL, assert_close, random_inputs
from .test_modp import poly_dense, poly_dplr

MODELS = {"dense": LINEAR["dense"][0], "dplr": LINEAR["dplr"][0],
          "deltanet": LINEAR["deltanet"][0], "diagonal": LINEAR["diagonal"][0]}


def gate_by_gate(circuit, values, dtype="float64", modulus=None):
    """Outputs (batch, slots) of the same circuit with nothing fused."""
    evaluator = Evaluator(circuit, dtype=dtype, modulus=modulus,
                          schedule=sched.build_schedule(circuit, fuse=False))
    if evaluator.modulus:
        from rnncirc.eval.modular import residues

        values = residues(values, evaluator.modulus, "an input")
    X = np.ascontiguousarray(np.asarray(values).T.astype(evaluator.dtype))
    return evaluator.run(X).T.reshape((len(values),) + circuit.outputs.shape)


def fused_ops(circuit) -> set:
    s = get_schedule(circuit)
    return set(s.gi[:, isa.GI_OP].tolist()) | ({isa.MULADD} & set(s.run_op.tolist()))


@pytest.mark.parametrize("name", sorted(MODELS) + ["gru"])
@pytest.mark.parametrize("topology", ["auto", "sequential"])
def test_fused_equals_gate_by_gate_and_run(name, topology):
    model = example("gru") if name == "gru" else MODELS[name]
    n = 12
    circuit = rc.compile(model, n, topology=topology)
    assert fused_ops(circuit)  # every one of these circuits has trees to fuse
    for batch in (1, 3, 8, 17):
        xs = random_inputs(model, n, batch, seed=batch)
        values, _ = circuit.check_inputs(xs)
        got = evaluate_fast(circuit, values)
        np.testing.assert_array_equal(got, gate_by_gate(circuit, values))
        assert_close(got, evaluate_reference(circuit, values))
        assert_close(circuit.evaluate(xs), model.run(xs))


def test_dense_prefix_circuit_is_dot_products():
    """The products of a dense combine sum into DOT4/DOT2 instructions, grouped with and
    without indices; registers and register traffic drop against gate by gate."""
    circuit = rc.compile(MODELS["dense"], 32, topology="ladner-fischer")
    fused, plain = get_schedule(circuit), sched.build_schedule(circuit, fuse=False)
    assert {isa.DOT4, isa.DOT2} <= fused_ops(circuit)
    # strided and indexed group instructions
    assert {0, 1} <= set(fused.gi[:, isa.GI_INDEXED].tolist())
    assert fused.n_gates == plain.n_gates == circuit.size
    assert fused.n_regs < plain.n_regs
    assert fused.register_traffic()[0] < 0.6 * plain.register_traffic()[0]


def test_dot_products_sharing_an_operand_side_load_it_once():
    """A matmul's programs C[i, 0], C[i, 1], ... share row i of A (their first factors do
    not move from program to program) and a matrix-vector product's share the vector (the
    second factors): `tree_kernels._strided_instr` then loads the fixed rows once per group.
    The dense prefix circuit has both kinds; they must give the gates' own numbers, bit for
    bit, in float64 and float32, on one lane and on vectors of 8."""
    model = MODELS["dense"]
    circuit = rc.compile(model, 16, topology="brent-kung")
    s = get_schedule(circuit)
    strides = s.gi[:, isa.GI_STRIDE:isa.GI_STRIDE + isa.N_FIELDS]
    dot4 = (s.gi[:, isa.GI_OP] == isa.DOT4) & (s.gi[:, isa.GI_INDEXED] == 0)
    for side in ([0, 2, 4, 6], [1, 3, 5, 7]):
        fixed = np.all(strides[:, side] == 0, axis=1)
        assert np.any(dot4 & fixed & np.any(strides[:, :8] != 0, axis=1)), side
    for dtype in ("float64", "float32"):
        for batch in (1, 8, 11):
            values, _ = circuit.check_inputs(random_inputs(model, 16, batch, seed=batch))
            np.testing.assert_array_equal(evaluate_fast(circuit, values, dtype=dtype),
                                          gate_by_gate(circuit, values, dtype=dtype))


@pytest.mark.parametrize("model", [poly_dense, poly_dplr])
def test_fused_mod_p_and_float32(model):
    circuit = rc.compile(model, 10, topology="sklansky")
    assert fused_ops(circuit)
    xs = np.round(random_inputs(model, 10, 5, seed=1) * 8) / 8
    values, _ = circuit.check_inputs(xs)
    for p in (7, 2**31 - 1):
        np.testing.assert_array_equal(evaluate_fast(circuit, values, modulus=p),
                                      gate_by_gate(circuit, values, "int64", p))
    got = evaluate_fast(circuit, values, dtype="float32")
    np.testing.assert_array_equal(got, gate_by_gate(circuit, values, "float32"))
    np.testing.assert_allclose(got, evaluate_fast(circuit, values), rtol=1e-3, atol=1e-4)


def test_fused_every_thread_mode():
    """Wide steps give each task its own scratch rows; lane splits their own register files."""
    circuit = rc.compile(MODELS["dense"], 16, topology="kogge-stone")
    xs = random_inputs(MODELS["dense"], 16, 40, seed=4)
    values, _ = circuit.check_inputs(xs)
    expected = gate_by_gate(circuit, values)
    modes = set()
    for threshold in (1 << 40, 1):
        evaluator = Evaluator(circuit, wide_threshold=threshold)
        for batch in (3, 9, 40):
            modes.add(evaluator.plan(batch)[0])
            out = evaluator.run(np.ascontiguousarray(values[:batch].T))
            np.testing.assert_array_equal(out.T.reshape(expected[:batch].shape),
                                          expected[:batch])
    if numba.get_num_threads() > 1:
        assert modes == {"serial", "levels", "lanes"}


def test_long_and_deep_sums_are_cut():
    """A chain of 600 adds and a balanced tree of 1024 products exceed the size and scratch
    limits of one fused tree: cut into several, same numbers."""
    k = 1024
    gates = [(Op.MUL, i, i + 1, 0) for i in range(0, k, 2)]  # 512 products
    level = list(range(k, k + len(gates)))
    while len(level) > 1:
        start = k + len(gates)
        gates += [(Op.ADD, level[i], level[i + 1], 0) for i in range(0, len(level), 2)]
        level = list(range(start, k + len(gates)))
    chain = level[0]
    for i in range(600):
        gates.append((Op.ADD, chain, i, 0))
        chain = k + len(gates) - 1
    circuit = make_circuit([], 1, k, gates, [level[0] + 1, chain])
    s = get_schedule(circuit)
    options = sched.ScheduleOptions()
    assert s.n_scratch <= (options.max_need - 1) * options.group
    assert len(s.grp) - 1 > 2  # more than one tree per sum
    values = np.random.default_rng(0).normal(size=(3, k))
    np.testing.assert_array_equal(evaluate_fast(circuit, values), gate_by_gate(circuit, values))


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(circuit=circuits(ops=(Op.ADD, Op.SUB, Op.MUL), max_gates=40),
       batch=st.sampled_from([1, 3, 8, 9]), seed=st.integers(0, 99))
def test_random_trees_bit_for_bit_with_special_values(circuit, batch, seed):
    rng = np.random.default_rng(seed)
    values = rng.choice(SPECIAL, size=(batch, circuit.inputs.size))
    with np.errstate(all="ignore"):
        ref = evaluate_reference(circuit, values)
        got = evaluate_fast(circuit, values)
    same = (got.view(np.int64) == ref.view(np.int64)) | (np.isnan(got) & np.isnan(ref))
    assert same.all()


def test_leaf_kernels_do_no_reference_counting():
    """The kernels called once per segment, group or group instruction take arrays but
    allocate nothing: compiled without NRT they do no atomic incref/decref per call, which
    would cost more than the instructions of a dense prefix circuit."""
    from rnncirc.eval import segment_kernels as seg
    from rnncirc.eval import tree_kernels as tree

    for kernel in (tree.group_kernel, tree._strided_instr, tree._indexed_instr,
                   seg.gates_kernel, seg._gates_float, seg._gates_modp,
                   seg.block_kernel, seg._block_float, seg._block_modp):
        assert kernel.targetoptions.get("_nrt") is False, kernel.py_func.__name__
