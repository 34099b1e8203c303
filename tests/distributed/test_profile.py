"""Profiles with a client: every row a task, the same profile as on one machine."""

from __future__ import annotations

import pytest

import rnncirc as rc

from ..models import LINEAR, nonlinear
from .ring_models import ring_program


@pytest.mark.parametrize("models, lengths", [
    ([LINEAR["diagonal"][0], nonlinear], [1, 2, 3, 5, 8, 13]),  # "auto" resolved in the tasks
    ([ring_program], [2, 3, 5])], ids=["rnns", "program"])
def test_profile_rows_as_tasks(client, models, lengths):
    here = rc.depth_profile(models, lengths)
    there = rc.depth_profile(models, lengths, client=client)
    assert len(there) == len(models)
    for a, b in zip(there, here, strict=True):
        assert a.rows == b.rows
        assert str(a.depth_formula) == str(b.depth_formula)
        assert str(a.size_formula) == str(b.size_formula)
        assert a.formula_note == b.formula_note

