"""Bristol Fashion export of a boolean circuit (the MPC/FHE circuit format of SCALE-MAMBA).

Where this sits: keeps XOR gates, since MPC and FHE count only ANDs (XOR is free), and writes
NOT as ``INV`` gates. The format (nigelsmart.github.io/MPC-Circuits):

    <gates> <wires>
    <niv> <bits of input value 1> ...      one input value per time step
    <nov> <bits of output value 1> ...     one output value per output step
    <blank line>
    2 1 <in> <in> <out> AND|XOR  /  1 1 <in> <out> INV  /  1 1 <in> <out> EQW  /  1 1 <0|1> <out> EQ

Input wires come first (value by value; within a value input by input, bits least significant
first), gates follow in topological order, and the output values are the last wires: each
output bit is written by its own final gate (``EQW`` copy, ``INV``, or ``EQ`` for a constant),
because one internal wire may feed several outputs. An ``INV`` wire is made once per node whose
complement some AND reads, right after that node.
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.ports import input_ports, output_ports, steps_of
from rnncirc.ir.aig import AND, BooleanCircuit


def write_bristol(circuit: BooleanCircuit, path: str) -> None:
    with open(path, "w") as out:
        out.write(bristol_text(circuit))


def bristol_text(circuit: BooleanCircuit) -> str:
    n = circuit.num_nodes
    num_inputs = circuit.num_inputs
    gates = np.flatnonzero(circuit.kinds >= AND)
    lits = np.concatenate([circuit.a[gates], circuit.b[gates]])
    inverted = np.zeros(n, dtype=bool)
    inverted[lits[(lits & 1) == 1] >> 1] = True
    # wire numbering: inputs 0..I-1, then per node (inputs first, then gates) the INV of the
    # node if needed, and for a gate the gate itself followed by its INV
    has_gate = circuit.kinds >= AND
    per_node = has_gate.astype(np.int64) + inverted
    per_node[0] = 0
    start = num_inputs + np.cumsum(per_node) - per_node  # first wire of each node
    wire = np.full(n, -1, dtype=np.int64)
    wire[1:num_inputs + 1] = np.arange(num_inputs)
    wire[gates] = start[gates]
    inv_wire = np.where(has_gate, start + 1, start)

    def source(lit: np.ndarray) -> np.ndarray:
        return np.where(lit & 1, inv_wire[lit >> 1], wire[lit >> 1])

    lines: list[tuple[int, str]] = []
    inv_inputs = np.flatnonzero(inverted[1:num_inputs + 1]) + 1
    lines += [(int(inv_wire[i]), f"1 1 {wire[i]} {inv_wire[i]} INV") for i in inv_inputs]
    names = np.where(circuit.kinds[gates] == AND, "AND", "XOR")
    for g, x, y, op in zip(gates.tolist(), source(circuit.a[gates]).tolist(),
                           source(circuit.b[gates]).tolist(), names, strict=True):
        lines.append((int(wire[g]), f"2 1 {x} {y} {wire[g]} {op}"))
        if inverted[g]:
            lines.append((int(inv_wire[g]), f"1 1 {wire[g]} {inv_wire[g]} INV"))
    lines.sort(key=lambda item: item[0])  # input INVs sit before the first gate's wire
    first_out = num_inputs + int(per_node[1:].sum())
    outputs = np.concatenate([p.bits for p in output_ports(circuit)]) \
        if circuit.outputs.size else np.zeros(0, dtype=np.int64)
    body = [text for _, text in lines]
    for k, lit in enumerate(outputs.tolist()):
        out = first_out + k
        if lit >> 1 == 0:
            body.append(f"1 1 {lit & 1} {out} EQ")
        elif lit & 1:
            body.append(f"1 1 {wire[lit >> 1]} {out} INV")
        else:
            body.append(f"1 1 {wire[lit >> 1]} {out} EQW")
    in_values = steps_of(input_ports(circuit), circuit, inputs=True)
    out_values = steps_of(output_ports(circuit), circuit, inputs=False)
    header = [f"{len(body)} {first_out + len(outputs)}",
              " ".join(map(str, [len(in_values)] + in_values)),
              " ".join(map(str, [len(out_values)] + out_values)), ""]
    return "\n".join(header + body) + "\n"
