"""The boolean IR: an and-inverter graph with XOR nodes, built with structural hashing.

Where this sits: the ground floor, beside the arithmetic `Circuit`. `rnncirc.lower.boolean`
turns a fixed-width integer reading of a `Circuit` into this graph; the exports
(`rnncirc.export.aiger`, ``blif``, ``bristol``, ``verilog``), the bit-parallel evaluator
(`rnncirc.eval.boolean`) and the reports (`rnncirc.analyze.boolean`) read it.

Layout (struct-of-arrays, topological order, as in AIGER):

=====  =========  ===============================================================
node   kind       meaning
=====  =========  ===============================================================
0      CONST      constant false (literal 0 = false, literal 1 = true)
1..I   INPUT      primary input bits, in the order of `BooleanCircuit.input_shape`
I+1..  AND / XOR  AND or XOR of the two operand literals ``a``, ``b`` (both older)
=====  =========  ===============================================================

A *literal* is ``2 * node + complement``: NOT is free, it only flips the low bit. XOR nodes are
kept canonical: both operands uncomplemented, the complement moved to the result literal
(``~x ^ y == ~(x ^ y)``). XOR is its own node kind so that AND-depth with free XOR (what MPC
and FHE users count) can be measured; the AIGER and BLIF exports and the ABC checks use the
pure AIG `BooleanCircuit.aig()`, in which each XOR is the three ANDs
``x ^ y = AND(NOT AND(x, y), NOT AND(NOT x, NOT y))``.

Building (`AigBuilder`): every gate request goes through one Numba kernel that folds constants
and trivial cases (``x & 0``, ``x & 1``, ``x & x``, ``x & ~x``, ``x ^ x`` ...) and looks the
canonical ``(kind, a, b)`` up in an open-addressing hash table, so equal gates are one node
(structural hashing) and no Python runs per gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numba
import numpy as np

from rnncirc.ir.memory import ensure_bytes

CONST, INPUT, AND, XOR = 0, 1, 2, 3
KIND_NAMES = ("const", "input", "and", "xor")
FALSE, TRUE = 0, 1

_EMPTY = -1
#: bytes per node of the finished circuit a whole lowering peaks at: the columns grow by
#: doubling (up to twice the nodes, old and new side by side while copied), the hash table is
#: the next power of two past twice the nodes, gates found dead at the end were built too,
#: and the lowering holds each word's bits beside them
PEAK_BYTES_PER_NODE = 3 * (1 + 8 + 8) + 4 * 8 + 32


# ------------------------------------------------------------------------------------------
# Numba kernels: hashing, gate creation, rehashing, XOR expansion, compaction, levels
# ------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True, inline="always")
def _slot(kind, a, b, mask):
    h = np.uint64(a) * np.uint64(0x9E3779B97F4A7C15)
    h ^= np.uint64(b) * np.uint64(0xC2B2AE3D27D4EB4F) + np.uint64(kind)
    h ^= h >> np.uint64(31)
    return np.int64(h & np.uint64(mask))


@numba.njit(cache=True, nogil=True, inline="always")
def _find_or_add(kind, a, b, kinds, lhs, rhs, table, count):
    """Node id of the canonical gate (kind, a, b), created if new; returns (node, count)."""
    mask = len(table) - 1
    h = _slot(kind, a, b, mask)
    while True:
        node = table[h]
        if node == _EMPTY:
            kinds[count] = kind
            lhs[count] = a
            rhs[count] = b
            table[h] = count
            return count, count + 1
        if kinds[node] == kind and lhs[node] == a and rhs[node] == b:
            return node, count
        h = (h + 1) & mask


@numba.njit(cache=True, nogil=True, inline="always")
def _and_lit(x, y, kinds, lhs, rhs, table, count):
    if x > y:
        x, y = y, x
    if x == FALSE or x == (y ^ 1):
        return FALSE, count
    if x == TRUE or x == y:
        return y, count
    node, count = _find_or_add(AND, x, y, kinds, lhs, rhs, table, count)
    return 2 * node, count


@numba.njit(cache=True, nogil=True, inline="always")
def _xor_lit(x, y, kinds, lhs, rhs, table, count):
    neg = (x ^ y) & 1
    x &= ~1
    y &= ~1
    if x > y:
        x, y = y, x
    if x == y:
        return neg, count
    if x == FALSE:
        return y ^ neg, count
    node, count = _find_or_add(XOR, x, y, kinds, lhs, rhs, table, count)
    return (2 * node) ^ neg, count


@numba.njit(cache=True, nogil=True)
def _gate_batch(is_xor, x, y, kinds, lhs, rhs, table, count, out):
    for i in range(len(x)):
        if is_xor:
            out[i], count = _xor_lit(x[i], y[i], kinds, lhs, rhs, table, count)
        else:
            out[i], count = _and_lit(x[i], y[i], kinds, lhs, rhs, table, count)
    return count


@numba.njit(cache=True, nogil=True)
def _rehash(kinds, lhs, rhs, count, table):
    mask = len(table) - 1
    for node in range(count):
        if kinds[node] < AND:
            continue
        h = _slot(kinds[node], lhs[node], rhs[node], mask)
        while table[h] != _EMPTY:
            h = (h + 1) & mask
        table[h] = node


@numba.njit(cache=True, nogil=True)
def _expand_xor(kinds, lhs, rhs, outputs, num_inputs, capacity):
    """A pure AIG equal to the graph: each XOR as three hashed ANDs. Returns the new arrays
    (trimmed to their node count) and the outputs as new literals."""
    n = len(kinds)
    new_kinds = np.zeros(capacity, dtype=np.uint8)
    new_lhs = np.full(capacity, -1, dtype=np.int64)
    new_rhs = np.full(capacity, -1, dtype=np.int64)
    size = 16
    while size < 2 * capacity:
        size *= 2
    table = np.full(size, _EMPTY, dtype=np.int64)
    new_kinds[1:num_inputs + 1] = INPUT
    count = num_inputs + 1
    lit = np.empty(n, dtype=np.int64)
    for node in range(n):
        k = kinds[node]
        if k == CONST:
            lit[node] = FALSE
        elif k == INPUT:
            lit[node] = 2 * node
        else:
            x = lit[lhs[node] >> 1] ^ (lhs[node] & 1)
            y = lit[rhs[node] >> 1] ^ (rhs[node] & 1)
            if k == AND:
                lit[node], count = _and_lit(x, y, new_kinds, new_lhs, new_rhs, table, count)
            else:
                both, count = _and_lit(x, y, new_kinds, new_lhs, new_rhs, table, count)
                neither, count = _and_lit(x ^ 1, y ^ 1, new_kinds, new_lhs, new_rhs, table,
                                          count)
                lit[node], count = _and_lit(both ^ 1, neither ^ 1, new_kinds, new_lhs,
                                            new_rhs, table, count)
    out = np.empty(len(outputs), dtype=np.int64)
    for i in range(len(outputs)):
        out[i] = lit[outputs[i] >> 1] ^ (outputs[i] & 1)
    return new_kinds[:count].copy(), new_lhs[:count].copy(), new_rhs[:count].copy(), out


@numba.njit(cache=True, nogil=True)
def _compact(kinds, lhs, rhs, outputs, num_inputs):
    """Drop gates no output depends on; keep the constant and every input, renumbered."""
    n = len(kinds)
    live = np.zeros(n, dtype=np.bool_)
    live[:num_inputs + 1] = True
    for i in range(len(outputs)):
        live[outputs[i] >> 1] = True
    for node in range(n - 1, num_inputs, -1):
        if live[node]:
            live[lhs[node] >> 1] = True
            live[rhs[node] >> 1] = True
    new_id = np.full(n, -1, dtype=np.int64)
    count = 0
    for node in range(n):
        if live[node]:
            new_id[node] = count
            count += 1
    out_kinds = np.empty(count, dtype=np.uint8)
    out_lhs = np.full(count, -1, dtype=np.int64)
    out_rhs = np.full(count, -1, dtype=np.int64)
    for node in range(n):
        j = new_id[node]
        if j < 0:
            continue
        out_kinds[j] = kinds[node]
        if kinds[node] >= AND:
            out_lhs[j] = 2 * new_id[lhs[node] >> 1] + (lhs[node] & 1)
            out_rhs[j] = 2 * new_id[rhs[node] >> 1] + (rhs[node] & 1)
    out = np.empty(len(outputs), dtype=np.int64)
    for i in range(len(outputs)):
        out[i] = 2 * new_id[outputs[i] >> 1] + (outputs[i] & 1)
    return out_kinds, out_lhs, out_rhs, out


@numba.njit(cache=True, nogil=True)
def node_levels(kinds, lhs, rhs, and_cost, xor_cost):
    """Level of every node: 0 for the constant and inputs, else cost + max(operand levels)."""
    n = len(kinds)
    level = np.zeros(n, dtype=np.int32)
    for node in range(n):
        k = kinds[node]
        if k < AND:
            continue
        la = level[lhs[node] >> 1]
        lb = level[rhs[node] >> 1]
        level[node] = (la if la > lb else lb) + (and_cost if k == AND else xor_cost)
    return level


# ------------------------------------------------------------------------------------------
# The builder
# ------------------------------------------------------------------------------------------


class AigBuilder:
    """A growing AND/XOR graph with folding and structural hashing (see the module doc).

    Gate methods take literal arrays of any (broadcastable) shape and return literal arrays of
    the broadcast shape; plain ints work too. Inputs must all be created first.
    """

    def __init__(self, capacity: int = 1 << 12) -> None:
        self.kinds = np.zeros(capacity, dtype=np.uint8)
        self.lhs = np.full(capacity, -1, dtype=np.int64)
        self.rhs = np.full(capacity, -1, dtype=np.int64)
        self.table = np.full(_table_size(capacity), _EMPTY, dtype=np.int64)
        self.count = 1  # node 0 is the constant
        self.num_inputs = 0

    def _reserve(self, extra: int) -> None:
        need = self.count + extra
        if need > len(self.kinds):
            capacity = max(need, 2 * len(self.kinds))
            # the new columns (17 bytes a node) and the new hash table are taken while the old
            # ones are still held: what the machine has left must hold both new ones
            ensure_bytes(capacity * (1 + 8 + 8) + 8 * _table_size(capacity),
                         f"the boolean circuit, grown past {self.count:,} AND/XOR nodes,",
                         "use a smaller length or width")
            for name, fill in (("kinds", 0), ("lhs", -1), ("rhs", -1)):
                old = getattr(self, name)
                new = np.full(capacity, fill, dtype=old.dtype)
                new[:self.count] = old[:self.count]
                setattr(self, name, new)
        if 2 * need > len(self.table):
            self.table = np.full(_table_size(need), _EMPTY, dtype=np.int64)
            _rehash(self.kinds, self.lhs, self.rhs, self.count, self.table)

    def inputs(self, count: int) -> np.ndarray:
        """Literals of `count` new primary inputs."""
        if self.count != self.num_inputs + 1:
            raise AssertionError("inputs must be created before any gate")
        self._reserve(count)
        ids = np.arange(self.count, self.count + count, dtype=np.int64)
        self.kinds[ids] = INPUT
        self.count += count
        self.num_inputs += count
        return 2 * ids

    def _gates(self, is_xor: bool, x, y) -> np.ndarray:
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64))
        flat_x, flat_y = x.ravel(), y.ravel()
        self._reserve(len(flat_x))
        out = np.empty(len(flat_x), dtype=np.int64)
        self.count = _gate_batch(is_xor, flat_x, flat_y, self.kinds, self.lhs, self.rhs,
                                 self.table, self.count, out)
        return out.reshape(x.shape)

    def and_(self, x, y) -> np.ndarray:
        return self._gates(False, x, y)

    def xor(self, x, y) -> np.ndarray:
        return self._gates(True, x, y)

    def or_(self, x, y) -> np.ndarray:
        return self.and_(np.asarray(x) ^ 1, np.asarray(y) ^ 1) ^ 1

    def mux(self, s, t, e) -> np.ndarray:
        """``t if s else e`` elementwise, as ``e ^ (s & (t ^ e))``: one AND."""
        return self.xor(e, self.and_(s, self.xor(t, e)))

    def reduce(self, bits: np.ndarray, op: str) -> np.ndarray:
        """Balanced AND/OR/XOR tree over the last axis (an empty axis gives the identity)."""
        bits = np.asarray(bits, dtype=np.int64)
        if bits.shape[-1] == 0:
            return np.full(bits.shape[:-1], TRUE if op == "and" else FALSE, dtype=np.int64)
        gate = {"and": self.and_, "or": self.or_, "xor": self.xor}[op]
        while bits.shape[-1] > 1:
            half = bits.shape[-1] // 2
            paired = gate(bits[..., 0:2 * half:2], bits[..., 1:2 * half:2])
            bits = np.concatenate([paired, bits[..., 2 * half:]], axis=-1)
        return bits[..., 0]

    def finish(self, outputs: np.ndarray, **fields) -> BooleanCircuit:
        """The circuit reading `outputs` (a literal array), with dead gates dropped."""
        outputs = np.asarray(outputs, dtype=np.int64)
        kinds, lhs, rhs, out = _compact(self.kinds[:self.count], self.lhs[:self.count],
                                        self.rhs[:self.count], outputs.ravel(),
                                        self.num_inputs)
        return BooleanCircuit(kinds, lhs, rhs, out.reshape(outputs.shape), **fields)


def _table_size(capacity: int) -> int:
    size = 1 << 10
    while size < 2 * capacity:
        size <<= 1
    return size


# ------------------------------------------------------------------------------------------
# The immutable result
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BooleanInfo:
    """How a boolean circuit was made: source model, integer semantics, lowering choices."""

    model: str = "circuit"
    length: int = 0
    topology: str = ""
    outputs: str = "all"
    width: int = 0
    signed: bool = True
    frac_bits: int = 0
    adder: str = "sklansky"
    multiplier: str = "dadda"
    symbols: str = "binary"
    alphabet: int | None = None
    input_size: int | None = None
    state_shape: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class BooleanCircuit:
    """An immutable AND/XOR graph with its input and output layout.

    ``kinds``, ``a``, ``b``: per node (see the module docstring); ``a``/``b`` are -1 on the
    constant and input rows. ``outputs``: literal array; for a lowered RNN its shape is
    ``(steps, *state, width)``, bits least significant first. ``input_shape``: how the input
    bits (nodes 1..I in order) are laid out, e.g. ``(n, K, width)`` for a real-input model.
    """

    kinds: np.ndarray
    a: np.ndarray
    b: np.ndarray
    outputs: np.ndarray
    input_shape: tuple[int, ...] = ()
    info: BooleanInfo = field(default_factory=BooleanInfo)

    def __post_init__(self) -> None:
        for name in ("kinds", "a", "b", "outputs"):
            getattr(self, name).setflags(write=False)
        if not self.input_shape:
            object.__setattr__(self, "input_shape", (self.num_inputs,))

    # -- sizes and depths -----------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return len(self.kinds)

    @cached_property
    def num_inputs(self) -> int:
        return int(np.count_nonzero(self.kinds == INPUT))

    @cached_property
    def and_count(self) -> int:
        return int(np.count_nonzero(self.kinds == AND))

    @cached_property
    def xor_count(self) -> int:
        return int(np.count_nonzero(self.kinds == XOR))

    @property
    def size(self) -> int:
        """Gates: ANDs plus XORs (NOT is free)."""
        return self.and_count + self.xor_count

    def levels(self, and_cost: int = 1, xor_cost: int = 1) -> np.ndarray:
        return node_levels(self.kinds, self.a, self.b, and_cost, xor_cost)

    def _depth(self, and_cost: int, xor_cost: int) -> int:
        if self.outputs.size == 0:
            return 0
        return int(self.levels(and_cost, xor_cost)[self.outputs.ravel() >> 1].max())

    @cached_property
    def depth(self) -> int:
        """Longest input-to-output path in gates, AND and XOR alike (NOT free)."""
        return self._depth(1, 1)

    @cached_property
    def and_depth(self) -> int:
        """Longest path counting ANDs only (XOR and NOT free): MPC rounds, FHE AND-depth."""
        return self._depth(1, 0)

    @cached_property
    def width_per_level(self) -> np.ndarray:
        """Gates (AND and XOR) on each level 1..depth of `depth`."""
        levels = self.levels(1, 1)[self.kinds >= AND]
        return np.bincount(levels, minlength=self.depth + 1)[1:]

    @cached_property
    def ands_per_and_level(self) -> np.ndarray:
        """ANDs on each AND-level 1..and_depth (the AND gates of one MPC round)."""
        levels = self.levels(1, 0)[self.kinds == AND]
        return np.bincount(levels, minlength=self.and_depth + 1)[1:]

    # -- the pure AIG form ----------------------------------------------------------------
    def aig(self) -> BooleanCircuit:
        """The same function as a pure AIG: each XOR as three ANDs, structurally hashed.

        Its ``and_count`` and ``depth`` are what ABC's ``strash; print_stats`` reports as
        ``and`` and ``lev`` for the AIGER and BLIF exports.
        """
        return self._aig

    @cached_property
    def _aig(self) -> BooleanCircuit:
        if self.xor_count == 0:
            return self
        capacity = self.num_nodes + 2 * self.xor_count + 1
        kinds, lhs, rhs, out = _expand_xor(self.kinds, self.a, self.b, self.outputs.ravel(),
                                           self.num_inputs, capacity)
        kinds, lhs, rhs, out = _compact(kinds, lhs, rhs, out, self.num_inputs)
        return BooleanCircuit(kinds, lhs, rhs, out.reshape(self.outputs.shape),
                              self.input_shape, self.info)

    # -- checks, evaluation and export ----------------------------------------------------
    def verify(self) -> None:
        """Check the layout invariants with whole-array operations; raise on the first."""
        n = self.num_nodes
        if n == 0 or self.kinds[0] != CONST or np.any(self.kinds[1:] == CONST):
            raise AssertionError("node 0 must be the only constant")
        inputs = np.flatnonzero(self.kinds == INPUT)
        if not np.array_equal(inputs, np.arange(1, len(inputs) + 1)):
            raise AssertionError("inputs must be nodes 1..I")
        if int(np.prod(self.input_shape)) != len(inputs):
            raise AssertionError("input_shape does not match the number of inputs")
        gates = np.flatnonzero(self.kinds >= AND)
        for column in (self.a, self.b):
            operand = column[gates] >> 1
            if np.any((column[gates] < 0) | (operand >= gates)):
                raise AssertionError("a gate reads a literal that is not an older node")
        xor = self.kinds == XOR
        if np.any((self.a[xor] | self.b[xor]) & 1):
            raise AssertionError("XOR operands must be uncomplemented")
        if self.outputs.size and (self.outputs.min() < 0 or self.outputs.max() >= 2 * n):
            raise AssertionError("an output literal is out of range")

    def with_outputs(self, outputs: np.ndarray) -> BooleanCircuit:
        """The same graph read at other literals (dead gates are not dropped)."""
        return replace(self, outputs=np.asarray(outputs, dtype=np.int64))

    def evaluate_bits(self, bits: np.ndarray) -> np.ndarray:
        """Output bits for input bit vectors ``(batch, num_inputs)``: ``(batch, outputs)``."""
        from rnncirc.eval.boolean import simulate_bits

        return simulate_bits(self, bits)

    def evaluate(self, xs) -> np.ndarray:
        """Integer outputs for integer inputs, shaped as `Circuit.evaluate` (see `encode`)."""
        from rnncirc.eval.boolean import evaluate_words

        return evaluate_words(self, xs)

    def report(self) -> dict:
        """Counts and depths as a JSON-ready dict (see `rnncirc.analyze.boolean`)."""
        from rnncirc.analyze.boolean import boolean_report

        return boolean_report(self)

    def write(self, path: str) -> None:
        """Write the circuit in the format its extension names (.aag .aig .blif .v .bristol)."""
        from rnncirc.export.boolean import write_circuit

        write_circuit(self, path)

    def __repr__(self) -> str:
        return (f"<BooleanCircuit {self.info.model} n={self.info.length} w={self.info.width} "
                f"and={self.and_count} xor={self.xor_count} depth={self.depth} "
                f"and_depth={self.and_depth}>")
