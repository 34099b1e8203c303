"""What "best" means: the objective behind auto and the form of A, the depth bounds in the
compile report, and a model profiled under several topologies on one figure."""

from __future__ import annotations

import json

import pytest

import rnncirc as rc
from rnncirc import cli
from rnncirc.errors import OptionError
from rnncirc.lower import prefix, segment_sum

from ..conftest import EXAMPLES, example

LRU, MAMBA = f"{EXAMPLES}/lru.py", f"{EXAMPLES}/mamba.py"

CANDIDATES = [t for t in prefix.TOPOLOGIES if t != "sequential"] + list(segment_sum.TOPOLOGIES)


def _circuits(model, n: int) -> dict:
    return {t: rc.compile(model, n, topology=t) for t in CANDIDATES}


@pytest.mark.parametrize("n", [5, 100])
def test_each_objective_picks_its_best_circuit(n):
    model = example("lru")
    built = _circuits(model, n)
    keys = {"depth": lambda c: (c.depth, c.size), "size": lambda c: (c.size, c.depth),
            "balanced": lambda c: (c.depth * c.size, c.depth)}
    for objective, key in keys.items():
        chosen = rc.compile(model, n, objective=objective)
        assert key(chosen) == min(key(c) for c in built.values()), objective


def test_an_unknown_objective_is_one_clear_error(capsys):
    with pytest.raises(OptionError, match="objective"):
        rc.compile(example("lru"), 8, objective="speed")
    status = cli.main(["compile", LRU, "-n", "8", "--objective", "speed"])
    assert status == 2 and "--objective" in capsys.readouterr().err


def test_the_report_puts_depth_beside_its_bounds(capsys):
    status = cli.main(["compile", MAMBA, "-n", "1000", "--json", "-"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["depth_lower_bound"] == 11  # ceil(log2(1999))
    scans = [rc.compile(example("mamba"), 1000, topology=t).depth
             for t in prefix.TOPOLOGIES if t != "sequential"]
    assert report["best_scan_depth"] == min(scans) > report["depth"] >= 11
    assert report["objective"] == "depth"
    cli.main(["compile", MAMBA, "-n", "1000", "--objective", "size"])
    printed = capsys.readouterr().out
    assert "lower bound 11 = ceil(log2(2n-1))" in printed and "best prefix scan" in printed


def test_a_model_under_several_topologies_on_one_figure(tmp_path, capsys):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    lengths = [2, 8, 64, 512]
    found = rc.depth_profile(example("mamba"), lengths,
                             topology=["sklansky", "ladner-fischer", "segment-sum"])
    assert [p.topology for p in found] == ["sklansky", "ladner-fischer", "segment-sum"]
    for profile in found:
        for row in profile.rows:
            circuit = rc.compile(example("mamba"), row["length"], topology=profile.topology)
            assert (row["depth"], row["size"]) == (circuit.depth, circuit.size)
    figure = found.plot()
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert any("[segment-sum]" in label for label in labels)
    assert any(label.startswith("lower bound") for label in labels)
    plot = tmp_path / "three.png"
    status = cli.main(["profile", MAMBA, "-l", "2,8,64", "--topology",
                       "sklansky,segment-sum", "--plot", str(plot)])
    assert status == 0 and plot.stat().st_size > 10_000
    assert capsys.readouterr().out.count("mamba: diagonal") == 2
    status = cli.main(["profile", MAMBA, "-l", "2,8", "--topology", "sk"])
    assert status == 2 and "unknown topology sk" in capsys.readouterr().err
