"""Lowering passes: cell -> gate-level circuit (unroll, prefix networks, scalarize)."""
