"""How many AND/XOR nodes a boolean lowering will make, from short samples of the model.

Where this sits: beside `lowering`, for `rnncirc.compiler`, which refuses a boolean circuit
that would not fit before anything is built at the length asked for, and under "auto" passes
over the networks whose boolean circuit would not fit.

A W-bit word op costs from a few nodes (an add) to thousands (a lookup table at 12 bits), and
constant operands fold, so the estimate comes from the model itself: its circuit is lowered
at one or two short lengths (`nodes_per_gate`), and those nodes per arithmetic gate scale a
network's gates at the longest sample, grown to n as the network's closed-form estimate grows
(`lower.linear_estimate.estimate_gates_from_n`; an unroll grows as n). That closed form counts the
combines, not the model's own gates that make each step's leaves, so it is a growth rate here,
never a size. An op costs more the longer the circuit (longer products quantize to constants
and repeat less often, so fewer fold or hash to an existing node): its growth between two
samples, per doubling of n, is carried on to n, which over-estimates the slowing growth a
little.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from rnncirc.ir.circuit import Circuit
from rnncirc.ir.ops import ARITY, Op
from rnncirc.lower import segment_sum
from rnncirc.lower.boolean.lowering import nodes_per_gate
from rnncirc.lower.linear_estimate import estimate_gates_from_n
from rnncirc.lower.segment_lower import estimate_gates_from_n as segment_gates_from_n

#: a circuit of the model at a length on a network (the compiler's `compile`, cached)
Sampler = Callable[[int, str], Circuit]


class NodeEstimate:
    """AND/XOR nodes of the boolean lowering of `cls`'s model at any length and network.

    `sample` builds the model's circuit at a short length; `lengths` are the one or two
    sample lengths (the per-op costs come from `network`'s samples, the op mix of another
    network from its sample at the longest).
    """

    def __init__(self, sample: Sampler, cls, network: str, outputs: str, width: int,
                 options: dict, lengths: tuple[int, ...]):
        self._sample, self._cls, self._outputs, self.network = sample, cls, outputs, network
        self._lengths = lengths
        self._costs = [nodes_per_gate(sample(k, network), width, **options) for k in lengths]

    def nodes(self, k: int, network: str | None = None) -> int:
        network = network or self.network
        gates = sum(self._op_counts(network).values()) * self._growth(k, network)
        return int(self.per_gate(k, network) * gates)

    def per_gate(self, k: int, network: str | None = None) -> float:
        """Nodes per arithmetic gate of `network` at length `k`: its op mix, each op at what
        it costs at `k` by the samples (an op the samples lack at the dearest)."""
        first, last = self._costs[0], self._costs[-1]
        cost = {op: self._op_cost(first[op], last.get(op, first[op]), k) for op in first}
        dearest = max(cost.values(), default=1.0)
        counts = self._op_counts(network or self.network)
        return sum(count * cost.get(op, dearest) for op, count in counts.items()) / \
            max(1, sum(counts.values()))

    def _op_cost(self, first: float, last: float, k: int) -> float:
        """An op's nodes per gate at `k`: the growth per doubling of n between the samples,
        carried on (never less than the samples' larger cost)."""
        doublings = math.log2(self._lengths[-1] / self._lengths[0])
        slope = max(0.0, last - first) / doublings if doublings else 0.0
        return max(first, last) + slope * max(0.0, math.log2(k / self._lengths[-1]))

    def _op_counts(self, network: str) -> dict[Op, int]:
        """`network`'s gates of each op at the longest sample (a segment-sum circuit is
        mostly products, a scan's leaves weigh more)."""
        circuit = self._sample(self._lengths[-1], network)
        ops, counts = np.unique(circuit.op[ARITY[circuit.op] > 0], return_counts=True)
        return {Op(int(op)): int(count) for op, count in zip(ops, counts, strict=True)}

    def _growth(self, k: int, network: str) -> float:
        """The arithmetic gates at length `k` over those at the longest sample."""
        at = self._lengths[-1]
        if network == "sequential":
            return k / at
        estimate = segment_gates_from_n if network in segment_sum.TOPOLOGIES else \
            estimate_gates_from_n
        return estimate(self._cls, k, network, self._outputs) / \
            estimate(self._cls, at, network, self._outputs)
