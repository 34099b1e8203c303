"""Word constructions, exhaustively at small widths: adders, comparisons, multipliers, division."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnncirc.ir.aig import AigBuilder
from rnncirc.lower.boolean.words import ADDERS, MULTIPLIERS, Words, constant_bits, csd_digits

W = 5
MASK = (1 << W) - 1


def word_inputs(aig: AigBuilder, count: int, width: int = W) -> list[np.ndarray]:
    return [aig.inputs(width) for _ in range(count)]


def run(aig: AigBuilder, word: np.ndarray, values: np.ndarray, width: int = W) -> np.ndarray:
    """The integer value of one output `word` for every row of integer inputs `values`."""
    circuit = aig.finish(np.asarray(word))
    bits = ((values[:, :, None] >> np.arange(width)) & 1).reshape(len(values), -1)
    out = circuit.evaluate_bits(bits).astype(np.int64)
    return (out << np.arange(out.shape[1])).sum(1)


def pairs(width: int = W) -> np.ndarray:
    return np.array(list(itertools.product(range(1 << width), repeat=2)))


def signed(v, width=W):
    return v - ((v >> (width - 1)) & 1) * (1 << width)


@pytest.mark.parametrize("adder", ADDERS)
def test_adder_every_topology(adder):
    values = pairs()
    for cin in (0, 1):
        aig = AigBuilder()
        a, b = word_inputs(aig, 2)
        words = Words(aig, adder=adder)
        got = run(aig, words.add(a, b, cin), values)
        assert np.array_equal(got, (values[:, 0] + values[:, 1] + cin) & MASK)
    aig = AigBuilder()
    a, b = word_inputs(aig, 2)
    words = Words(aig, adder=adder)
    assert np.array_equal(run(aig, words.sub(a, b), values), (values[:, 0] - values[:, 1]) & MASK)


def test_adder_with_variable_carry_in_and_width_one():
    aig = AigBuilder()
    a, b = word_inputs(aig, 2, 1)
    (cin,) = aig.inputs(1)
    out = Words(aig).add(a, b, cin)
    circuit = aig.finish(out)
    bits = np.array(list(itertools.product((0, 1), repeat=3)))
    assert circuit.evaluate_bits(bits)[:, 0].tolist() == (bits.sum(1) & 1).tolist()


@pytest.mark.parametrize("adder", ["ripple", "sklansky", "brent-kung"])
def test_comparisons(adder):
    values = pairs()
    for is_signed in (False, True):
        aig = AigBuilder()
        a, b = word_inputs(aig, 2)
        words = Words(aig, adder=adder)
        out = np.stack([words.less(a, b, is_signed), words.equal(a, b), words.nonzero(a)])
        circuit = aig.finish(out)
        bits = ((values[:, :, None] >> np.arange(W)) & 1).reshape(len(values), -1)
        got = circuit.evaluate_bits(bits)
        x, y = (signed(values[:, 0]), signed(values[:, 1])) if is_signed else values.T
        assert np.array_equal(got[:, 0], x < y)
        assert np.array_equal(got[:, 1], values[:, 0] == values[:, 1])
        assert np.array_equal(got[:, 2], values[:, 0] != 0)


@pytest.mark.parametrize("multiplier", MULTIPLIERS)
@pytest.mark.parametrize("adder", ["ripple", "kogge-stone"])
def test_multiplier(multiplier, adder):
    values = pairs()
    aig = AigBuilder()
    a, b = word_inputs(aig, 2)
    product = Words(aig, adder, multiplier).multiply(a, b)
    assert np.array_equal(run(aig, product, values), (values[:, 0] * values[:, 1]) & MASK)


@pytest.mark.parametrize("multiplier", MULTIPLIERS)
def test_multiply_by_every_constant(multiplier):
    width = 6
    constants = np.arange(-(1 << width), 1 << width)
    aig = AigBuilder()
    (a,) = word_inputs(aig, 1, width)
    words = Words(aig, multiplier=multiplier)
    products = words.multiply_constant(np.broadcast_to(a, (len(constants), width)), constants)
    circuit = aig.finish(products)
    x = np.arange(1 << width)
    bits = (x[:, None] >> np.arange(width)) & 1
    out = circuit.evaluate_bits(bits).reshape(len(x), len(constants), width)
    got = (out.astype(np.int64) << np.arange(width)).sum(-1)
    assert np.array_equal(got, (x[:, None] * constants[None, :]) & ((1 << width) - 1))


def test_csd_digits_are_canonical():
    width = 10
    values = np.arange(-(1 << width), 1 << width)
    digits = csd_digits(values, width)
    total = (digits * (1 << np.arange(width))).sum(-1)
    assert np.array_equal(total % (1 << width), values % (1 << width))
    assert not np.any((digits[:, 1:] != 0) & (digits[:, :-1] != 0))  # no adjacent non-zeros
    assert np.count_nonzero(digits, axis=1).max() <= width // 2 + 1


def test_division_and_select_and_lookup():
    values = pairs(4)
    aig = AigBuilder()
    n, d = word_inputs(aig, 2, 4)
    words = Words(aig)
    out = np.stack([words.divide_unsigned(n, d, keep=4),
                    words.select(n[..., 0], n, d),
                    words.lookup(n, constant_bits((np.arange(16) * 7 + 3) % 16, 4)),
                    words.conditional_negate(n, d[..., 0])])
    circuit = aig.finish(out)
    bits = ((values[:, :, None] >> np.arange(4)) & 1).reshape(len(values), -1)
    got = (circuit.evaluate_bits(bits).reshape(len(values), 4, 4).astype(np.int64)
           << np.arange(4)).sum(-1)
    x, y = values.T
    nonzero = y > 0
    assert np.array_equal(got[nonzero, 0], x[nonzero] // y[nonzero])
    assert np.array_equal(got[:, 1], np.where(x & 1, x, y))
    assert np.array_equal(got[:, 2], (x * 7 + 3) % 16)
    assert np.array_equal(got[:, 3], np.where(y & 1, -x, x) % 16)


def test_one_and_full_adder_cost():
    """The MPC cost model: a multiplier's carry-save tree spends one AND per full adder."""
    aig = AigBuilder()
    a, b, c = aig.inputs(3)
    s, carry = Words(aig)._full_add(a, b, c)
    circuit = aig.finish(np.array([s, carry]))
    assert circuit.and_count == 1 and circuit.and_depth == 1
    bits = np.array(list(itertools.product((0, 1), repeat=3)))
    got = circuit.evaluate_bits(bits)
    assert np.array_equal(got[:, 0] + 2 * got[:, 1], bits.sum(1))


def test_bad_choices_are_refused():
    with pytest.raises(ValueError, match="unknown adder"):
        Words(AigBuilder(), adder="carry-skip")
    with pytest.raises(ValueError, match="unknown multiplier"):
        Words(AigBuilder(), multiplier="booth")
