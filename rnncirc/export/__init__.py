"""Exports of models and circuits: Graphviz DOT (`to_dot`), and the profile/dot commands."""

from rnncirc.export.dot import to_dot

__all__ = ["to_dot"]
