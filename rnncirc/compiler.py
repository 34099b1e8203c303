"""`rc.compile`: the whole lowering as one short function of named steps.

Where this sits: the one driver of the pipeline, above the stages (`lower`) and below what
uses circuits (`analyze`, `eval`, `export`, `cli`). `compile_model` returns a `Compilation`
(the classification, the concrete topology, the circuit, the time it took) that the compile
report, profiles and ``rnncirc run`` take instead of calling the stages themselves.
"""

from __future__ import annotations

import numbers
import time
from dataclasses import dataclass

from rnncirc.errors import NotLinearError, OptionError
from rnncirc.frontend.model import RNN
from rnncirc.ir.circuit import Circuit
from rnncirc.lower import prefix

#: every value of ``topology``: "auto", or one of the networks `lower.prefix` builds
TOPOLOGIES = ("auto",) + prefix.TOPOLOGIES
OUTPUTS = ("all", "last")


def check_options(model, length, topology: str, outputs: str) -> None:
    if not isinstance(model, RNN):
        raise OptionError(f"expected an rnncirc RNN (made with @rc.rnn), got "
                          f"{type(model).__name__}")
    if not isinstance(length, numbers.Integral) or isinstance(length, bool) or length < 1:
        raise OptionError(f"length must be an integer >= 1, got {length!r}")
    if topology not in TOPOLOGIES:
        raise OptionError(f"unknown topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")
    if outputs not in OUTPUTS:
        raise OptionError(f"outputs must be 'all' or 'last', got {outputs!r}")


def compile(model: RNN, length: int, *, topology: str = "auto",  # noqa: A001 - public name
            outputs: str = "all", domain: str = "real", width: int | None = None,
            **boolean_options):
    """Compile `model` over `length` steps into a gate-level `Circuit`.

    Parameters
    ----------
    model : RNN — made with ``@rc.rnn``.
    length : int — the sequence length n (>= 1).
    topology : str — ``"auto"``, ``"sequential"`` or a prefix-network family.
    outputs : ``"all"`` (every h_t) or ``"last"`` (only h_n).
    domain : ``"real"`` (an arithmetic circuit, the default) or ``"int"``: the same circuit
        lowered to AND/XOR/NOT on `width`-bit two's-complement words (a `BooleanCircuit`;
        further keyword arguments go to `rc.to_boolean`).

    Examples
    --------
    >>> import rnncirc as rc
    >>> @rc.rnn(state=1, inputs=1)
    ... def running_sum(h, x):
    ...     return h + x
    >>> circuit = rc.compile(running_sum, 8, topology="sequential")
    >>> circuit.size, circuit.depth
    (7, 7)
    """
    if domain not in ("real", "int"):
        raise OptionError(f"domain must be 'real' or 'int', got {domain!r}")
    if domain == "int":
        return compile_boolean(model, length, 8 if width is None else width, topology,
                               outputs, **boolean_options)
    if width is not None or boolean_options:
        raise OptionError("width and boolean options need domain='int'")
    return compile_model(model, length, topology=topology, outputs=outputs).circuit


@dataclass(frozen=True, eq=False)
class Compilation:
    """One run of the pipeline: what was asked, what was decided, what was built."""

    model: RNN
    length: int
    #: the topology asked for ("auto" included) and the one built
    requested_topology: str
    topology: str
    outputs: str
    classification: object  # lower.classify.Classification
    circuit: Circuit
    #: classify + choose + build, in seconds
    seconds: float


def compile_model(model: RNN, length: int, *, topology: str = "auto",
                  outputs: str = "all") -> Compilation:
    """Classify `model`, choose the topology, build the circuit: a `Compilation`.

    Examples
    --------
    >>> import rnncirc as rc
    >>> from rnncirc.compiler import compile_model
    >>> @rc.rnn(state=1, inputs=1)
    ... def running_sum(h, x):
    ...     return h + x
    >>> done = compile_model(running_sum, 8)
    >>> done.classification.kind, done.topology, done.circuit.depth
    ('scalar', 'sklansky', 3)
    """
    check_options(model, length, topology, outputs)
    start = time.perf_counter()
    # classify (exact, from the cell) -> pick the lowering -> build the gate-level circuit
    cls = classify_model(model)
    chosen = resolve_topology(model, cls, int(length), topology, outputs)
    circuit = lower(model, cls, int(length), chosen, outputs)
    return Compilation(model, int(length), topology, chosen, outputs, cls, circuit,
                       time.perf_counter() - start)


def compile_boolean(model: RNN, length: int, width: int = 8, topology: str = "auto",
                    outputs: str = "all", **options):
    """``compile(model, length, topology=..., outputs=...)`` lowered by `rc.to_boolean`.

    `options` are `to_boolean`'s keyword arguments (signed, frac_bits, adder, multiplier,
    symbols). ``compile(..., domain="int", width=w)`` and ``rnncirc boolean`` call this.
    """
    from rnncirc.lower.boolean import to_boolean

    circuit = compile(model, length, topology=topology, outputs=outputs)
    return to_boolean(circuit, width, **options)


def classify_model(model: RNN):
    from rnncirc.lower.classify import classify

    return classify(model)


def resolve_topology(model: RNN, cls, length: int, topology: str, outputs: str) -> str:
    """The concrete topology: "auto" is the parallel network of least circuit depth, then size.

    Scalar, diagonal and permutation combines cost the same gates and depth wherever they
    sit, so their circuits order exactly as their networks (depth, then combines). Dense and
    DPLR ones do not (A and B parts deepen at different rates per level, and a DPLR combine's
    cost follows the rank of its segments), so for those the circuit depth and size of every
    candidate are computed exactly by `lower.measure` (a fraction of the gates of a build).
    """
    if topology == "sequential":
        return topology
    if not cls.is_linear:
        if topology == "auto":
            return "sequential"
        raise NotLinearError(f"topology {topology!r} needs a step that is linear in the "
                             f"state, but {cls.reason}; use --topology sequential (or auto)")
    if topology != "auto":
        return topology
    if length == 1:
        return "sequential"
    from rnncirc.ir.memory import fits
    from rnncirc.lower.linear import estimate_gates

    candidates = [t for t in prefix.TOPOLOGIES if t != "sequential"]
    networks = [prefix.build(length, t, outputs) for t in candidates]
    # a network whose circuit would not fit in memory is passed over (DPLR and dense
    # combines make some networks far bigger than others)
    usable = [i for i in range(len(candidates)) if fits(estimate_gates(cls, networks[i]))]
    if not usable:  # none fits: the lowering refuses it with the estimate
        return candidates[min(range(len(candidates)),
                              key=lambda i: (networks[i].depth, networks[i].size, i))]
    if cls.kind in ("dense", "dplr"):
        from rnncirc.lower.measure import measure_linear

        cost = {i: measure_linear(model, cls, length, candidates[i], outputs, networks[i])
                for i in usable}
        return candidates[min(usable, key=lambda i: (cost[i].depth, cost[i].size, i))]
    return candidates[min(usable, key=lambda i: (networks[i].depth, networks[i].size, i))]


def lower(model: RNN, cls, length: int, topology: str, outputs: str) -> Circuit:
    from rnncirc.lower.linear import lower_linear
    from rnncirc.lower.unroll import unroll

    if topology == "sequential":
        circuit = unroll(model, length, outputs)
        return circuit.with_info(kind=cls.kind)
    return lower_linear(model, cls, length, topology, outputs)
