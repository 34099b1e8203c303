"""The examples in docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["rnncirc", "rnncirc.compiler", "rnncirc.frontend.model", "rnncirc.frontend.functions",
           "rnncirc.lower.classify", "rnncirc.ir.circuit", "rnncirc.eval.fast",
           # the paper's constructions and exact arithmetic
           "rnncirc.frontend.automata", "rnncirc.frontend.counter_machine",
           "rnncirc.frontend.imm", "rnncirc.frontend.acceptance", "rnncirc.eval.exact",
           "rnncirc.ir.rational", "rnncirc.lower.pairs"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0, f"{name} has no examples"
    assert failures == 0
