"""`rc.rnn` and `RNN`: options, the eager reference `RNN.run`, alphabet models, input checks."""

from __future__ import annotations

import os

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.errors import (
    InputError,
    OptionError,
    RnncircError,
    ShapeError,
    StepOutputError,
    UnsupportedOperationError,
)

RNG = np.random.default_rng(7)
W = RNG.normal(size=(3, 3)) / 2
U = RNG.normal(size=(3, 2))
HERE = os.path.basename(__file__)


@rc.rnn(state=3, inputs=2)
def elman(h, x):
    return rc.tanh(W @ h + U @ x)


@rc.rnn(state=1, inputs=1)
def running_sum(h, x):
    return h + x


# -- the RNN object ---------------------------------------------------------------------------
def test_rnn_object_fields():
    assert isinstance(elman, rc.RNN)
    assert elman.name == "elman" and elman.state_shape == (3,)
    assert elman.input_size == 2 and elman.alphabet is None
    assert np.array_equal(elman.init, np.zeros(3)) and not elman.init.flags.writeable
    assert repr(elman) == "RNN('elman', state=(3,), inputs=2)"
    assert elman.cell.state_shape == (3,) and elman.cell.input_shape == (2,)
    assert elman.step(np.zeros(3), np.ones(2)).shape == (3,)  # the plain function is kept


def test_name_and_matrix_state():
    @rc.rnn(state=(2, 3), inputs=1, name="memory")
    def step(h, x):
        return h * x

    assert step.name == "memory" and step.state_shape == (2, 3)
    assert step.run(np.ones((4, 1))).shape == (4, 2, 3)


# -- RNN.run: the reference semantics -------------------------------------------------------
def test_run_unbatched_and_batched(agrees):
    xs = RNG.normal(size=(2, 5, 2))
    states = elman.run(xs)
    assert states.shape == (2, 5, 3)
    for b in range(2):
        single = elman.run(xs[b])
        assert single.shape == (5, 3)
        np.testing.assert_array_equal(single, states[b])
    h = np.zeros(3)
    for t in range(5):
        h = np.tanh(W @ h + U @ xs[0, t])
        np.testing.assert_allclose(states[0, t], h, rtol=1e-14)
    agrees(elman, lambda h, x: np.tanh(W @ h + U @ x), n=5, batch=3)


def test_run_accepts_lists_and_integer_inputs():
    np.testing.assert_array_equal(running_sum.run([[1], [2], [3]]).ravel(), [1.0, 3.0, 6.0])
    assert running_sum.run(np.array([[1], [2]], dtype=np.int32)).dtype == np.float64
    assert running_sum.run(np.zeros((0, 1))).shape == (0, 1)


def test_init_is_used_copied_and_never_modified():
    init = np.array([1.0, -2.0])

    @rc.rnn(state=2, inputs=2, init=init)
    def inplace(h, x):
        h += x  # in place when run eagerly, a new symbolic value when traced
        return h

    assert init.flags.writeable  # the user's array is not frozen
    xs = np.ones((3, 2))
    np.testing.assert_array_equal(inplace.run(xs), [[2, -1], [3, 0], [4, 1]])
    np.testing.assert_array_equal(inplace.run(xs), [[2, -1], [3, 0], [4, 1]])  # again: same
    np.testing.assert_array_equal(inplace.init, init)
    init[0] = 100.0  # changing the user's array afterwards does not change the model
    assert inplace.init[0] == 1.0
    np.testing.assert_allclose(rc.compile(inplace, 3).evaluate(xs), inplace.run(xs))


def test_init_accepts_lists_and_scalars_broadcast_is_refused():
    @rc.rnn(state=2, inputs=1, init=[1, 2])
    def step(h, x):
        return h * x

    assert step.init.dtype == np.float64
    with pytest.raises(OptionError, match=r"init has shape \(\), but the state has shape \(2,\)"):
        rc.rnn(state=2, inputs=1, init=1.0)


@pytest.mark.parametrize("bad_xs, facts", [
    (np.ones((4, 3)), ["2 inputs per step", "(4, 3)"]),
    (np.ones(2), ["(2,)"]),
    (np.ones((1, 2, 4, 2)), ["(1, 2, 4, 2)"]),
    (np.array([["a", "b"]]), ["numeric"]),
    (np.ones((3, 2), dtype=bool), ["numeric"]),
])
def test_run_rejects_wrong_input_shapes(bad_xs, facts):
    with pytest.raises(InputError) as info:
        elman.run(bad_xs)
    for fact in facts:
        assert fact in str(info.value)


@pytest.mark.parametrize("bad_xs, facts", [
    (np.ones((4, 2)), ["length 3", "(4, 2)"]),
    (np.ones((3, 3)), ["2 inputs", "(3, 3)"]),
    (np.ones((2, 2, 3)), ["(2, 2, 3)"]),
    (np.ones(2), ["(2,)"]),
    (np.ones((1, 1, 3, 2)), ["(1, 1, 3, 2)"]),
    (np.full((3, 2), "x"), ["numeric"]),
])
def test_evaluate_rejects_wrong_input_shapes(bad_xs, facts):
    circuit = rc.compile(elman, 3)
    with pytest.raises(InputError) as info:
        circuit.evaluate(bad_xs)
    for fact in facts:
        assert fact in str(info.value)
    assert isinstance(info.value, RnncircError)


# -- alphabet models --------------------------------------------------------------------------
PERMS = np.array([np.eye(3), np.eye(3)[[1, 2, 0]], np.eye(3)[[1, 0, 2]]])  # id, 3-cycle, swap
TABLE = RNG.normal(size=(3, 3))


@rc.rnn(state=3, alphabet=3, init=np.array([1.0, 0.0, 0.0]))
def permutations(h, x):
    return rc.lookup(PERMS, x) @ h


@rc.rnn(state=3, alphabet=3)
def symbols(h, x):
    return (0.5 * h + rc.lookup(TABLE, x) + (x == 1) * h[::-1]
            - rc.where(x == 2, h, 0.0) * 0.25 + (x != 0) * 0.1)


def test_permutation_automaton(agrees):
    agrees(permutations, lambda h, s: PERMS[s] @ h, n=6, batch=3,
           init=np.array([1.0, 0.0, 0.0]))
    states = permutations.run([1, 1, 1, 2])
    np.testing.assert_array_equal(states[-1], [0.0, 1.0, 0.0])  # 3-cycle cubed is id; swap


def test_symbol_comparisons_and_lookup(agrees):
    def ref(h, s):
        return (0.5 * h + TABLE[s] + (s == 1) * h[::-1] - (h if s == 2 else 0.0) * 0.25
                + (s != 0) * 0.1)

    agrees(symbols, ref, n=5, batch=4)
    assert symbols.run(np.array([0, 1, 2])).shape == (3, 3)
    assert symbols.run(np.array([[0, 1, 2], [2, 2, 2]])).shape == (2, 3, 3)
    assert rc.compile(symbols, 3).evaluate(np.array([0, 1, 2])).shape == (3, 3)


def test_numpy_integers_compare_with_a_symbol_from_either_side(agrees):
    @rc.rnn(state=2, alphabet=3)
    def counts(h, x):
        return h + (np.int64(1) == x) + (x != np.int64(2)) * 0.5 + (2 == x) * 0.25

    agrees(counts, lambda h, s: h + (s == 1) + (s != 2) * 0.5 + (s == 2) * 0.25, n=4)


def test_looked_up_rows_compare_to_numbers_in_the_eager_run_too(agrees):
    # the eager run looks a row up in numpy: its comparisons must give 1.0/0.0 as the
    # circuit's do (numpy's booleans made (a <= b) - (c <= d) a TypeError in run)
    other = TABLE[::-1].copy()

    @rc.rnn(state=3, alphabet=3)
    def votes(h, x):
        return 0.5 * h + ((rc.lookup(TABLE, x) <= rc.lookup(other, x))
                          - (rc.lookup(other, x) <= rc.lookup(TABLE, x)))

    agrees(votes, lambda h, s: 0.5 * h + (TABLE[s] <= other[s]) * 1.0
           - (other[s] <= TABLE[s]) * 1.0, n=5, batch=2)


def test_lookup_of_a_plain_symbol():
    np.testing.assert_array_equal(rc.lookup(TABLE, 2), TABLE[2])
    with pytest.raises(InputError, match=r"range\(3\)"):
        rc.lookup(TABLE, 3)


@pytest.mark.parametrize("bad_xs", [
    np.array([0, 3, 1]), np.array([-1, 0]), np.array([0.0, 1.0]), np.zeros((2, 2, 2), int),
])
def test_alphabet_run_rejects_bad_symbols(bad_xs):
    with pytest.raises(InputError):
        symbols.run(bad_xs)


@pytest.mark.parametrize("bad_xs", [
    np.array([0, 1]), np.array([0, 1, 3]), np.array([0.0, 1.0, 2.0]), np.zeros((2, 3, 1), int),
])
def test_alphabet_evaluate_rejects_bad_symbols(bad_xs):
    circuit = rc.compile(symbols, 3)
    with pytest.raises(InputError):
        circuit.evaluate(bad_xs)


@pytest.mark.parametrize("body, error, fact", [
    (lambda h, x: h + x, UnsupportedOperationError, "rc.lookup"),
    (lambda h, x: h * x[0], UnsupportedOperationError, "symbol"),
    (lambda h, x: h + (x == 3), ShapeError, "range(3)"),
    (lambda h, x: h + (x == 1.5), ShapeError, "1.5"),
    (lambda h, x: rc.lookup(np.ones((4, 3)), x), ShapeError, "(4, 3)"),
    (lambda h, x: rc.lookup(h, x), UnsupportedOperationError, "numpy constant"),
    (lambda h, x: x, UnsupportedOperationError, "rc.lookup"),
    (lambda h, x: h + np.tanh(x), UnsupportedOperationError, "rc.lookup"),
])
def test_alphabet_input_misuse(body, error, fact):
    with pytest.raises(error) as info:
        rc.rnn(state=3, alphabet=3)(body)
    assert fact in str(info.value)


# -- rc.rnn options -----------------------------------------------------------------------------
def _identity(h, x):
    return h


@pytest.mark.parametrize("kwargs, fact", [
    ({"state": 2, "inputs": 2, "alphabet": 3}, "exactly one of"),
    ({"state": 2}, "exactly one of"),
    ({"state": 0, "inputs": 2}, "state must be a positive int"),
    ({"state": -1, "inputs": 2}, "state"),
    ({"state": (2, 0), "inputs": 2}, "state"),
    ({"state": 2.5, "inputs": 2}, "state"),
    ({"state": "3", "inputs": 2}, "state"),
    ({"state": True, "inputs": 2}, "state"),
    ({"state": (), "inputs": 2}, "state"),
    ({"state": 2, "inputs": 0}, "inputs"),
    ({"state": 2, "inputs": (2, 3)}, "must be an int"),
    ({"state": 2, "alphabet": 0}, "alphabet"),
    ({"state": 2, "inputs": 1, "init": np.zeros(3)}, "init has shape (3,)"),
    ({"state": (2, 2), "inputs": 1, "init": np.zeros(4)}, "(2, 2)"),
    ({"state": 2, "inputs": 1, "init": [[1.0], [2.0, 3.0]]}, "init"),
])
def test_rnn_option_errors(kwargs, fact):
    with pytest.raises(OptionError) as info:
        rc.rnn(**kwargs)(_identity)
    assert fact in str(info.value)
    assert isinstance(info.value, RnncircError)


def test_bare_decorator_says_how_to_call_it():
    with pytest.raises(OptionError, match=r"@rc.rnn\(state=D, inputs=K\)"):
        rc.rnn(_identity)


# -- what the step function returns ----------------------------------------------------------------
def test_step_returning_wrong_shape():
    def shrink(h, x):
        return h[:2]

    with pytest.raises(StepOutputError) as info:
        rc.rnn(state=3, inputs=2)(shrink)
    message = str(info.value)
    assert message.startswith(f"{HERE}:{shrink.__code__.co_firstlineno}: shrink:")
    assert "(2,)" in message and "(3,)" in message


def test_step_output_errors_point_at_a_decorated_def_or_a_lambda():
    with pytest.raises(StepOutputError) as info:
        @rc.rnn(state=3, inputs=2)
        def decorated(h, x):
            return x
    assert str(info.value).startswith(f"{HERE}:{info.tb.tb_lineno + 1}: decorated:")

    step = lambda h, x: h[:2]  # noqa: E731 - a lambda on purpose
    with pytest.raises(StepOutputError) as info:
        rc.rnn(state=3, inputs=2)(step)
    assert str(info.value).startswith(f"{HERE}:{step.__code__.co_firstlineno}: <lambda>:")


def test_step_returning_a_tuple():
    def pair(h, x):
        return h, h

    with pytest.raises(StepOutputError, match=r"returned a tuple of 2 values.*rc.concat"):
        rc.rnn(state=3, inputs=2)(pair)


def test_step_returning_none():
    def forgot(h, x):
        h + 1

    with pytest.raises(StepOutputError, match=r"returned None.*`return`"):
        rc.rnn(state=3, inputs=2)(forgot)


def test_step_returning_a_constant_is_allowed():
    @rc.rnn(state=2, inputs=1)
    def constant(h, x):
        return np.array([1.0, 2.0])

    np.testing.assert_array_equal(constant.run(np.ones((2, 1))), [[1, 2], [1, 2]])
    circuit = rc.compile(constant, 2)
    np.testing.assert_array_equal(circuit.evaluate(np.ones((2, 1))), [[1, 2], [1, 2]])


@pytest.mark.parametrize("length", [0, -1, 2.0, True, "3"])
def test_compile_rejects_bad_lengths(length):
    with pytest.raises(OptionError, match="length"):
        rc.compile(elman, length)


def test_compile_rejects_bad_options():
    with pytest.raises(OptionError, match="topology"):
        rc.compile(elman, 2, topology="bogus")
    with pytest.raises(OptionError, match="outputs"):
        rc.compile(elman, 2, outputs="first")
    with pytest.raises(OptionError, match="RNN"):
        rc.compile(lambda h, x: h, 2)
