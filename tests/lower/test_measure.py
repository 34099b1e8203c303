"""`lower.measure`: exact depth and size without the full build, and `auto` by circuit depth."""

from __future__ import annotations

import pytest

import rnncirc as rc
from rnncirc.analyze.formula_eval import evaluate_formula
from rnncirc.analyze.report import family_formulas
from rnncirc.lower import prefix
from rnncirc.lower.linear import lower_linear
from rnncirc.lower.measure import measure_linear

from ..conftest import example
from ..models import CONSTANT_ENTRIES, LINEAR

TOPOLOGIES = [t for t in prefix.TOPOLOGIES if t != "sequential"]


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_measure_equals_the_built_circuit(name):
    model = LINEAR[name][0]
    cls = rc.classify(model)
    for topology in TOPOLOGIES:
        for outputs in ("all", "last"):
            for n in (1, 2, 3, 5, 8, 13, 17, 31, 33, 64, 100):
                built = lower_linear(model, cls, n, topology, outputs)
                exact = measure_linear(model, cls, n, topology, outputs)
                assert (exact.depth, exact.size) == (built.depth, built.size), \
                    (topology, outputs, n)


@pytest.mark.parametrize("name", sorted(CONSTANT_ENTRIES))
def test_measure_when_constants_fill_in_slowly(name):
    # x0 C + x1 S fills in over several steps: combines of segments longer than the old
    # length bound differ in cost, which `measure` asserted they could not
    model = CONSTANT_ENTRIES[name]
    cls = rc.classify(model)
    for topology in TOPOLOGIES:
        for outputs in ("all", "last"):
            for n in (3, 16, 17, 33, 100):
                built = lower_linear(model, cls, n, topology, outputs)
                exact = measure_linear(model, cls, n, topology, outputs)
                assert (exact.depth, exact.size) == (built.depth, built.size), \
                    (topology, outputs, n)
    auto = rc.compile(model, 100)
    candidates = TOPOLOGIES + ["segment-sum"]  # built with its dense matrices
    built = {t: rc.compile(model, 100, topology=t) for t in candidates}
    best = min(candidates, key=lambda t: (built[t].depth, built[t].size, candidates.index(t)))
    assert auto.topology == best
    profile = rc.depth_profile(model, lengths=[16, 64, 100])
    assert len(profile.rows) == 3


def test_measure_is_much_cheaper_than_building():
    model = LINEAR["deltanet"][0]
    cls = rc.classify(model)
    exact = measure_linear(model, cls, 512, "kogge-stone")
    assert exact.scratch_gates * 10 < exact.size


@pytest.mark.parametrize("name", ["dplr", "deltanet", "dense"])
def test_auto_picks_least_circuit_depth_then_size(name):
    model = LINEAR[name][0]
    cls = rc.classify(model)
    candidates = TOPOLOGIES + ["segment-sum"]  # built with dense matrices
    for n in (6, 29, 61, 100):
        built = {t: lower_linear(model, cls, n, t, "all") for t in TOPOLOGIES}
        built["segment-sum"] = rc.compile(model, n, topology="segment-sum")
        best = min(candidates, key=lambda t: (built[t].depth, built[t].size,
                                              candidates.index(t)))
        assert rc.compile(model, n).topology == best, n


def test_auto_on_deltanet_beats_the_shallowest_network():
    # Ladner-Fischer has the least network depth and fewest combines, but Kogge-Stone's
    # circuit is shallower for DeltaNet kept low-rank: auto compares circuits, not networks
    model = example("deltanet")
    auto = rc.compile(model, 256, objective="size")
    assert auto.topology == "brent-kung"
    low_rank = {t: rc.compile(model, 256, topology=t, objective="size") for t in TOPOLOGIES}
    assert low_rank["kogge-stone"].depth < low_rank["ladner-fischer"].depth
    deepest_first = rc.compile(model, 256)  # by depth: its dense segment-sum, shallower
    assert deepest_first.topology == "segment-sum"
    assert deepest_first.depth < min(rc.compile(model, 256, topology=t).depth
                                     for t in TOPOLOGIES)


@pytest.mark.slow
@pytest.mark.parametrize("name,topology,outputs", [
    ("dplr", "kogge-stone", "all"), ("deltanet", "brent-kung", "all"),
    ("dense", "kogge-stone", "all"), ("dense", "han-carlson", "all"),
    ("deltanet", "han-carlson", "all"), ("dplr", "ladner-fischer", "all"),
    ("deltanet", "ladner-fischer", "all"),
    ("dplr", "sklansky", "all"), ("deltanet", "sklansky", "last"),
    ("diagonal", "sklansky", "all")])
def test_formulas_hold_far_beyond_the_fitted_lengths(name, topology, outputs):
    model = LINEAR[name][0]
    cls = rc.classify(model)
    depth_f, size_f = family_formulas(model, cls, topology, outputs)
    near = [k + d for k in (512, 1024, 2048) for d in (-9, -3, 0, 1, 5)]
    lengths = list(range(261, 400, 7)) + near
    for n in lengths:
        exact = measure_linear(model, cls, n, topology, outputs)
        assert evaluate_formula(depth_f, n) == exact.depth, n
        assert evaluate_formula(size_f, n) == exact.size, n
