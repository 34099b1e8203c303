"""Boolean circuits: fixed-width lowering of arithmetic circuits to AND/XOR/NOT, evaluation.

``to_boolean(circuit, width=w)`` reads every value as a w-bit word (`semantics`), lowers each
(level, op) group of gates with vectorized word constructions (`words`) into a structurally
hashed AND/XOR graph (`rnncirc.ir.aig`), evaluated 64 vectors per machine word
(`rnncirc.eval.boolean`) and written by `rnncirc.export` (AIGER, BLIF, Bristol Fashion,
Verilog). `rnncirc.compiler.compile_boolean` is the whole path from a model.
"""

from rnncirc.ir.aig import BooleanCircuit
from rnncirc.lower.boolean.lowering import to_boolean
from rnncirc.lower.boolean.semantics import (
    BooleanLoweringError,
    IntSemantics,
    WidthError,
    evaluate_int,
)

__all__ = ["BooleanCircuit", "BooleanLoweringError", "IntSemantics", "WidthError",
           "evaluate_int", "to_boolean"]
