"""Names of a boolean circuit's input and output words, shared by every export format.

A port is one word. Inputs of a real-input model: ``x_<t>_<s>`` (step t = 1..n, input s),
``width`` bits; of an alphabet model: ``x_<t>``, one bit per symbol (one-hot) or the bits of
the symbol's code (binary). Outputs: ``h_<t>_<i>``, state element i (flattened) after step t,
``width`` bits. Bit j of a port is ``<port>[j]``, least significant first (a one-bit port is
just ``<port>``), so BLIF, AIGER symbols and Verilog vector ports name the same bit the same
way, and ABC's ``cec`` can match two exports of the same model by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rnncirc.ir.aig import BooleanCircuit


@dataclass(frozen=True)
class Port:
    name: str
    bits: np.ndarray  # input: node ids of its bits; output: literals of its bits

    @property
    def width(self) -> int:
        return len(self.bits)

    def bit_names(self) -> list[str]:
        """``name[j]``; a one-bit port is just ``name`` (as Yosys names a [0:0] vector)."""
        if self.width == 1:
            return [self.name]
        return [f"{self.name}[{j}]" for j in range(self.width)]


def input_ports(circuit: BooleanCircuit) -> list[Port]:
    """Input words in input-bit order (their bits are consecutive input nodes)."""
    shape = circuit.input_shape
    nodes = np.arange(1, circuit.num_inputs + 1)
    if len(shape) == 3:  # (n, K, width)
        n, k, width = shape
        grouped = nodes.reshape(n * k, width)
        return [Port(f"x_{t + 1}_{s}", grouped[t * k + s]) for t in range(n) for s in range(k)]
    if len(shape) == 2:  # alphabet: (n, bits per step)
        grouped = nodes.reshape(shape)
        return [Port(f"x_{t + 1}", grouped[t]) for t in range(shape[0])]
    return [Port(f"x_{i}", nodes[i:i + 1]) for i in range(len(nodes))]


def output_ports(circuit: BooleanCircuit) -> list[Port]:
    """Output words in output order."""
    outputs = circuit.outputs
    info = circuit.info
    if outputs.ndim >= 2 and info.length:
        steps = outputs.shape[0]
        first = info.length - steps + 1  # "last": the one step is n
        flat = outputs.reshape(steps, -1, outputs.shape[-1])
        return [Port(f"h_{first + t}_{i}", flat[t, i]) for t in range(steps)
                for i in range(flat.shape[1])]
    if outputs.ndim >= 2:
        flat = outputs.reshape(-1, outputs.shape[-1])
        return [Port(f"y_{i}", flat[i]) for i in range(len(flat))]
    return [Port(f"y_{i}", outputs.reshape(-1)[i:i + 1]) for i in range(outputs.size)]


def input_bit_names(circuit: BooleanCircuit) -> list[str]:
    return [name for port in input_ports(circuit) for name in port.bit_names()]


def output_bit_names(circuit: BooleanCircuit) -> list[str]:
    return [name for port in output_ports(circuit) for name in port.bit_names()]


def module_name(circuit: BooleanCircuit) -> str:
    """A Verilog/BLIF-safe identifier for the circuit."""
    name = re.sub(r"\W", "_", circuit.info.model or "circuit")
    return name if re.match(r"[A-Za-z_]", name) else "m_" + name


def steps_of(ports: list[Port], circuit: BooleanCircuit, inputs: bool) -> list[int]:
    """Bits per step: the value widths Bristol Fashion lists (one value per time step)."""
    if inputs:
        shape = circuit.input_shape
        if len(shape) >= 2:
            return [int(np.prod(shape[1:]))] * shape[0]
        return [port.width for port in ports]
    outputs = circuit.outputs
    if outputs.ndim >= 2 and circuit.info.length:
        return [int(np.prod(outputs.shape[1:]))] * outputs.shape[0]
    return [port.width for port in ports]
