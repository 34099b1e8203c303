"""What "best" means when rnncirc chooses among circuits that compute the same thing.

Where this sits: `compiler.resolve_topology` ranks the networks `topology="auto"` may pick,
and `lower.linear` / `lower.measure` rank the forms a structured A can be combined in (its
own algebra, or dense matrices where those come out shallower). Both compare exact (depth,
size) pairs by one of these keys.

- ``"depth"`` (the default): least circuit depth, then fewest gates. What a circuit's
  parallel time, a zero-knowledge prover's rounds and an FHE scheme's multiplicative budget
  follow.
- ``"size"``: fewest gates, then least depth. What a CPU evaluation's time follows (it runs
  every gate, a level at a time), and what a proof's or a netlist's cost counts.
- ``"balanced"``: least depth × size (the area–time product of VLSI), then depth.
"""

from __future__ import annotations

from rnncirc.errors import OptionError

OBJECTIVES = ("depth", "size", "balanced")


def check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise OptionError(f"unknown objective {objective!r}; choose one of "
                          f"{', '.join(OBJECTIVES)}")


def rank(objective: str, depth: int, size: int) -> tuple[int, int]:
    """Sort key of a circuit of this depth and size: smaller is better."""
    if objective == "size":
        return size, depth
    if objective == "balanced":
        return depth * size, depth
    return depth, size
