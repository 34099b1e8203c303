"""Analyses of cells and circuits: levels, depth, critical path, formulas, classification."""
