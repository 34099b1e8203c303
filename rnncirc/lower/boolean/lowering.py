"""Lower an arithmetic `Circuit` to an AND/XOR/NOT circuit on fixed-width words.

Where this sits: after `rc.compile` (arithmetic gates over the reals), before the boolean
exports and the bit-parallel evaluator. The meaning of every gate on w-bit words is stated in
`rnncirc.lower.boolean.semantics`; this module builds gates that compute exactly that.

Summary of the algorithm. Every arithmetic row gets w literals (its word, least significant
bit first): inputs become primary input bits, constants become constant literals. The gates are
then grouped by (level, op) -- within a level all gates are independent -- and each group is
lowered by one vectorized construction of `rnncirc.lower.boolean.words` over a ``(gates, bits)``
array: all additions of a level share one prefix-adder instantiation, all multiplications one
partial-product array and carry-save tree, and so on. Constant propagation, structural hashing
and the free NOT are done by the `AigBuilder` underneath, so zero weights and repeated
subexpressions cost nothing; gates that no output reads are dropped at the end.
"""

from __future__ import annotations

import numpy as np

from rnncirc.ir.aig import FALSE, AigBuilder, BooleanCircuit, BooleanInfo
from rnncirc.ir.circuit import Circuit
from rnncirc.ir.ops import ARITY, Op
from rnncirc.lower.boolean.semantics import (
    LUT_OPS,
    MAX_LUT_WIDTH,
    BooleanLoweringError,
    IntSemantics,
    lut_width_error,
)
from rnncirc.lower.boolean.words import ADDERS, MULTIPLIERS, Words, constant_bits

SYMBOL_CODINGS = ("onehot", "binary")

#: lookup-table entries (words x table rows) built per chunk, bounding temporary memory
_LUT_ENTRIES = 1 << 15


def to_boolean(circuit: Circuit, width: int = 8, signed: bool = True, *, frac_bits: int = 0,
               adder: str = "sklansky", multiplier: str = "dadda",
               symbols: str = "binary") -> BooleanCircuit:
    """The AND/XOR circuit computing `circuit` on `width`-bit words.

    Parameters
    ----------
    circuit : Circuit — from ``rc.compile``.
    width : int — word width w, 2..32; all arithmetic is modulo 2^w.
    signed : bool — two's complement words (default) or unsigned.
    frac_bits : int — fixed-point scale f: a word v stands for v / 2^f (0: integers).
        Constants are rounded to this scale and lookup tables use it.
    adder : str — carry network of every adder: ``"ripple"`` (one AND per bit; also
        ``"sequential"``) or a prefix family (``"sklansky"``, ``"kogge-stone"``,
        ``"brent-kung"``, ``"ladner-fischer"``, ``"han-carlson"``).
    multiplier : str — carry-save tree of multipliers: ``"dadda"`` or ``"wallace"``.
    symbols : str — alphabet models only: ``"binary"`` (default: ceil(log2 k) bits per step,
        decoded in the circuit; a code >= k reads as no symbol, all one-hot bits 0) or
        ``"onehot"`` (k bits per step). With binary codes every input pattern is a symbol
        sequence (k a power of two), so two lowerings of one model are equivalent on all
        patterns; one-hot patterns with several or no bits set are no input at all, and
        lowerings may legitimately differ on them (``cec`` then reports a counterexample).

    Returns
    -------
    BooleanCircuit whose outputs have shape ``(steps, *state, width)``.

    Raises
    ------
    WidthError — width or frac_bits out of range, or a lookup-table op with width > 12.
    BooleanLoweringError — an unknown option.

    Examples
    --------
    >>> import numpy as np, rnncirc as rc
    >>> from rnncirc.lower.boolean import to_boolean
    >>> @rc.rnn(state=1, inputs=1)
    ... def running_sum(h, x):
    ...     return h + x
    >>> bc = to_boolean(rc.compile(running_sum, 4, topology="sequential"), width=8)
    >>> bc.evaluate(np.array([[100], [100], [-3], [7]])).ravel().tolist()
    [100, -56, -59, -52]
    """
    sem = IntSemantics(width, signed, frac_bits)
    aig, bits, input_shape, reals, patterns = _lower(circuit, sem, adder, multiplier, symbols)
    info = circuit.info
    return aig.finish(
        bits[circuit.outputs], input_shape=input_shape,
        info=BooleanInfo(model=info.model, length=info.length, topology=info.topology,
                         outputs=info.outputs, width=width, signed=signed,
                         frac_bits=frac_bits, adder=adder, multiplier=multiplier,
                         symbols=symbols, alphabet=info.alphabet, input_size=info.input_size,
                         state_shape=tuple(info.state_shape),
                         extra=_constant_stats(reals, patterns, sem)))


def nodes_per_gate(circuit: Circuit, width: int = 8, signed: bool = True, *,
                   frac_bits: int = 0, adder: str = "sklansky", multiplier: str = "dadda",
                   symbols: str = "binary") -> dict[Op, float]:
    """AND/XOR nodes the lowering of `circuit` creates per gate of each op (dead ones
    included, as the builder holds them): what a memory estimate scales by the op counts of
    a longer circuit of the same model, before that one is built."""
    sem = IntSemantics(width, signed, frac_bits)
    tally: dict[Op, list[int]] = {}
    _lower(circuit, sem, adder, multiplier, symbols, tally)
    return {op: made / gates for op, (made, gates) in tally.items()}


def _lower(circuit: Circuit, sem: IntSemantics, adder: str, multiplier: str, symbols: str,
           tally: dict | None = None):
    """The word bits of every gate; `tally` (op -> [nodes made, gates]) counts the nodes."""
    _check_options(circuit, sem, adder, multiplier, symbols)
    aig = AigBuilder(capacity=max(1 << 12, 4 * circuit.num_nodes))
    words = Words(aig, adder, multiplier)
    bits = np.zeros((circuit.num_nodes, sem.width), dtype=np.int64)
    input_shape = _input_bits(circuit, aig, sem, symbols, bits)
    const_rows = np.flatnonzero(circuit.op == Op.CONST)
    reals = circuit.consts[circuit.a[const_rows]]
    patterns = sem.quantize(reals)
    bits[const_rows] = constant_bits(patterns, sem.width)
    for op, group in _groups(circuit):
        before = aig.count
        bits[group] = _lower_group(op, group, circuit, bits, words, sem)
        if tally is not None:
            counts = tally.setdefault(op, [0, 0])
            counts[0] += aig.count - before
            counts[1] += len(group)
    return aig, bits, input_shape, reals, patterns


def _constant_stats(reals: np.ndarray, patterns: np.ndarray, sem: IntSemantics) -> dict:
    """How faithfully the constants survive the scale: a report line for the user."""
    words = sem.value(patterns) / float(sem.one)
    nonzero = reals != 0
    top = (1 << (sem.width - 1 if sem.signed else sem.width)) / float(sem.one)
    low = -top if sem.signed else 0.0
    return {"constants": int(np.count_nonzero(nonzero)),
            "constants_rounded_to_zero": int(np.count_nonzero(nonzero & (words == 0))),
            "constants_wrapped": int(np.count_nonzero((reals < low) | (reals >= top))),
            "constant_range": [low, top]}


def _check_options(circuit: Circuit, sem: IntSemantics, adder: str, multiplier: str,
                   symbols: str) -> None:
    if not isinstance(circuit, Circuit):
        raise BooleanLoweringError(f"to_boolean takes a Circuit from rc.compile, got "
                                   f"{type(circuit).__name__}")
    for name, value, choices in (("adder", adder, ADDERS + ("sequential",)),
                                 ("multiplier", multiplier, MULTIPLIERS),
                                 ("symbols", symbols, SYMBOL_CODINGS)):
        if value not in choices:
            raise BooleanLoweringError(f"unknown {name} {value!r}; choose one of "
                                       f"{', '.join(choices)}")
    if sem.width > MAX_LUT_WIDTH:
        present = np.isin(circuit.op, np.array(LUT_OPS, dtype=np.uint8))
        if present.any():
            raise lut_width_error(Op(int(circuit.op[np.argmax(present)])), sem.width)


def _input_bits(circuit: Circuit, aig: AigBuilder, sem: IntSemantics, symbols: str,
                bits: np.ndarray) -> tuple[int, ...]:
    """Create the primary inputs, fill the INPUT rows' words; return the input bit layout."""
    info = circuit.info
    slots = circuit.inputs.ravel()
    n = circuit.inputs.shape[0]
    if not info.alphabet:
        k = circuit.inputs.shape[1] if circuit.inputs.ndim > 1 else 0
        bits[slots] = aig.inputs(len(slots) * sem.width).reshape(len(slots), sem.width)
        return (n, k, sem.width)
    k = info.alphabet
    if symbols == "onehot":
        onehot = aig.inputs(n * k)
        shape = (n, k)
    else:
        code_bits = max(1, int(np.ceil(np.log2(k))))
        code = aig.inputs(n * code_bits).reshape(n, 1, code_bits)
        want = (np.arange(k)[:, None] >> np.arange(code_bits)) & 1  # (k, code_bits)
        onehot = aig.reduce(code ^ (1 - want), "and").ravel()  # symbol codes >= k: all 0
        shape = (n, code_bits)
    bits[slots] = FALSE
    bits[slots, sem.frac_bits] = onehot
    return shape


def _groups(circuit: Circuit):
    """(op, gate ids) per (level, op), in level order: each group's operands are ready."""
    gates = np.flatnonzero(ARITY[circuit.op] > 0)
    order = gates[np.lexsort((circuit.op[gates], circuit.levels[gates]))]
    key = circuit.levels[order].astype(np.int64) * 256 + circuit.op[order]
    for group in np.split(order, np.flatnonzero(np.diff(key)) + 1):
        if len(group):
            yield Op(int(circuit.op[group[0]])), group


def _lower_group(op: Op, group: np.ndarray, circuit: Circuit, bits: np.ndarray,
                 words: Words, sem: IntSemantics) -> np.ndarray:
    a = bits[circuit.a[group]]
    b = bits[circuit.b[group]] if ARITY[op] >= 2 else None
    aig, signed, w = words.aig, sem.signed, sem.width
    if op == Op.ADD:
        return words.add(a, b)
    if op == Op.SUB:
        return words.sub(a, b)
    if op == Op.NEG:
        return words.negate(a)
    if op == Op.MUL:
        return _multiply(group, circuit, a, b, words, sem)
    if op == Op.DIV:
        return _divide(a, b, words, sem)
    if op in (Op.MAX, Op.MIN):
        less = words.less(a, b, signed)
        return words.select(less, b, a) if op == Op.MAX else words.select(less, a, b)
    if op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE):
        return _compare(op, a, b, words, sem)
    if op == Op.SELECT:
        return words.select(words.nonzero(a), b, bits[circuit.c[group]])
    if op == Op.RELU:
        return aig.and_(a, a[:, w - 1:] ^ 1) if signed else a
    if op == Op.ABS:
        return words.conditional_negate(a, a[:, w - 1]) if signed else a
    if op in LUT_OPS:
        table = constant_bits(sem.table(op).astype(np.int64), w)
        chunk = max(1, _LUT_ENTRIES // (1 << w))
        return np.concatenate([words.lookup(a[i:i + chunk], table)
                               for i in range(0, len(a), chunk)])
    raise BooleanLoweringError(f"no fixed-width lowering for the {op.name.lower()} gate")


def _extend(a: np.ndarray, sem: IntSemantics) -> np.ndarray:
    """Words widened by frac_bits bits (sign- or zero-extended)."""
    f = sem.frac_bits
    if f == 0:
        return a
    top = np.repeat(a[:, -1:], f, axis=1) if sem.signed else np.zeros((len(a), f), np.int64)
    return np.concatenate([a, top], axis=1)


def _multiply(group, circuit, a, b, words: Words, sem: IntSemantics) -> np.ndarray:
    """floor(a * b / 2^f) mod 2^w: the product of (w+f)-bit extensions, bits f..f+w-1."""
    f, w = sem.frac_bits, sem.width
    out = np.empty_like(a)
    const_a = circuit.op[circuit.a[group]] == Op.CONST
    const_b = circuit.op[circuit.b[group]] == Op.CONST
    by_constant = const_a | const_b
    if by_constant.any():
        idx = np.flatnonzero(by_constant)
        rows = np.where(const_b[idx], circuit.b[group[idx]], circuit.a[group[idx]])
        other = np.where(const_b[idx, None], a[idx], b[idx])
        constants = sem.value(sem.quantize(circuit.consts[circuit.a[rows]]))
        product = words.multiply_constant(_extend(other, sem), constants)
        out[idx] = product[:, f:f + w]
    general = np.flatnonzero(~by_constant)
    if len(general):
        product = words.multiply(_extend(a[general], sem), _extend(b[general], sem))
        out[general] = product[:, f:f + w]
    return out


def _divide(a, b, words: Words, sem: IntSemantics) -> np.ndarray:
    """trunc(a * 2^f / b) mod 2^w, 0 where b = 0: long division of the magnitudes."""
    aig, f, w = words.aig, sem.frac_bits, sem.width
    if sem.signed:
        sign_a, sign_b = a[:, w - 1], b[:, w - 1]
        a = words.conditional_negate(a, sign_a)  # |a| as an unsigned word (2^(w-1) fits)
        b = words.conditional_negate(b, sign_b)
    numerator = np.concatenate([np.full((len(a), f), FALSE, np.int64), a], axis=1)
    quotient = words.divide_unsigned(numerator, b, keep=w)
    if sem.signed:
        quotient = words.conditional_negate(quotient, aig.xor(sign_a, sign_b))
    return aig.and_(quotient, words.nonzero(b)[:, None])


def _compare(op: Op, a, b, words: Words, sem: IntSemantics) -> np.ndarray:
    """1.0 (the word 2^f) where the comparison holds, else 0."""
    if op in (Op.EQ, Op.NE):
        result = words.equal(a, b) ^ (op == Op.NE)
    else:
        x, y = (a, b) if op in (Op.LT, Op.GE) else (b, a)
        result = words.less(x, y, sem.signed) ^ (op in (Op.GE, Op.LE))
    out = np.full(a.shape, FALSE, dtype=np.int64)
    out[:, sem.frac_bits] = result
    return out


__all__ = ["SYMBOL_CODINGS", "to_boolean"]
