"""`rc.compile`: the whole lowering as one short function of named steps.

Where this sits: the one driver of the pipeline, above the stages (`lower`) and below what
uses circuits (`analyze`, `eval`, `export`, `cli`). `compile_model` returns a `Compilation`
(the classification, the concrete topology, the circuit, the time it took) that the compile
report, profiles and ``rnncirc run`` take instead of calling the stages themselves.
"""

from __future__ import annotations

import functools
import numbers
import time
from dataclasses import dataclass

from rnncirc.errors import NotLinearError, OptionError
from rnncirc.frontend.model import RNN
from rnncirc.frontend.program import Program, check_model
from rnncirc.ir.circuit import Circuit
from rnncirc.lower import prefix, segment_sum
from rnncirc.lower.objective import check_objective, rank

#: every value of ``topology``: "auto", one of the networks `lower.prefix` builds, or a
#: segment-sum construction (`lower.segment_sum`)
TOPOLOGIES = ("auto",) + prefix.TOPOLOGIES + segment_sum.TOPOLOGIES
OUTPUTS = ("all", "last")


def check_options(model, length, topology: str, outputs: str,
                  objective: str = "depth") -> None:
    check_model(model)
    check_objective(objective)
    if not isinstance(length, numbers.Integral) or isinstance(length, bool) or length < 1:
        raise OptionError(f"length must be an integer >= 1, got {length!r}")
    if topology not in TOPOLOGIES:
        raise OptionError(f"unknown topology {topology!r}; choose one of {', '.join(TOPOLOGIES)}")
    if outputs not in OUTPUTS:
        raise OptionError(f"outputs must be 'all' or 'last', got {outputs!r}")


def compile(model: RNN, length: int, *, topology: str = "auto",  # noqa: A001 - public name
            outputs: str = "all", objective: str = "depth", domain: str = "real",
            width: int | None = None, **boolean_options):
    """Compile `model` over `length` steps into a gate-level `Circuit`.

    Parameters
    ----------
    model : RNN or Program — made with ``@rc.rnn`` or ``@rc.program``.
    length : int — the sequence length n (>= 1).
    topology : str — ``"auto"``, ``"sequential"`` or a prefix-network family (for a program:
        of every linear layer; nonlinear layers are unrolled).
    outputs : ``"all"`` (every h_t) or ``"last"`` (only h_n).
    objective : what "best" means where rnncirc chooses (the network under ``"auto"``, and
        the form a permutation-diagonal or DPLR A is combined in): ``"depth"`` (least depth,
        then fewest gates; the default), ``"size"`` (fewest gates, then depth: what a CPU
        evaluation's time follows) or ``"balanced"`` (least depth x size).
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
                               outputs, objective=objective, **boolean_options)
    if width is not None or boolean_options:
        raise OptionError("width and boolean options need domain='int'")
    return compile_model(model, length, topology=topology, outputs=outputs,
                         objective=objective).circuit


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
    #: what "best" meant for the choices (`lower.objective`)
    objective: str = "depth"


def compile_model(model: RNN, length: int, *, topology: str = "auto",
                  outputs: str = "all", objective: str = "depth",
                  prefix_only: bool = False) -> Compilation:
    """Classify `model`, choose the topology, build the circuit: a `Compilation`.

    `prefix_only`: "auto" chooses among the prefix networks only (the diagrams draw scans).

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
    check_options(model, length, topology, outputs, objective)
    if isinstance(model, Program):
        return compile_program(model, int(length), topology, outputs, objective=objective,
                               prefix_only=prefix_only)
    start = time.perf_counter()
    # classify (exact, from the cell) -> pick the lowering -> build the gate-level circuit
    cls = classify_model(model)
    built: dict = {}
    chosen = resolve_topology(model, cls, int(length), topology, outputs, objective, built,
                              prefix_only)
    circuit = built.pop(chosen, None)
    if circuit is None:
        circuit = lower(model, cls, int(length), chosen, outputs, objective)
    return Compilation(model, int(length), topology, chosen, outputs, cls, circuit,
                       time.perf_counter() - start, objective)


def compile_program(program: Program, length: int, topology: str, outputs: str,
                     layer_topologies: dict[str, str] | None = None,
                     objective: str = "depth", prefix_only: bool = False) -> Compilation:
    """Every layer compiled as a single RNN would be (its own kind, the topology for linear
    layers, the unroll for nonlinear ones) and spliced into one circuit (`lower.program`).
    `layer_topologies` (layer name -> topology) fixes each layer's network instead (the
    formulas of a program's family)."""
    from rnncirc.lower.program import lower_program

    start = time.perf_counter()
    cls = classify_model(program)
    ensure_feasible(program, length, topology, outputs)
    used: list[str] = []

    def choose(layer, layer_outputs: str):
        from rnncirc.lower.measure import best_form

        layer_cls = classify_model(layer.model)
        if layer_topologies is not None:
            chosen = layer_topologies[layer.name]
        elif not layer_cls.is_linear:
            chosen = "sequential"
        else:
            chosen = resolve_topology(layer.model, layer_cls, length, topology, layer_outputs,
                                      objective, prefix_only=prefix_only)
        used.append(chosen)
        form = layer_cls
        if chosen in prefix.TOPOLOGIES and chosen != "sequential":
            form = best_form(layer.model, layer_cls, length, chosen, layer_outputs, objective)
        return chosen, layer_cls, form

    # the closed forms count leaf gates low (by a quarter on the gallery): reserve a third
    # more, so the rows are not copied by doubling; what is left over is given back
    capacity = int(_PROGRAM_RESERVE * _program_gates(program, topology, outputs)(length))
    circuit = lower_program(program, length, outputs, choose, topology, cls.kind, capacity)
    chosen = "+".join(dict.fromkeys(used)) or "position-wise"
    circuit = circuit.with_info(topology=chosen)
    return Compilation(program, length, topology, chosen, outputs, cls, circuit,
                       time.perf_counter() - start, objective)


#: rows reserved for a program's circuit, per gate estimated from n
_PROGRAM_RESERVE = 1.35


def compile_boolean(model: RNN, length: int, width: int = 8, topology: str = "auto",
                    outputs: str = "all", objective: str = "depth", **options):
    """``compile(model, length, topology=..., outputs=...)`` lowered by `rc.to_boolean`.

    `options` are `to_boolean`'s keyword arguments (signed, frac_bits, adder, multiplier,
    symbols). ``compile(..., domain="int", width=w)`` and ``rnncirc boolean`` call this.
    Under "auto" the network is chosen by `objective` among those whose boolean circuit is
    estimated to fit in memory.
    """
    from rnncirc.lower.boolean import to_boolean

    ensure_feasible(model, length, topology, outputs)
    admit = _ensure_boolean_fits(model, int(length), topology, outputs, width, options)
    if isinstance(model, Program) or admit is None:
        circuit = compile(model, length, topology=topology, outputs=outputs,
                          objective=objective)
    else:
        cls = classify_model(model)
        built: dict = {}
        chosen = resolve_topology(model, cls, int(length), topology, outputs, objective, built,
                                  admit=admit)
        circuit = built.pop(chosen, None) or lower(model, cls, int(length), chosen, outputs,
                                                   objective)
        circuit = circuit.with_info(topology=chosen)
    return to_boolean(circuit, width, **options)


#: the lengths of the samples whose boolean lowerings give the nodes per arithmetic gate:
#: the first alone judges a request far too large (cheaply: a sample at 64 steps of a
#: 12-bit lowering is itself tens of MB), both judge one that may fit
_BOOLEAN_SAMPLES = (16, 64)


def _ensure_boolean_fits(model: RNN, length: int, topology: str, outputs: str, width: int,
                         options: dict):
    """Refuse, before anything is built at `length`, a boolean circuit that would not fit;
    under "auto" on a linear RNN return which networks auto may choose (those whose boolean
    circuit is estimated to fit), else None.

    The estimate (`lower.boolean.estimate`) lowers the model's circuit at short lengths on
    the network asked for (under "auto" the one of fewest gates). The bytes are those the
    builder peaks at (`ir.aig.PEAK_BYTES_PER_NODE`), not those of the finished circuit; the
    builder still refuses its own growth should the estimate be low.
    """
    from rnncirc.ir.aig import PEAK_BYTES_PER_NODE
    from rnncirc.ir.memory import ensure_fits, fits
    from rnncirc.lower.boolean.estimate import NodeEstimate

    if length <= _BOOLEAN_SAMPLES[-1]:
        return None  # the samples would be as large as the circuit
    cls = classify_model(model)
    # the network asked for (its samples are built, so a segment-sum one needs no stand-in)
    chosen = "sequential" if not cls.is_linear else topology if topology != "auto" else \
        _fewest_gates(cls, length, topology, outputs)

    @functools.cache
    def sample(k: int, network: str) -> Circuit:
        return compile(model, k, topology=network, outputs=outputs)

    for lengths in (_BOOLEAN_SAMPLES[:1], _BOOLEAN_SAMPLES):
        estimate = NodeEstimate(sample, cls, chosen, outputs, width, options, lengths)
        ensure_fits(estimate.nodes(length), PEAK_BYTES_PER_NODE,
                    f"the {width}-bit boolean lowering of {model.name} over {length:,} steps "
                    f"(about {estimate.per_gate(length):,.0f} AND/XOR nodes per arithmetic "
                    f"gate)", "use a smaller --length or --width", rows_at=estimate.nodes,
                    length=length, unit="AND/XOR nodes", rows_at_least=len(lengths) == 1)
    if topology != "auto" or not cls.is_linear:
        return None
    return lambda network: fits(estimate.nodes(length, network), PEAK_BYTES_PER_NODE)


def ensure_feasible(model: RNN, length: int, topology: str = "auto",
                    outputs: str = "all") -> None:
    """Refuse, before any circuit is built, a compilation that could not fit in memory.

    The estimates come from n alone (closed forms of the networks, one step template for an
    unroll), so a profile can check its longest length before it compiles the shorter ones.
    Under "auto" the candidate of fewest gates is the one that must fit.
    """
    from rnncirc.lower.linear_estimate import ensure_lowering_fits
    from rnncirc.lower.unroll import ensure_unroll_fits

    check_options(model, length, topology, outputs)
    if isinstance(model, Program):
        _ensure_program_fits(model, int(length), topology, outputs)
        return
    cls = classify_model(model)
    if topology == "sequential" or not cls.is_linear or length == 1:
        ensure_unroll_fits(model, int(length))
        return
    if topology in segment_sum.TOPOLOGIES:  # its lowering refuses before it builds
        return
    ensure_lowering_fits(model, cls, int(length), _fewest_gates(cls, length, topology, outputs),
                         outputs)


def _ensure_program_fits(program: Program, length: int, topology: str, outputs: str) -> None:
    """A program's gates are its layers' (each estimated as `ensure_feasible` estimates a
    single RNN) plus its position-wise gates per position times n; refused as a whole."""
    from rnncirc.ir.memory import BUILD_BYTES_PER_GATE, ensure_fits

    gates = _program_gates(program, topology, outputs)
    ensure_fits(gates(length), BUILD_BYTES_PER_GATE,
                f"program {program.name} over {length:,} positions", "use a smaller --length",
                rows_at=gates, length=length)
    for layer in program.layers:  # and each layer's own build must fit on its own
        ensure_feasible(layer.model, length, topology if classify_model(layer.model).is_linear
                        else "sequential", "all")


def _program_gates(program: Program, topology: str, outputs: str):
    """Gates of `program` as a function of n: its layers' estimates (each as `ensure_feasible`
    estimates a single RNN) plus its position-wise gates per position times n."""
    from rnncirc.lower.linear_estimate import estimate_gates_from_n
    from rnncirc.lower.program import position_wise_gates
    from rnncirc.lower.unroll import template_pair

    per_position = position_wise_gates(program)
    estimates = []
    for layer in program.layers:
        cls = classify_model(layer.model)
        k = layer.model.cell.input.size
        if topology == "sequential" or not cls.is_linear:
            first, step = template_pair(layer.model)
            estimates.append(lambda n, f=first, s=step, k=k: n * k + f.gates
                             + (n - 1) * s.gates)
        else:
            estimates.append(lambda n, c=cls: 0 if n == 1 else estimate_gates_from_n(
                c, n, _fewest_gates(c, n, topology, outputs), outputs))

    def gates(n: int) -> int:
        return per_position * n + sum(estimate(n) for estimate in estimates)

    return gates


def _fewest_gates(cls, length: int, topology: str, outputs: str) -> str:
    """`topology` itself, or under "auto" the network whose circuit has fewest estimated gates:
    auto never builds fewer, so an estimate on it is one the build would exceed too (nor
    does segment-sum, which stands in for it here)."""
    from rnncirc.lower.linear_estimate import estimate_gates_from_n

    if topology != "auto" and topology not in segment_sum.TOPOLOGIES:
        return topology
    return min((t for t in prefix.TOPOLOGIES if t != "sequential"),
               key=lambda t: estimate_gates_from_n(cls, length, t, outputs))


def classify_model(model: RNN | Program):
    from rnncirc.lower.layers import classify

    return classify(model)


def resolve_topology(model: RNN, cls, length: int, topology: str, outputs: str,
                     objective: str = "depth", built: dict | None = None,
                     prefix_only: bool = False, admit=None) -> str:
    """The concrete topology: "auto" is the parallel network whose circuit is best by
    `objective` (`lower.objective`: by default least depth, then size), segment-sum
    constructions included for the kinds they are built for.

    Depth and size are those of the circuit, computed exactly by `lower.measure` for every
    kind (a fraction of the gates of a build), never the network's: a combine's A and B parts
    deepen at different rates, a leaf adds its own depth, and a DPLR combine's cost follows the
    rank of its segments, so the network of fewest levels need not give the shallowest circuit
    (Kogge-Stone beats Sklansky wherever n is not a power of two).

    A segment-sum circuit is measured by building it; given a dict `built`, the circuit of
    the topology chosen is left there under its name, so that the caller does not build it
    twice. `admit` (topology -> bool) narrows the candidates further (a boolean lowering
    admits those whose boolean circuit would fit).
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
    from rnncirc.lower.linear_estimate import (
        ensure_lowering_fits,
        estimate_gates,
        estimate_gates_from_n,
    )
    from rnncirc.lower.measure import measure_linear

    candidates = [t for t in prefix.TOPOLOGIES if t != "sequential"]
    segment_candidates = [] if prefix_only else [
        t for t in segment_sum.TOPOLOGIES if _segment_sum_fits(cls, length, t, outputs)]
    if admit is not None:
        segment_candidates = [t for t in segment_candidates if admit(t)]
        candidates = [t for t in candidates if admit(t)] or [
            min(candidates, key=lambda t: estimate_gates_from_n(cls, length, t, outputs))]
    # a network whose circuit could not fit in memory is passed over before it is built (DPLR
    # and dense combines make some networks far bigger than others); when none could, the
    # one of fewest gates is refused with its estimate
    gates = {t: estimate_gates_from_n(cls, length, t, outputs) for t in candidates}
    hopeful = [t for t in candidates
               if fits(gates[t], extra=prefix.exact_size(t, outputs, length)
                       * prefix.BYTES_PER_COMBINE)]
    if not hopeful:
        ensure_lowering_fits(model, cls, length, min(candidates, key=gates.get), outputs)

    def depth_and_size(t: str) -> tuple[int, int] | None:
        if t in segment_sum.TOPOLOGIES:
            circuit = lower(model, cls, length, t, outputs)
            if built is not None:
                built[t] = circuit
            return rank(objective, circuit.depth, circuit.size)
        net = prefix.build(length, t, outputs)  # one network at a time in memory
        if not fits(estimate_gates(cls, net)):
            return None
        exact = measure_linear(model, cls, length, t, outputs, net, objective)
        return rank(objective, exact.depth, exact.size)

    order = candidates + segment_candidates
    ranked = {t: depth_and_size(t) for t in hopeful + segment_candidates}
    usable = [t for t in ranked if ranked[t] is not None]
    if not usable:  # the lowering refuses it with the exact estimate
        return min(hopeful, key=gates.get)
    chosen = min(usable, key=lambda t: (ranked[t], order.index(t)))
    if built is not None:  # the others' circuits are let go
        for t in [t for t in built if t != chosen]:
            del built[t]
    return chosen


def _segment_sum_fits(cls, length: int, topology: str, outputs: str) -> bool:
    """Whether `auto` may consider this segment-sum construction: built for the model's kind
    and length, and its circuit could be built in memory (it is measured by building it).
    A kind built with matrices has one construction (`lower.segment_matrix`), ranked once,
    as "segment-sum"."""
    from rnncirc.ir.memory import fits
    from rnncirc.lower import segment_matrix
    from rnncirc.lower.segment_lower import KINDS, MAX_OPTIMAL_LENGTH, estimate_gates_from_n

    if cls.kind not in KINDS or length < 3:
        return False
    if cls.kind in segment_matrix.KINDS and (topology != "segment-sum"
                                             or length > segment_matrix.MAX_LENGTH):
        return False
    if topology == "segment-sum-optimal" and length > MAX_OPTIMAL_LENGTH:
        return False
    return fits(2 * estimate_gates_from_n(cls, length, topology, outputs))


def lower(model: RNN, cls, length: int, topology: str, outputs: str,
          objective: str = "depth") -> Circuit:
    from rnncirc.lower.linear import lower_linear
    from rnncirc.lower.unroll import unroll

    if topology in segment_sum.TOPOLOGIES:
        from rnncirc.lower.segment_lower import lower_segment_sum

        return lower_segment_sum(model, cls, length, topology, outputs)
    if topology == "sequential":
        circuit = unroll(model, length, outputs)
        return circuit.with_info(kind=cls.kind)
    return lower_linear(model, cls, length, topology, outputs, objective)
