"""Fixed-width integer semantics of an arithmetic circuit, and its reference evaluator.

Where this sits: this is what a boolean circuit from `lower.boolean.lowering` computes, stated
once, and evaluated here with plain numpy (the oracle the gate-level lowering is tested
against). Every value is a w-bit word; with ``frac_bits = f`` a word holding the integer v
stands for the real number v / 2^f (f = 0: plain integers). With ``signed`` the words are
two's complement, otherwise unsigned. All arithmetic is modulo 2^w:

=============  ============================================================================
op             integer semantics (a, b, c: words; results reduced mod 2^w)
=============  ============================================================================
CONST          rint(value * 2^f)   (round half to even)
INPUT          the given integer; an alphabet model's one-hot bit x gives x * 2^f
ADD, SUB, NEG  a + b, a - b, -a
MUL            floor(a * b / 2^f)  (for f = 0 simply the low w bits of a * b)
DIV            trunc(a * 2^f / b), and 0 when b = 0
MAX, MIN       exact, in the signed or unsigned order
LT .. NE       2^f (the number 1.0) when true, else 0
SELECT         b if a != 0 else c
RELU, ABS      exact (abs(-2^(w-1)) wraps to itself)
TANH, EXP ...  a lookup table, only for w <= 12:
               table[v] = clip(rint(fn(v / 2^f) * 2^f)), NaN -> 0, clipped to the range
=============  ============================================================================

Limits: 2 <= w <= 32 and w + f <= 64 (so that every intermediate fits numpy's 64-bit words),
0 <= f <= w - 2 for signed words (1.0 must be representable), f <= w - 1 unsigned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnncirc.errors import RnncircError
from rnncirc.ir.ops import ARITY, UNARY_IMPL, Op

#: unary ops lowered through a lookup table, and the largest width for which that is allowed
LUT_OPS = (Op.TANH, Op.SIGMOID, Op.EXP, Op.LOG, Op.SQRT, Op.SOFTPLUS, Op.SILU)
MAX_LUT_WIDTH = 12
MAX_WIDTH = 32


class BooleanLoweringError(RnncircError):
    """A circuit or option that the fixed-width boolean lowering cannot handle."""


class WidthError(BooleanLoweringError):
    """The word width (or fractional bits) is out of range for what was asked."""


@dataclass(frozen=True)
class IntSemantics:
    """Word width, signedness and fixed-point scale (see the module docstring)."""

    width: int
    signed: bool = True
    frac_bits: int = 0

    def __post_init__(self) -> None:
        w, f = self.width, self.frac_bits
        if not isinstance(w, int | np.integer) or isinstance(w, bool) or not 2 <= w <= MAX_WIDTH:
            raise WidthError(f"width must be an integer from 2 to {MAX_WIDTH} bits, got {w!r}")
        top = w - 2 if self.signed else w - 1
        if not isinstance(f, int | np.integer) or isinstance(f, bool) or not 0 <= f <= top:
            raise WidthError(f"frac_bits must be an integer from 0 to {top} for "
                             f"{'signed' if self.signed else 'unsigned'} {w}-bit words (1.0 "
                             f"must be representable), got {f!r}")

    @property
    def mask(self) -> np.uint64:
        return np.uint64((1 << self.width) - 1)

    @property
    def one(self) -> int:
        """The word of the number 1.0."""
        return 1 << self.frac_bits

    @property
    def scale_text(self) -> str:
        kind = "signed" if self.signed else "unsigned"
        scale = f", value = int / 2^{self.frac_bits}" if self.frac_bits else ", integers"
        return f"{self.width}-bit {kind}{scale}"

    def wrap(self, values) -> np.ndarray:
        """Bit patterns (uint64, < 2^w) of integers, reduced mod 2^w."""
        return np.asarray(values).astype(np.int64).astype(np.uint64) & self.mask

    def value(self, patterns) -> np.ndarray:
        """The integers (int64) that bit patterns stand for: two's complement if signed."""
        patterns = np.asarray(patterns).astype(np.uint64) & self.mask
        values = patterns.astype(np.int64)
        if self.signed:
            values = values - ((values >> (self.width - 1)) & 1) * (1 << self.width)
        return values

    def quantize(self, reals) -> np.ndarray:
        """Bit patterns of real numbers at this scale: rint(x * 2^f) mod 2^w."""
        reals = np.asarray(reals, dtype=np.float64)
        if not np.all(np.isfinite(reals)):
            raise BooleanLoweringError("cannot represent a non-finite constant as a fixed-width "
                                       "integer")
        scaled = np.rint(reals * float(self.one))
        return self.wrap(np.fmod(scaled, 2.0 ** 63))

    def sign_extend(self, patterns, bits: int) -> np.ndarray:
        """Patterns widened to `bits` bits (sign- or zero-extended), as uint64."""
        ext = self.value(patterns).astype(np.uint64)
        return ext & np.uint64((1 << bits) - 1) if bits < 64 else ext

    def table(self, op: Op) -> np.ndarray:
        """The lookup table of a unary nonlinear op: pattern -> pattern, ``(2^w,)`` uint64."""
        if op not in LUT_OPS:
            raise ValueError(f"{op.name} is lowered exactly, not by a table")
        if self.width > MAX_LUT_WIDTH:
            raise lut_width_error(op, self.width)
        x = self.value(np.arange(1 << self.width)) / float(self.one)
        with np.errstate(all="ignore"):
            y = np.rint(UNARY_IMPL[op](x) * float(self.one))
        lo, hi = (-(1 << (self.width - 1)), (1 << (self.width - 1)) - 1) if self.signed \
            else (0, (1 << self.width) - 1)
        y = np.clip(np.nan_to_num(y, nan=0.0, posinf=hi, neginf=lo), lo, hi)
        return self.wrap(y.astype(np.int64))


def lut_width_error(op: Op, width: int) -> WidthError:
    return WidthError(f"{op.name.lower()} is lowered through a {1 << min(width, 62)}-entry lookup "
                      f"table, which is only built for widths up to {MAX_LUT_WIDTH} bits, but "
                      f"width is {width}; use --width {MAX_LUT_WIDTH} or less, or a model "
                      f"without {op.name.lower()} (relu, maximum, minimum, abs and where are "
                      f"exact at every width)")


# ------------------------------------------------------------------------------------------
# the reference evaluator
# ------------------------------------------------------------------------------------------


def input_patterns(circuit, xs, sem: IntSemantics) -> tuple[np.ndarray, bool]:
    """Input-slot patterns ``(batch, slots)`` for integer inputs (symbols for an alphabet)."""
    info = circuit.info
    xs = np.asarray(xs)
    if info.alphabet:
        # Circuit.check_inputs validates the symbols and returns the one-hot bits as 0.0/1.0
        onehot, batched = circuit.check_inputs(xs)
        return sem.wrap(onehot.astype(np.int64) << sem.frac_bits), batched
    if not np.issubdtype(xs.dtype, np.integer):
        raise BooleanLoweringError(f"a fixed-width circuit takes integer inputs (the words "
                                   f"v standing for v / 2^{sem.frac_bits}); got dtype "
                                   f"{xs.dtype}: quantize real inputs first")
    values, batched = circuit.check_inputs(xs.astype(np.float64))
    return sem.wrap(np.asarray(xs).reshape(values.shape)), batched


def evaluate_int(circuit, xs, width: int, signed: bool = True, frac_bits: int = 0) -> np.ndarray:
    """Evaluate an arithmetic `Circuit` in the fixed-width integer semantics (the oracle).

    `xs` are integers shaped as for `Circuit.evaluate` (symbols for alphabet models); returns
    integers (two's complement values when signed) shaped as `Circuit.evaluate` returns.
    """
    sem = IntSemantics(width, signed, frac_bits)
    slots, batched = input_patterns(circuit, xs, sem)
    batch = slots.shape[0]
    values = np.zeros((circuit.num_nodes, batch), dtype=np.uint64)
    const_rows = np.flatnonzero(circuit.op == Op.CONST)
    values[const_rows] = sem.quantize(circuit.consts[circuit.a[const_rows]])[:, None]
    values[circuit.inputs.ravel()] = slots.T
    gates = np.flatnonzero(ARITY[circuit.op] > 0)
    order = gates[np.lexsort((circuit.op[gates], circuit.levels[gates]))]
    key = circuit.levels[order].astype(np.int64) * 256 + circuit.op[order]
    for group in np.split(order, np.flatnonzero(np.diff(key)) + 1):
        if len(group):
            op = Op(int(circuit.op[group[0]]))
            operands = [values[column[group]] for column in (circuit.a, circuit.b, circuit.c)
                        [:ARITY[op]]]
            values[group] = apply_int(op, sem, *operands)
    out = sem.value(values[circuit.outputs.reshape(-1)]).T
    out = out.reshape((batch,) + circuit.outputs.shape)
    if circuit.info.outputs == "last":
        out = out[:, 0]
    return out if batched else out[0]


def apply_int(op: Op, sem: IntSemantics, *operands: np.ndarray) -> np.ndarray:
    """One op on uint64 bit-pattern arrays, in the fixed-width semantics."""
    f = sem.frac_bits
    a = operands[0]
    if op in LUT_OPS:
        return sem.table(op)[a.astype(np.int64)]
    if op == Op.NEG:
        return (np.uint64(0) - a) & sem.mask
    if op == Op.RELU:
        return np.where(sem.value(a) < 0, np.uint64(0), a)
    if op == Op.ABS:
        return sem.wrap(np.abs(sem.value(a)))
    if op == Op.SELECT:
        return np.where(a != 0, operands[1], operands[2])
    b = operands[1]
    if op == Op.ADD:
        return (a + b) & sem.mask
    if op == Op.SUB:
        return (a - b) & sem.mask
    if op == Op.MUL:
        product = sem.sign_extend(a, 64) * sem.sign_extend(b, 64)  # exact mod 2^64
        return (product >> np.uint64(f)) & sem.mask
    if op == Op.DIV:
        va, vb = sem.value(a), sem.value(b)
        safe = np.where(vb == 0, 1, np.abs(vb))
        q = (np.abs(va) << f) // safe
        q = np.where((va < 0) != (vb < 0), -q, q)
        return sem.wrap(np.where(vb == 0, 0, q))
    va, vb = sem.value(a), sem.value(b)
    if op == Op.MAX:
        return np.where(va >= vb, a, b)
    if op == Op.MIN:
        return np.where(va <= vb, a, b)
    compare = {Op.LT: np.less, Op.LE: np.less_equal, Op.GT: np.greater,
               Op.GE: np.greater_equal, Op.EQ: np.equal, Op.NE: np.not_equal}[op]
    return compare(va, vb).astype(np.uint64) << np.uint64(f)
