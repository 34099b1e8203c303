"""Intermediate representations: the tensor-level CellGraph and the gate-level Circuit."""
