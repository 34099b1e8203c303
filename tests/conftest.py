"""Shared fixtures: the example models, loaded once per session."""

from __future__ import annotations

import os

import pytest

from rnncirc.frontend.loader import load_models

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def example(name: str):
    """The single RNN defined in examples/<name>.py."""
    models = load_models(os.path.join(EXAMPLES, f"{name}.py"))
    assert len(models) == 1, models
    return next(iter(models.values()))


@pytest.fixture(scope="session")
def examples_dir() -> str:
    return EXAMPLES
