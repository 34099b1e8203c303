"""GateBuilder: folding, sums, and no read of a row that was never built."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.ir.builder import GateBuilder
from rnncirc.ir.ops import ARITY, Op
from rnncirc.ir.reference import evaluate_reference

from ..models import CONSTANT_ENTRIES, random_inputs


def _built_rows_only(builder: GateBuilder) -> None:
    """Every gate reads rows built before it."""
    rows = builder.arrays()
    row = np.arange(builder.n)
    for name, need in (("a", 1), ("b", 2), ("c", 3)):
        used = ARITY[rows["op"]] >= need
        ids = rows[name][used]
        assert ((ids >= 0) & (ids < row[used])).all(), name


def test_rows_of_constants_only_sum_to_their_constant():
    builder = GateBuilder(capacity=4)
    c2, c3 = builder.const([2.0, 3.0])
    x0, x1 = builder.leaf(Op.INPUT, np.arange(2))
    totals = builder.sum_rows(np.array([[c2, c3], [x0, c2], [x1, x0], [c2, c2]]))
    _built_rows_only(builder)
    values = builder.const_value(totals)
    assert values[0] == 5.0 and values[3] == 4.0
    assert builder.is_const(totals[1:3]).tolist() == [False, False]
    # the only gates are x0 + 2 and x1 + x0: no gate adds a constant to a missing total
    rows = builder.arrays()
    assert np.count_nonzero(rows["op"] == Op.ADD) == 2


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.sampled_from(["zero", "one", "two", "x", "y", "late"]),
                         min_size=1, max_size=5), min_size=1, max_size=6))
def test_sum_rows_equals_the_sums(rows):
    builder = GateBuilder(capacity=2)
    ids = {"zero": builder.const(0.0), "one": builder.const(1.0), "two": builder.const(2.0)}
    inputs = builder.leaf(Op.INPUT, np.arange(2))
    ids["x"], ids["y"] = inputs
    ids["late"] = builder.leaf(Op.STATE, np.array([0]), late=True)[0]
    value = {"zero": 0.0, "one": 1.0, "two": 2.0, "x": 3.5, "y": -1.25, "late": 10.0}
    width = max(len(r) for r in rows)
    terms = np.array([[ids[t] for t in r] + [ids["zero"]] * (width - len(r)) for r in rows])
    totals = builder.sum_rows(terms)
    _built_rows_only(builder)
    # evaluate every row in order (the rows are topological)
    arrays = builder.arrays()
    out = np.zeros(builder.n)
    for i, op in enumerate(arrays["op"]):
        if op == Op.CONST:
            out[i] = builder.const_values[arrays["a"][i]]
        elif op == Op.INPUT:
            out[i] = (3.5, -1.25)[arrays["a"][i]]
        elif op == Op.STATE:
            out[i] = 10.0
        else:
            assert op == Op.ADD
            out[i] = out[arrays["a"][i]] + out[arrays["b"][i]]
    np.testing.assert_allclose(out[totals], [sum(value[t] for t in r) for r in rows])


def test_gates_refuse_rows_that_are_not_built():
    builder = GateBuilder(capacity=8)
    x = builder.leaf(Op.INPUT, np.arange(2))
    with pytest.raises(ValueError, match="reads row -1"):
        builder.gates(Op.ADD, np.array([x[0], -1]), np.array([x[1], x[1]]))
    with pytest.raises(ValueError, match="reads row 5"):
        builder.gates(Op.MUL, np.array([5]), np.array([x[0]]))
    with pytest.raises(ValueError, match="not built"):
        builder.tile({"op": np.array([Op.INPUT], dtype=np.uint8), "a": np.array([0]),
                      "b": np.array([-1]), "c": np.array([-1]), "node": np.array([-1])},
                     np.zeros(0), np.array([[-1]]), np.array([0]))


def test_slack_holds_sentinels():
    builder = GateBuilder(capacity=1)
    builder.leaf(Op.INPUT, np.arange(3))  # grows past the first capacity
    assert (builder._a[builder.n:] == -1).all() and not builder._is_const[builder.n:].any()


@pytest.mark.parametrize("name", sorted(CONSTANT_ENTRIES))
@pytest.mark.parametrize("topology", ["sklansky", "brent-kung", "kogge-stone"])
def test_dense_with_constant_entries_is_right(name, topology):
    # W @ h + U @ x with a constant W read uninitialised rows (random ids) before the fix
    model = CONSTANT_ENTRIES[name]
    for n in (33, 200):
        circuit = rc.compile(model, n, topology=topology)
        xs = random_inputs(model, n, batch=2, seed=n)
        values, _ = circuit.check_inputs(xs)
        expected = model.run(xs)
        got = evaluate_reference(circuit, values).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
