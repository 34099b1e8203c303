"""Boolean circuits: fixed-width lowering of arithmetic circuits to AND/XOR/NOT, evaluation.

``to_boolean(circuit, width=w)`` reads every value as a w-bit word (`semantics`), lowers each
(level, op) group of gates with vectorized word constructions (`words`) into a structurally
hashed AND/XOR graph (`aig`), evaluated 64 vectors per machine word (`evaluate`) and written
by ``rnncirc.export`` (AIGER, BLIF, Bristol Fashion, Verilog).
"""

from rnncirc.boolean.aig import BooleanCircuit
from rnncirc.boolean.lower import compile_boolean, to_boolean
from rnncirc.boolean.semantics import (
    BooleanLoweringError,
    IntSemantics,
    WidthError,
    evaluate_int,
)

__all__ = ["BooleanCircuit", "BooleanLoweringError", "IntSemantics", "WidthError",
           "compile_boolean", "evaluate_int", "to_boolean"]
