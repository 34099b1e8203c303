"""The memory estimate of a prefix lowering against the size of the circuit it builds.

`ensure_lowering_fits` refuses from `estimate_gates_from_n` and names the largest length
that fits by it: below the built size, a user building at that length exceeds the planned
memory. Every linear example model, at n = 256 on two networks and both outputs.
"""

from __future__ import annotations

import pytest

import rnncirc as rc
from rnncirc.compiler import classify_model
from rnncirc.lower.linear_estimate import estimate_gates, estimate_gates_from_n
from rnncirc.lower.prefix import build
from tests.conftest import example, rnn_examples

#: models whose estimate is known to be high, and how high it may be: a dense form built
#: from a sparse A (its products fold where entries are the constant 0) is priced dense, and
#: per-symbol permutations at the comparators of a full sorting network
OVER = {"s5": 3.0, "parity": 2.8, "pd_ssm": 1.8}


def _linear_examples():
    names = []
    for name in rnn_examples():
        model = example(name)
        if isinstance(model, rc.RNN) and classify_model(model).is_linear:
            names.append(name)
    return names


@pytest.mark.parametrize("name", _linear_examples())
def test_estimate_within_band_of_built_size(name):
    model = example(name)
    cls = classify_model(model)
    n = 256
    for topology in ("sklansky", "brent-kung"):
        for outputs in ("all", "last"):
            built = rc.compile(model, n, topology=topology, outputs=outputs).size
            estimate = estimate_gates_from_n(cls, n, topology, outputs)
            ratio = estimate / built
            assert 0.9 <= ratio <= OVER.get(name, 1.3), (topology, outputs, built, estimate)
            # the refusal from n is one the estimate of the built network would make too
            assert estimate <= estimate_gates(cls, build(n, topology, outputs))


@pytest.mark.parametrize("name", ["deltanet", "rwkv7"])
def test_dplr_own_form_estimate_within_band(name):
    """A DPLR model's own form is built where its dense form would not fit (long n), so its
    estimate from n must hold by itself: compose ranks grow with the segments."""
    from rnncirc.lower.linear import lower_form
    from rnncirc.lower.linear_estimate import _form_gates_from_n

    model = example(name)
    cls = classify_model(model)
    for topology in ("sklansky", "kogge-stone"):
        built = lower_form(model, cls, 256, topology).size
        assert 0.95 <= _form_gates_from_n(cls, 256, topology, "all") / built <= 1.1
