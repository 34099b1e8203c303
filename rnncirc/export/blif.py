"""BLIF export of a boolean circuit, with named nets (Berkeley Logic Interchange Format, 1992).

Where this sits: like the AIGER export it writes the pure AIG (`BooleanCircuit.aig()`, each XOR
as three ANDs), one ``.names`` block per AND gate with its single-cube cover, so that ABC's
``read x.blif; strash; print_stats`` reports the same ``and`` and ``lev`` as rnncirc. Inputs and
outputs carry their port bit names (`rnncirc.export.ports`, e.g. ``x_3_0[5]``, ``h_8_1[7]``),
internal nets are ``n<node>``; an output gets a buffer or inverter block (no AND), a constant
output a constant block.
"""

from __future__ import annotations

import numpy as np

from rnncirc.export.ports import input_bit_names, module_name, output_bit_names
from rnncirc.ir.aig import AND, BooleanCircuit

_PER_LINE = 16


def write_blif(circuit: BooleanCircuit, path: str) -> None:
    with open(path, "w") as out:
        out.write(blif_text(circuit))


def blif_text(circuit: BooleanCircuit) -> str:
    aig = circuit.aig()
    inputs = input_bit_names(circuit)
    outputs = output_bit_names(circuit)
    net = np.array(["const0"] + inputs + [f"n{i}" for i in range(aig.num_inputs + 1,
                                                               aig.num_nodes)], dtype=object)
    gates = np.flatnonzero(aig.kinds == AND)
    a, b = aig.a[gates], aig.b[gates]
    info = circuit.info
    parts = [f"# rnncirc boolean circuit: model {info.model}, length {info.length}, "
             f"{info.width}-bit words; each XOR written as 3 ANDs\n",
             f".model {module_name(circuit)}\n",
             _declare(".inputs", inputs), _declare(".outputs", outputs)]
    covers = ((a & 1) ^ 1) * 10 + ((b & 1) ^ 1)  # "11" for AND(x, y), "01" for AND(~x, y) ...
    rows = zip(net[a >> 1], net[b >> 1], net[gates], covers.tolist(), strict=True)
    parts.append("".join(f".names {x} {y} {z}\n{c:02d} 1\n" for x, y, z, c in rows))
    for name, lit in zip(outputs, aig.outputs.ravel().tolist(), strict=True):
        if lit >> 1 == 0:
            parts.append(f".names {name}\n" + ("1\n" if lit & 1 else ""))
        else:
            parts.append(f".names {net[lit >> 1]} {name}\n{(lit & 1) ^ 1} 1\n")
    parts.append(".end\n")
    return "".join(parts)


def _declare(keyword: str, names: list[str]) -> str:
    if not names:
        return f"{keyword}\n"
    lines = [" ".join(names[i:i + _PER_LINE]) for i in range(0, len(names), _PER_LINE)]
    return f"{keyword} " + " \\\n".join(lines) + "\n"
