"""Shared fixtures: the example models, loaded once per session."""

from __future__ import annotations

import os

import pytest

from rnncirc.frontend.loader import load_models

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


#: example files that define a program (tests/programs checks them), not one RNN
PROGRAM_EXAMPLES = ("counter_connectivity", "deltanet_heads", "dfa_reset", "dfa_s5",
                    "mamba_blocks", "pd_ssm_automaton", "stacked_lstm")

#: example files that define PyTorch modules: they need torch, an optional dependency, so
#: tests/torch checks them (against the modules' own forward) instead of the galleries
TORCH_EXAMPLES = ("torch_lstm", "torch_selective")


def rnn_examples() -> list[str]:
    """Names of the example files that define one RNN each (the single-layer gallery)."""
    return sorted(os.path.splitext(name)[0] for name in os.listdir(EXAMPLES)
                  if name.endswith(".py") and name[:-3] not in PROGRAM_EXAMPLES + TORCH_EXAMPLES)


def example(name: str):
    """The single RNN defined in examples/<name>.py."""
    models = load_models(os.path.join(EXAMPLES, f"{name}.py"))
    assert len(models) == 1, models
    return next(iter(models.values()))


@pytest.fixture(scope="session")
def examples_dir() -> str:
    return EXAMPLES


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Spread the suite over the cores (up to 4 worker processes) when pytest-xdist is
    installed and the command line does not say otherwise (``-n 0`` runs in one process);
    without pytest-xdist the suite runs in one process."""
    worker = hasattr(config, "workerinput")  # a worker must not spread again
    if config.pluginmanager.hasplugin("xdist") and config.option.numprocesses is None \
            and not worker:
        config.option.numprocesses = "auto"
        config.option.maxprocesses = 4

