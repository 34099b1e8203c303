"""DOT export: the three views parse back with pydot, one rank group per level holding exactly
that level's nodes (subgraphs walked by hand: networkx's reader skips them), gate attribution
of prefix circuits, size limits, rendering and the ``rnncirc dot`` command."""

from __future__ import annotations

import argparse
import os
import shutil

import numpy as np
import pydot
import pytest

import rnncirc as rc
from rnncirc.cli.profile_dot import add_dot_command, compile_dot
from rnncirc.errors import OptionError
from rnncirc.export import dot as dotmod
from rnncirc.export.attribution import attribute_gates
from rnncirc.export.dot import GraphvizNotFoundError, repr_svg, to_dot
from rnncirc.export.dot_graph import DiagramTooLargeError, rank_groups
from rnncirc.ir.ops import ARITY, Op
from rnncirc.lower import prefix

from ..conftest import example
from ..models import nonlinear

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot's pyparsing use

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed (CI installs it)")


def _parse(graph) -> pydot.Dot:
    parsed = pydot.graph_from_dot_data(graph.to_string())
    assert parsed and len(parsed) == 1
    return parsed[0]


def _all_nodes(graph) -> dict[str, pydot.Node]:
    """Every node statement with attributes, top level and inside subgraphs."""
    found, stack = {}, [graph]
    while stack:
        g = stack.pop()
        stack.extend(g.get_subgraphs())
        for node in g.get_nodes():
            name = node.get_name().strip('"')
            if name not in ("node", "edge", "graph") and node.get_attributes():
                found[name] = node
    return found


def _scan(model, n: int):
    """The circuit of the best prefix network, as the diagrams draw it under "auto"."""
    from rnncirc.compiler import compile_model

    return compile_model(model, n, prefix_only=True).circuit


@pytest.mark.parametrize("name,n,parse", [("mamba", 64, False), ("mamba", 24, True),
                                          ("s5", 11, True), ("deltanet", 9, True),
                                          ("linear_attention", 6, True)])
def test_block_view_one_rank_per_prefix_level(name, n, parse):
    model = example(name)
    circuit = _scan(model, n)
    net = prefix.build(n, circuit.topology, "all")
    graph = to_dot(circuit, view="block")
    parsed = _parse(graph) if parse else graph  # pydot's parser is slow: parse smaller ones
    ranks = rank_groups(parsed)
    assert sorted(ranks) == list(range(net.depth + 1))
    assert ranks[0] == [f"v{t}" for t in range(n)]  # leaves, in time order
    value = n
    for depth, level in enumerate(net.levels, start=1):
        expected = {f"v{v}" for v in range(value, value + len(level))}
        assert set(ranks[depth]) == expected and len(ranks[depth]) == len(expected)
        value += len(level)
    nodes = _all_nodes(parsed)
    assert len(nodes) == n + net.size
    # every combine is labelled with its segment (1-based steps) and its gate count
    level = net.levels[-1]
    k = n + net.size - len(level)
    label = nodes[f"v{k}"].get_label()
    assert f"[{level.left_lo[0] + 1}..{level.right_hi[0] + 1}]" in label and "gates" in label
    # outputs: h_t marked on the prefix [1..t]
    outputs = [v for v, node in nodes.items() if "h_" in node.get_label()]
    assert len(outputs) == n


@pytest.mark.parametrize("name,n", [("mamba", 64), ("mamba2", 16), ("gla", 9), ("s5", 31),
                                    ("rwkv7", 9), ("pd_ssm", 12), ("lru", 64)])
def test_every_gate_is_attributed_to_one_leaf_or_combine(name, n):
    circuit = _scan(example(name), n)
    net = prefix.build(n, circuit.topology, "all")
    owner, counts = attribute_gates(circuit, net)
    gate = ARITY[circuit.op] > 0
    assert counts.sum() == circuit.size and np.all(owner[gate] >= 0)
    # a combine's gates sit on its own prefix level; a leaf's before the network
    level_of_value = np.concatenate([np.zeros(n, int)] + [np.full(len(lv), d + 1) for d, lv
                                                          in enumerate(net.levels)])
    assert np.array_equal(circuit.step[gate], level_of_value[owner[gate]])
    assert np.all(counts[1:n] == counts[1])  # leaves 2..n are the same template


def test_mamba_block_counts_match_the_combine_costs():
    """Diagonal combine over D = 16: A2 A1 (16 mul), A2 b1 + b2 (16 mul, 16 add)."""
    circuit = _scan(example("mamba"), 64)
    net = prefix.build(64, circuit.topology, "all")
    _, counts = attribute_gates(circuit, net)
    lo = np.concatenate([lv.left_lo for lv in net.levels])
    combines = counts[64:]
    assert set(combines[lo == 0]) == {32} and set(combines[lo > 0]) == {48}


@rc.rnn(state=2, inputs=2)
def tiny_gated(h, x):
    return rc.sigmoid(x) * h + np.array([[1.0, 0.5], [0.2, -1.0]]) @ x


@rc.rnn(state=2, inputs=1)
def tiny_elman(h, x):
    return rc.tanh(np.array([[0.5, -0.3], [0.2, 0.4]]) @ h + np.array([1.0, -1.0]) * x)


@rc.rnn(state=3, alphabet=2, init=np.array([1.0, 0.0, 0.0]))
def tiny_cycle(h, x):
    return rc.lookup(np.array([np.eye(3), np.eye(3)[[2, 0, 1]]]), x) @ h


@pytest.mark.parametrize("model,n", [(tiny_gated, 6), (tiny_elman, 4), (tiny_cycle, 2)])
def test_gate_view_one_rank_per_level(model, n):
    circuit = rc.compile(model, n)
    parsed = _parse(to_dot(circuit, view="gate"))
    ranks = rank_groups(parsed)
    levels = circuit.levels
    gate_rows = np.flatnonzero(ARITY[circuit.op] > 0)
    for level in range(1, circuit.depth + 1):
        expected = {f"g{r}" for r in gate_rows[levels[gate_rows] == level]}
        assert set(ranks[level]) == expected and len(ranks[level]) == len(expected)
    assert all(circuit.op[int(name[1:])] == Op.INPUT for name in ranks.get(0, []))
    nodes = _all_nodes(parsed)
    assert sum(1 for name in nodes if int(name[1:]) in set(gate_rows)) == circuit.size
    clusters = [g for g in parsed.get_subgraphs() if g.get_name().startswith("cluster")]
    assert clusters
    outs = [name for name, node in nodes.items() if node.get("peripheries") == "2"]
    assert set(outs) == {f"g{r}" for r in circuit.outputs.ravel()} & set(nodes)


def test_gate_view_clusters_per_time_step_when_unrolled():
    circuit = rc.compile(tiny_elman, 5)
    parsed = _parse(to_dot(circuit, view="gate"))
    labels = sorted(g.get_label().strip('"') for g in parsed.get_subgraphs()
                    if g.get_name().startswith("cluster"))
    assert labels == [f"step {t}" for t in range(1, 6)]
    colors = {node.get("fillcolor") for node in _all_nodes(parsed).values()}
    assert len(colors) >= 3  # a colour per op


def test_gate_view_refuses_large_circuits_and_points_to_block():
    with pytest.raises(DiagramTooLargeError, match="block"):
        to_dot(example("mamba"), view="gate", length=64)
    with pytest.raises(DiagramTooLargeError, match="one node per step"):
        to_dot(example("elman"), view="gate", length=3)
    assert to_dot(example("elman"), view="gate", length=1, max_gates=2000) is not None


def test_cell_view_marks_state_and_blocker():
    graph = to_dot(example("gru"), view="cell")
    assert "gru.py:21" in graph.get_label()
    assert any("sigmoid" in n.get_label() and "blocks parallelism" in n.get_label()
               for n in _all_nodes(graph).values())
    parsed = _parse(to_dot(nonlinear, view="cell"))
    nodes = _all_nodes(parsed)
    labels = {name: node.get_label() for name, node in nodes.items()}
    assert any("h_(t-1)" in v for v in labels.values()) and "h_t" in nodes
    assert any("x_t" in v for v in labels.values())
    blocker = [name for name, v in labels.items() if "blocks parallelism" in v]
    assert len(blocker) == 1 and "tanh" in labels[blocker[0]]
    red = [e for e in parsed.get_edges() if e.get("color") == '"#cc0000"']
    assert len(red) >= 2
    assert "models.py:" in parsed.get_label()
    ranks = rank_groups(parsed)
    assert sorted(sum(ranks.values(), [])) == sorted(nodes)  # every node in one rank

    linear = _parse(to_dot(example("mamba"), view="cell"))
    assert not any("blocks parallelism" in n.get_label() for n in _all_nodes(linear).values())
    assert not [e for e in linear.get_edges() if e.get("color") == '"#cc0000"']
    assert "TC0" in linear.get_label()


def test_block_view_of_an_unrolled_model_is_a_chain():
    parsed = _parse(to_dot(tiny_elman, view="block", length=6))
    ranks = rank_groups(parsed)
    assert ranks == {t: [f"s{t}"] for t in range(1, 7)}
    assert len(parsed.get_edges()) == 5


def test_bad_requests():
    with pytest.raises(OptionError, match="view"):
        to_dot(nonlinear, view="gates")
    with pytest.raises(OptionError, match="length"):
        to_dot(nonlinear, view="block")
    with pytest.raises(OptionError, match="RNN"):
        to_dot(rc.compile(nonlinear, 2), view="cell")
    with pytest.raises(OptionError, match=".svg"):
        to_dot(nonlinear, "/tmp/out.jpeg2000")


def test_writing_dot_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    path = tmp_path / "cell.dot"
    to_dot(nonlinear, path)
    assert pydot.graph_from_dot_file(str(path))
    with pytest.raises(GraphvizNotFoundError, match="install Graphviz"):
        to_dot(nonlinear, tmp_path / "cell.svg")
    assert repr_svg(nonlinear) is None


@needs_dot
def test_svg_and_png_render(tmp_path):
    svg = tmp_path / "block.svg"
    to_dot(example("mamba"), svg, view="block", length=64)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "[1..64]" in text
    png = tmp_path / "cell.png"
    to_dot(example("gru"), png, view="cell")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    graph = to_dot(nonlinear, view="gate", length=2)
    assert graph._repr_svg_().lstrip().startswith("<?xml")
    assert "<svg" in repr_svg(rc.compile(nonlinear, 2))
    assert "<svg" in repr_svg(nonlinear)
    assert repr_svg(rc.compile(example("mamba"), 64)) is None  # too large to show inline


def _run(argv):
    parser = argparse.ArgumentParser()
    add_dot_command(parser.add_subparsers())
    args = parser.parse_args(argv)
    args.run(args)


def test_dot_command(tmp_path, capsys, examples_dir):
    out = tmp_path / "m.dot"
    _run(["dot", f"{examples_dir}/mamba.py", "--view", "block", "-n", "16", "-o", str(out)])
    assert "wrote the block view of mamba" in capsys.readouterr().out
    assert rank_groups(pydot.graph_from_dot_file(str(out))[0])
    with pytest.raises(OptionError, match="--length"):
        _run(["dot", f"{examples_dir}/mamba.py", "--view", "gate", "-o", str(out)])
    with pytest.raises(DiagramTooLargeError):
        _run(["dot", f"{examples_dir}/mamba.py", "--view", "gate", "-n", "64", "-o", str(out)])
    small = tmp_path / "c.dot"
    compile_dot(nonlinear, rc.compile(nonlinear, 3), str(small))
    assert "gate view" in capsys.readouterr().out
    compile_dot(example("mamba"), rc.compile(example("mamba"), 32, topology="sklansky"),
                str(small))
    assert "block view" in capsys.readouterr().out
    with pytest.raises(DiagramTooLargeError, match="--topology sklansky"):
        compile_dot(example("mamba"), rc.compile(example("mamba"), 32), str(small))
