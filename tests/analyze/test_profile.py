"""depth_profile: rows equal rc.compile's circuits, formulas equal every measured row (exact
arithmetic), reprs, plot, JSON and the ``rnncirc profile`` command."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import rnncirc as rc
from rnncirc.analyze.counts import multiplicative_depth, nonconstant_multiplications
from rnncirc.analyze.formula_eval import evaluate_formula, format_formula
from rnncirc.analyze.formulas import formula_definitions
from rnncirc.analyze.profile import DEFAULT_LENGTHS, DepthProfile, DepthProfiles, depth_profile
from rnncirc.cli.profile_dot import add_profile_command, parse_lengths
from rnncirc.errors import OptionError

from ..conftest import example
from ..models import LINEAR, nonlinear


def _assert_formulas_hold(profile: DepthProfile) -> None:
    assert profile.depth_formula is not None and profile.size_formula is not None
    for row in profile.rows:
        n = row["length"]
        assert evaluate_formula(profile.depth_formula, n) == row["depth"], (profile.model, n)
        assert evaluate_formula(profile.size_formula, n) == row["size"], (profile.model, n)


def test_default_lengths():
    assert DEFAULT_LENGTHS[0] == 1 and DEFAULT_LENGTHS[-1] == 4096
    assert {1 << k for k in range(13)} <= set(DEFAULT_LENGTHS)
    assert list(DEFAULT_LENGTHS) == sorted(set(DEFAULT_LENGTHS))


def test_formulas_equal_measured_rows_at_every_default_length():
    # S5's per-symbol permutations composed as permutations (the fewest gates)
    profile = depth_profile(example("s5"), objective="size")
    assert profile.lengths == list(DEFAULT_LENGTHS)
    _assert_formulas_hold(profile)


def test_a_dense_form_of_s5_is_shallower_and_its_depth_exact():
    # multiplied as 5 x 5 matrices the permutations take fewer levels; their products' zero
    # patterns follow the group, so the size has no closed form, and the note says so
    lengths = [1, 2, 3, 5, 8, 13, 64, 100, 256]
    shallow = depth_profile(example("s5"), lengths)
    small = depth_profile(example("s5"), lengths, objective="size")
    assert all(a["depth"] < b["depth"] for a, b in zip(shallow.rows[3:], small.rows[3:],
                                                           strict=True))
    assert shallow.depth_formula is not None
    for row in shallow.rows:
        assert evaluate_formula(shallow.depth_formula, row["length"]) == row["depth"]


@pytest.mark.parametrize("name", ["mingru", "parity", "mamba2", "lru"])
def test_formulas_of_gallery_models(name):
    profile = depth_profile(example(name), [n for n in DEFAULT_LENGTHS if n <= 512])
    _assert_formulas_hold(profile)


def test_formulas_of_an_unrolled_model_at_every_default_length():
    @rc.rnn(state=4, inputs=2)
    def small_elman(h, x):
        return rc.tanh(np.full((4, 4), 0.2) @ h + np.ones((4, 2)) @ x)

    profile = depth_profile(small_elman)
    assert profile.family == "sequential" and profile.kind == "nonlinear"
    _assert_formulas_hold(profile)
    assert format_formula(profile.depth_formula, style="math") == "5n - 3"  # mul, 2 adds, add, tanh


@pytest.mark.parametrize("name", ["scalar", "diagonal", "permutation", "symbol_permutation",
                                  "dense", "gated_matrix"])
def test_formulas_of_every_kind(name):
    profile = depth_profile(LINEAR[name][0], [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 300],
                            objective="size")
    _assert_formulas_hold(profile)


def test_auto_formula_is_exact_at_unlisted_lengths_too():
    """"auto" picks other networks at small n: the formula has branches for them."""
    model = LINEAR["diagonal"][0]
    profile = depth_profile(model, [64, 128])
    for n in range(1, 41):
        circuit = rc.compile(model, n)
        assert evaluate_formula(profile.depth_formula, n) == circuit.depth, n
        assert evaluate_formula(profile.size_formula, n) == circuit.size, n
    assert "segment-sum-optimal from n = " in profile.formula_note


@pytest.mark.parametrize("model,lengths", [
    (nonlinear, [1, 2, 3, 7, 16, 40]),
    (LINEAR["dplr"][0], [1, 2, 5, 9, 16, 33]),
    (LINEAR["scalar"][0], [1, 4, 9, 12, 20]),
])
def test_rows_equal_rc_compile(model, lengths):
    """Every row is the circuit rc.compile builds (unrolled rows come from one long build)."""
    profile = depth_profile(model, lengths)
    for row in profile.rows:
        circuit = rc.compile(model, row["length"])
        assert row["topology"] == circuit.topology
        assert (row["depth"], row["size"]) == (circuit.depth, circuit.size)
        assert row["op_counts"] == circuit.op_counts
        assert row["multiplicative_depth"] == multiplicative_depth(circuit)
        assert row["nonconstant_multiplications"] == nonconstant_multiplications(circuit)


def test_explicit_topology_and_outputs_last():
    model = LINEAR["diagonal"][0]
    profile = depth_profile(model, [1, 2, 6, 16, 33], topology="brent-kung", outputs="last")
    assert {row["topology"] for row in profile.rows} == {"brent-kung"}
    _assert_formulas_hold(profile)
    for row in profile.rows:
        circuit = rc.compile(model, row["length"], topology="brent-kung", outputs="last")
        assert (row["depth"], row["size"]) == (circuit.depth, circuit.size)
    seq = depth_profile(nonlinear, [1, 3, 10], outputs="last")
    for row in seq.rows:
        circuit = rc.compile(nonlinear, row["length"], outputs="last")
        assert (row["depth"], row["size"]) == (circuit.depth, circuit.size)


def test_dplr_ladner_fischer_formulas_hold():
    # its size counts the network's combines by segment length (exact functions of n)
    profile = depth_profile(LINEAR["deltanet"][0], [1, 2, 4, 8, 16, 100],
                            topology="ladner-fischer", objective="size")
    _assert_formulas_hold(profile)
    assert "ladner_fischer_low_rank" in str(profile.size_formula)


def test_missing_formula_is_na_and_says_why(monkeypatch):
    from rnncirc.analyze import formulas, profile_formulas

    monkeypatch.setattr(formulas, "_fit", lambda *args: None)
    profile_formulas._FORMULA_CACHE.clear()
    profile = depth_profile(LINEAR["deltanet"][0], [1, 2, 4, 8], topology="sklansky")
    profile_formulas._FORMULA_CACHE.clear()
    assert profile.depth_formula is None and profile.size_formula is None
    assert "DPLR" in profile.formula_note and "low-rank" in profile.formula_note
    assert format_formula(None) == "n/a"
    data = profile.to_dict()
    assert data["size_formula"] is None and data["size_formula_text"] == "n/a"
    assert "n/a" in profile._repr_html_() and "DPLR" in profile._repr_html_()


def test_several_models_and_reprs():
    profiles = depth_profile([LINEAR["diagonal"][0], nonlinear], [1, 2, 4, 8, 16])
    assert isinstance(profiles, DepthProfiles) and len(profiles) == 2
    assert profiles["nonlinear"].kind == "nonlinear"
    assert [p.model for p in profiles] == ["diagonal", "nonlinear"]
    page = profiles._repr_html_()
    assert "<table>" in page and "diagonal" in page and "TC0" in page
    shown = format_formula(profiles["diagonal"].depth_formula, style="math")
    assert shown in page.replace("&gt;", ">")
    text = repr(profiles)
    assert "depth(n) =" in text and "mult.depth" in text
    data = json.loads(json.dumps(profiles.to_dict()))
    row = data["profiles"][1]["rows"][-1]
    assert set(row) >= {"length", "depth", "size", "op_counts", "multiplicative_depth",
                        "nonconstant_multiplications", "topology"}
    assert depth_profile({"a": nonlinear}, [2])[0].model == "nonlinear"


def test_one_formatter_in_two_styles():
    profile = depth_profile(LINEAR["diagonal"][0], [1, 2, 64], topology="ladner-fischer")
    assert format_formula(profile.depth_formula, style="math").startswith("2⌈log2 n⌉")
    assert format_formula(profile.depth_formula).startswith("2*ceil(log2(n))")
    assert "LF(n)" in format_formula(profile.size_formula, style="math")
    text = format_formula(profile.size_formula)
    assert "size_ladner_fischer(n)" in text and formula_definitions(text)
    sklansky = depth_profile(LINEAR["diagonal"][0], [1, 2, 64], topology="sklansky")
    for style in ("text", "math"):  # its size, a finite sum, is named and defined
        text = format_formula(sklansky.size_formula, style=style)
        assert "Sum" not in text and "Sk(n)" in text
        assert formula_definitions(text)[0].startswith("Sk(n): the combines of the Sklansky")


def test_bad_arguments():
    with pytest.raises(OptionError, match="lengths"):
        depth_profile(nonlinear, [0, 3])
    with pytest.raises(OptionError, match="lengths"):
        depth_profile(nonlinear, [])
    with pytest.raises(OptionError, match="RNN"):
        depth_profile("examples/mamba.py")
    with pytest.raises(OptionError, match="topology"):
        depth_profile(nonlinear, [2], topology="zigzag")
    with pytest.raises(rc.errors.NotLinearError):
        depth_profile(nonlinear, [2, 4], topology="sklansky")


def test_plot_several_models_on_one_figure(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    profiles = depth_profile([LINEAR["diagonal"][0], nonlinear], [1, 2, 4, 8, 16, 32])
    path = tmp_path / "profile.png"
    fig = profiles.plot(path)
    assert path.stat().st_size > 10_000
    depth_ax, size_ax = fig.axes[:2]
    # one line per model, and on the depth panel the lower bound ceil(log2(2n - 1))
    assert len(depth_ax.get_lines()) == len(size_ax.get_lines()) + 1 == 3
    assert depth_ax.get_lines()[2].get_label().startswith("lower bound")
    assert depth_ax.get_xscale() == "log" and depth_ax.xaxis.get_transform().base == 2
    ys = [line.get_ydata() for line in depth_ax.get_lines()]
    assert ys[1][-1] > 5 * ys[0][-1]  # the unrolled model's depth runs away
    import matplotlib.pyplot as plt

    fig2, ax = plt.subplots()
    assert profiles[0].plot(ax=ax) is fig2 and len(ax.get_lines()) == 2  # and the bound
    plt.close("all")


def test_parse_lengths():
    assert parse_lengths("1,2,5") == [1, 2, 5]
    assert parse_lengths("3:20") == [3, 4, 6, 8, 12, 16, 20]
    assert parse_lengths("1:9:4") == [1, 5, 9]
    for bad in ("0:4", "a,b", "5:2", "1:2:3:4", ""):
        with pytest.raises(OptionError):
            parse_lengths(bad)


def _run(argv):
    parser = argparse.ArgumentParser()
    add_profile_command(parser.add_subparsers())
    args = parser.parse_args(argv)
    args.run(args)


def test_profile_command(tmp_path, capsys, examples_dir):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    plot, out = tmp_path / "p.png", tmp_path / "p.json"
    _run(["profile", f"{examples_dir}/s5.py", "--lengths", "1:64", "--plot", str(plot),
          "--json", str(out), "--topology", "ladner-fischer"])
    printed = capsys.readouterr().out
    assert "depth(n) = 4*ceil(log2(n))" in printed and "ladner-fischer" in printed
    assert plot.stat().st_size > 10_000
    data = json.loads(out.read_text())
    assert data["model"] == "s5" and data["rows"][-1]["length"] == 64
    _run(["profile", f"{examples_dir}/parity.py", "-l", "2,4", "--json", "-"])
    assert json.loads(capsys.readouterr().out)["kind"] == "permutation-diagonal"


@settings(max_examples=60, deadline=None)
@given(data=st.data(), k=st.integers(1, 4), m=st.integers(5, 12))
def test_exact_least_squares_recovers_rational_coefficients(data, k, m):
    """The formula fit's exact solve: a consistent integer system gives its rational
    solution back; a target off by one in a row, or a repeated column, gives None."""
    from fractions import Fraction

    from rnncirc.analyze.formulas import _exact_least_squares

    q = data.draw(st.integers(1, 6))  # (rows of multiples of q: integer targets)
    rows = data.draw(st.lists(st.lists(st.integers(-50, 50).map(lambda v: q * v),
                                       min_size=k, max_size=k), min_size=m, max_size=m))
    assume(np.linalg.matrix_rank(np.array(rows, dtype=float)) == k)
    coef = [Fraction(data.draw(st.integers(-20, 20)), q) for _ in range(k)]
    target = [int(sum(r * c for r, c in zip(row, coef, strict=True))) for row in rows]
    assert _exact_least_squares(rows, target) == coef
    shifted = target[:]
    shifted[data.draw(st.integers(0, m - 1))] += 1
    got = _exact_least_squares(rows, shifted)
    assert got is None or all(  # (None unless some other x fits exactly)
        sum(r * c for r, c in zip(row, got, strict=True)) == t
        for row, t in zip(rows, shifted, strict=True))
    assert _exact_least_squares([row + row[:1] for row in rows], target) is None
