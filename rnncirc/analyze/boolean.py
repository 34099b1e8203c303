"""The facts reported about a boolean circuit: counts, depths, widths per level, semantics.

Where this sits: data for ``rnncirc boolean`` (printed and ``--json``) and
`BooleanCircuit.report`.
"""

from __future__ import annotations

from rnncirc.ir.aig import BooleanCircuit


def boolean_report(circuit: BooleanCircuit) -> dict:
    """The facts ``rnncirc boolean`` prints: counts, depths, level widths, semantics."""
    info = circuit.info
    aig = circuit.aig()
    return {
        "model": info.model,
        "length": info.length,
        "topology": info.topology,
        "outputs": info.outputs,
        "width": info.width,
        "signed": info.signed,
        "frac_bits": info.frac_bits,
        "adder": info.adder,
        "multiplier": info.multiplier,
        "symbols": info.symbols if info.alphabet else None,
        **{key: info.extra[key] for key in ("constants", "constants_rounded_to_zero",
                                            "constants_wrapped", "constant_range")
           if key in info.extra},
        "input_bits": circuit.num_inputs,
        "output_bits": int(circuit.outputs.size),
        "and_count": circuit.and_count,
        "xor_count": circuit.xor_count,
        "depth": circuit.depth,
        "and_depth": circuit.and_depth,
        "aig_and_count": aig.and_count,
        "aig_depth": aig.depth,
        "width_per_level": circuit.width_per_level.tolist(),
        "ands_per_and_level": circuit.ands_per_and_level.tolist(),
    }
