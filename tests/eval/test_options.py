"""Schedule options: one value that carries the scheduler's tuning choices from the caller
(`Evaluator`, `build_schedule`) to every stage, checked when made, and part of the key the
schedules of a circuit are cached under."""

from __future__ import annotations

import dataclasses

import pytest

import rnncirc as rc
from rnncirc.errors import OptionError
from rnncirc.eval.fast import Evaluator, get_part_schedules, get_schedule
from rnncirc.eval.schedule import DEFAULT_OPTIONS, ScheduleOptions, build_schedule, tile_size


@rc.rnn(state=4, inputs=8)
def scan(h, x):
    return x[:4] * h + x[4:]


@pytest.mark.parametrize("field,value", [("group", 0), ("max_need", -1), ("tile_gates", 1.5),
                                         ("min_affine", True), ("input_block", "32")])
def test_bad_options_are_refused(field, value):
    with pytest.raises(OptionError, match=field):
        ScheduleOptions(**{field: value})


def test_zero_means_never_or_always_where_it_can():
    options = ScheduleOptions(prefetch_gates=0, stream_outputs=0, tile_registers=0,
                              tile_halving_gain=0, tile_when_wider=0)
    assert options.prefetch_gates == 0 and hash(options) != hash(DEFAULT_OPTIONS)


def test_schedules_are_cached_per_circuit_and_options():
    circuit = rc.compile(scan, 64, topology="brent-kung")
    tiled = ScheduleOptions(tile_when_wider=16, tile_gates=8)
    plain = get_schedule(circuit)
    assert get_schedule(circuit, DEFAULT_OPTIONS) is plain
    assert get_schedule(circuit, dataclasses.replace(tiled)) is get_schedule(circuit, tiled)
    assert get_schedule(circuit, tiled) is not plain
    assert plain.options == DEFAULT_OPTIONS and get_schedule(circuit, tiled).options == tiled
    assert get_schedule(circuit, tiled).placement.startswith("tiles")
    parts = get_part_schedules(circuit, 2, tiled)
    assert parts is not None and all(part.options == tiled for part in parts)
    assert get_part_schedules(circuit, 2) is not parts


def test_an_evaluator_takes_options_or_a_schedule():
    circuit = rc.compile(scan, 16, topology="brent-kung")
    options = ScheduleOptions(min_affine=2)
    assert Evaluator(circuit, options=options).schedule is get_schedule(circuit, options)
    with pytest.raises(OptionError, match="not both"):
        Evaluator(circuit, schedule=build_schedule(circuit), options=options)


def test_tile_size_follows_the_options():
    assert tile_size(1024, 100) is None  # narrow levels stay as they are
    assert tile_size(1024, 100, ScheduleOptions(tile_when_wider=50, tile_gates=10)) == 128
    assert tile_size(1024, 1 << 20) == 1  # (a tile of one step at least)
