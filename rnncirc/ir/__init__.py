"""The ground floor: the op table, the tensor-level CellGraph, the gate-level Circuit and its
builder, the graph algorithms every layer uses (levels, liveness, critical path), the
reference interpreter (the oracle), memory estimates and the boolean and-inverter graph."""
