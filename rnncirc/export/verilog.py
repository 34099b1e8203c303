"""Structural Verilog export of a boolean circuit: one ``assign`` per AND or XOR gate.

Where this sits: unlike the AIGER and BLIF exports it keeps XOR gates (``^``), so a synthesis
tool sees the circuit as rnncirc counts it (AND count, XOR count). Ports are vectors, one per
word (`rnncirc.export.ports`; a one-bit port is a scalar): ``input [7:0] x_1_0;`` ...
``output [7:0] h_1_0;``, so bit j of a word is ``x_1_0[j]`` as in the BLIF and AIGER symbol
tables. Internal nets are ``n<node>``; NOT is written inline as ``~``. Read by ABC
(``read_verilog``) and Yosys.
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.ports import input_ports, module_name, output_ports
from rnncirc.ir.aig import AND, XOR, BooleanCircuit

_PER_LINE = 16


def write_verilog(circuit: BooleanCircuit, path: str) -> None:
    with open(path, "w") as out:
        out.write(verilog_text(circuit))


def verilog_text(circuit: BooleanCircuit) -> str:
    inputs = input_ports(circuit)
    outputs = output_ports(circuit)
    net = np.empty(circuit.num_nodes, dtype=object)
    net[0] = "1'b0"
    for port in inputs:
        net[port.bits] = port.bit_names()
    gates = np.flatnonzero(circuit.kinds >= AND)
    net[gates] = [f"n{g}" for g in gates.tolist()]

    def literal(lits: np.ndarray) -> np.ndarray:
        names = net[lits >> 1]
        negated = (lits & 1).astype(bool)
        names[negated] = ["~" + name for name in names[negated]]
        const = (lits >> 1) == 0
        names[const] = np.where(lits[const] & 1, "1'b1", "1'b0")
        return names

    info = circuit.info
    parts = [f"// rnncirc boolean circuit: model {info.model}, length {info.length}, "
             f"{info.width}-bit {'signed' if info.signed else 'unsigned'} words, frac_bits "
             f"{info.frac_bits}; {circuit.and_count} AND, {circuit.xor_count} XOR\n"]
    names = [p.name for p in inputs] + [p.name for p in outputs]
    parts.append(f"module {module_name(circuit)} (\n  " + _wrap(names, ",", "\n  ") + "\n);\n")
    parts.extend(_port_declaration("input", port) for port in inputs)
    parts.extend(_port_declaration("output", port) for port in outputs)
    if len(gates):
        parts.append("  wire " + _wrap(net[gates].tolist(), ",", "\n    ") + ";\n")
    ops = np.where(circuit.kinds[gates] == XOR, "^", "&")
    rows = zip(net[gates], literal(circuit.a[gates]), ops, literal(circuit.b[gates]),
               strict=True)
    parts.append("".join(f"  assign {z} = {x} {o} {y};\n" for z, x, o, y in rows))
    for port in outputs:
        sources = literal(np.asarray(port.bits))
        parts.append("".join(f"  assign {name} = {src};\n"
                             for name, src in zip(port.bit_names(), sources, strict=True)))
    parts.append("endmodule\n")
    return "".join(parts)


def _port_declaration(direction: str, port) -> str:
    vector = f"[{port.width - 1}:0] " if port.width > 1 else ""
    return f"  {direction} {vector}{port.name};\n"


def _wrap(names: list[str], sep: str, newline: str) -> str:
    lines = [f"{sep} ".join(names[i:i + _PER_LINE]) for i in range(0, len(names), _PER_LINE)]
    return f"{sep}{newline}".join(lines)
