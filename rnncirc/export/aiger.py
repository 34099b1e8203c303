"""AIGER export of a boolean circuit: ASCII ``.aag`` and binary ``.aig`` (AIGER 1.9 header).

Where this sits: reads `BooleanCircuit.aig()` -- the pure AIG in which each XOR is three ANDs
-- so that ABC's ``strash; print_stats`` reports exactly its ``and_count`` as ``and`` and its
``depth`` as ``lev``. rnncirc's node numbering already is AIGER's: variable 0 the constant,
1..I the inputs, then the ANDs in topological order (lhs > rhs0 >= rhs1 after the operand
swap), so the binary delta encoding needs no renumbering. A symbol table names every input and
output bit (`rnncirc.export.ports`); ABC's ``cec`` matches two files by these names.
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.ports import input_bit_names, output_bit_names
from rnncirc.ir.aig import AND, BooleanCircuit


def write_aiger(circuit: BooleanCircuit, path: str, binary: bool | None = None) -> None:
    """Write `circuit` as AIGER; binary unless `path` ends in ``.aag`` (or `binary` says)."""
    if binary is None:
        binary = not str(path).endswith(".aag")
    data = aiger_bytes(circuit, binary)
    with open(path, "wb") as out:
        out.write(data)


def aiger_bytes(circuit: BooleanCircuit, binary: bool) -> bytes:
    aig = circuit.aig()
    gates = np.flatnonzero(aig.kinds == AND)
    lhs = 2 * gates
    rhs0 = np.maximum(aig.a[gates], aig.b[gates])
    rhs1 = np.minimum(aig.a[gates], aig.b[gates])
    num_inputs = aig.num_inputs
    outputs = aig.outputs.ravel()
    header = (f"{'aig' if binary else 'aag'} {aig.num_nodes - 1} {num_inputs} 0 "
              f"{len(outputs)} {len(gates)}\n")
    parts = [header.encode()]
    if not binary:
        parts.append(_lines("%d", [2 * np.arange(1, num_inputs + 1)]))
    parts.append(_lines("%d", [outputs]))
    if binary:
        if np.any(lhs != 2 * (num_inputs + 1 + np.arange(len(gates)))):
            raise AssertionError("AND nodes must follow the inputs without gaps")
        parts.append(encode_deltas(lhs - rhs0, rhs0 - rhs1))
    else:
        parts.append(_lines("%d %d %d", [lhs, rhs0, rhs1]))
    parts.append(_symbols("i", input_bit_names(circuit)))
    parts.append(_symbols("o", output_bit_names(circuit)))
    info = circuit.info
    parts.append((f"c\nrnncirc boolean circuit: model {info.model}, length {info.length}, "
                  f"{info.width}-bit {'signed' if info.signed else 'unsigned'} words, "
                  f"frac_bits {info.frac_bits}, adder {info.adder}, multiplier "
                  f"{info.multiplier}; each XOR written as 3 ANDs\n").encode())
    return b"".join(parts)


def _lines(fmt: str, columns: list[np.ndarray]) -> bytes:
    rows = zip(*(c.tolist() for c in columns), strict=True)
    text = "\n".join(map(fmt.__mod__, rows))
    return (text + "\n").encode() if text else b""


def _symbols(kind: str, names: list[str]) -> bytes:
    text = "\n".join(f"{kind}{i} {name}" for i, name in enumerate(names))
    return (text + "\n").encode() if text else b""


def encode_deltas(delta0: np.ndarray, delta1: np.ndarray) -> bytes:
    """AIGER's 7-bit variable-length encoding of the interleaved deltas, vectorized."""
    values = np.stack([delta0, delta1], axis=1).ravel().astype(np.uint64)
    if len(values) == 0:
        return b""
    chunks = np.zeros((len(values), 10), dtype=np.uint8)
    count = np.ones(len(values), dtype=np.int64)
    for k in range(10):
        shifted = values >> np.uint64(7 * k)
        chunks[:, k] = (shifted & np.uint64(0x7F)).astype(np.uint8)
        if k:
            count += shifted > 0
    more = np.arange(10)[None, :] < (count - 1)[:, None]
    chunks |= (more * 0x80).astype(np.uint8)
    keep = np.arange(10)[None, :] < count[:, None]
    return chunks[keep].tobytes()


def read_aiger(path: str) -> BooleanCircuit:
    """Read a combinational AIGER file (ASCII or binary) back into a `BooleanCircuit`.

    Used for round-trip tests; latches are refused. Symbols are not kept.
    """
    with open(path, "rb") as source:
        data = source.read()
    end = data.index(b"\n")
    fields = data[:end].split()
    kind, (m, i, latches, o, a) = fields[0].decode(), (int(x) for x in fields[1:6])
    if latches:
        raise ValueError("sequential AIGER files are not supported")
    pos = end + 1
    lines = data[pos:].split(b"\n")
    cursor = 0
    if kind == "aag":
        inputs = [int(x) for x in lines[cursor:cursor + i]]
        cursor += i
        if inputs != list(range(2, 2 * i + 2, 2)):
            raise ValueError("only inputs numbered 1..I are supported")
    outputs = np.array([int(x) for x in lines[cursor:cursor + o]], dtype=np.int64)
    cursor += o
    kinds = np.zeros(m + 1, dtype=np.uint8)
    kinds[1:i + 1] = 1
    lhs = np.full(m + 1, -1, dtype=np.int64)
    rhs = np.full(m + 1, -1, dtype=np.int64)
    if kind == "aag":
        rows = np.array([[int(x) for x in line.split()] for line in lines[cursor:cursor + a]],
                        dtype=np.int64).reshape(-1, 3)
        nodes = rows[:, 0] >> 1
        kinds[nodes], lhs[nodes], rhs[nodes] = AND, rows[:, 1], rows[:, 2]
    else:
        offset = pos + sum(len(line) + 1 for line in lines[:cursor])
        deltas = _decode_varints(data, offset, 2 * a)
        nodes = np.arange(i + 1, i + 1 + a)
        r0 = 2 * nodes - deltas[0::2]
        kinds[nodes], lhs[nodes], rhs[nodes] = AND, r0, r0 - deltas[1::2]
    return BooleanCircuit(kinds, lhs, rhs, outputs)


def _decode_varints(data: bytes, offset: int, count: int) -> np.ndarray:
    out = np.empty(count, dtype=np.int64)
    pos = offset
    for k in range(count):  # test-sized files only
        value, shift = 0, 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        out[k] = value
    return out
