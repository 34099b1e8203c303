"""The ``lower.boolean`` stage: fixed-width integer gates -> AND/XOR/NOT (see `rnncirc.boolean`).

Kept here so that the lowering stages sit side by side (unroll, prefix, scalarize, boolean);
the implementation lives in the `rnncirc.boolean` package.
"""

from rnncirc.boolean.lower import compile_boolean, to_boolean

__all__ = ["compile_boolean", "to_boolean"]
