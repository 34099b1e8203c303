"""Write a `BooleanCircuit` in the format its file extension names.

Where this sits: the one dispatch from a path to the writers beside it (AIGER, BLIF, Verilog,
Bristol Fashion); `BooleanCircuit.write` and ``rnncirc boolean -o`` call it.
"""

from __future__ import annotations

import os

from rnncirc.ir.aig import BooleanCircuit
from rnncirc.lower.boolean.semantics import BooleanLoweringError

#: export formats by file extension
FORMATS = {".aag": "AIGER (ASCII)", ".aig": "AIGER (binary)", ".blif": "BLIF",
           ".v": "Verilog", ".bristol": "Bristol Fashion"}


class ExportFormatError(BooleanLoweringError):
    """The output file's extension names no supported format."""


def write_circuit(circuit: BooleanCircuit, path: str) -> str:
    """Write `circuit` in the format named by the extension of `path`; return the format."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext == ".txt":  # the published Bristol Fashion circuits are .txt files
        ext = ".bristol"
    if ext not in FORMATS:
        raise ExportFormatError(f"cannot tell the format of {path!r} from its extension; use "
                                f"one of {', '.join(FORMATS)} (or .txt for Bristol Fashion)")
    if ext in (".aag", ".aig"):
        from rnncirc.export.aiger import write_aiger

        write_aiger(circuit, path, binary=ext == ".aig")
    elif ext == ".blif":
        from rnncirc.export.blif import write_blif

        write_blif(circuit, path)
    elif ext == ".v":
        from rnncirc.export.verilog import write_verilog

        write_verilog(circuit, path)
    else:
        from rnncirc.export.bristol import write_bristol

        write_bristol(circuit, path)
    return FORMATS[ext]
