"""Profiles with a client: every row a task, the same profile as on one machine."""

from __future__ import annotations

import pickle

import pytest

import rnncirc as rc
from rnncirc.analyze.profile_rows import program_row

from ..models import LINEAR, nonlinear
from .ring_models import ring_program

distributed = pytest.importorskip("distributed")


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



def test_unrolled_lengths_are_one_task_and_the_model_travels_once(client):
    """A nonlinear model is unrolled at every length: one task builds the longest unroll (as
    a local profile does) instead of a task per length; the rows are the local ones."""
    lengths = [1, 2, 3, 5, 8, 13]
    with distributed.get_task_stream(client) as stream:
        there = rc.depth_profile(nonlinear, lengths, client=client)
    names = sorted(task["key"].split("-")[0] for task in stream.data)
    assert names == ["_same", "unrolled_rows"]
    assert there.rows == rc.depth_profile(nonlinear, lengths).rows


def test_a_program_task_sends_back_its_layers_not_its_circuit():
    """What the longest length's task returns for the formulas does not grow with n."""
    sizes = [len(pickle.dumps(program_row(ring_program, n, "auto", "all", True)))
             for n in (5, 400)]
    assert sizes[1] < sizes[0] + 2000, sizes
