"""GateBuilder: appends whole arrays of gates at a time, folding constants as it goes.

Lowering passes (scalarize, unroll, prefix) never create one gate at a time: every call takes
numpy arrays of operand ids and returns an array of result ids. Folding is vectorized too:
``x*0``, ``x*1``, ``x+0``, ``x-0``, ``x/1`` and operations on two constants never become gates,
so zero and one weights cost nothing and a sparse weight matrix gives a sparse circuit.
(Folding ``x*0 -> 0`` assumes x is finite, as every compiler of this kind does.)

Rows are stored struct-of-arrays, growing by doubling. Leaf rows (CONST, INPUT, STATE) keep their
payload in ``a``: the index into the constant table, or the input/state slot.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.ir.ops import ARITY, IS_COMMUTATIVE, Op, apply_op
from rnncirc.ir.rational import exact_quotient, has_fraction, split_fraction

_NO_OPERAND = -1
#: rows up to which a new builder's capacity is filled with sentinels
_FILLED_RESERVE = 1 << 20


class GateBuilder:
    """Struct-of-arrays gate list under construction (ids are row numbers)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        # a large reserve (a program's whole circuit) is not filled: the fill would write
        # every row twice, and no read reaches past `n` (`_check_ids` guards every entry)
        fill = np.full if capacity <= _FILLED_RESERVE else \
            (lambda size, value, dtype: np.empty(size, dtype=dtype))
        self._op = np.zeros(capacity, dtype=np.uint8)
        # int32 ids: a Circuit stores them so, and it halves memory while building
        self._a = fill(capacity, _NO_OPERAND, dtype=np.int32)
        self._b = fill(capacity, _NO_OPERAND, dtype=np.int32)
        self._c = fill(capacity, _NO_OPERAND, dtype=np.int32)
        self._node = fill(capacity, -1, dtype=np.int32)
        self._is_const = np.zeros(capacity, dtype=bool)
        self._late = np.zeros(capacity, dtype=bool)
        self.const_values: list[float] = []
        self._const_id: dict[float, int] = {}
        #: constants folded from +, - or x of constants whose float64 result was rounded: the
        #: float circuit is unchanged by the fold, but an exact evaluation (Fractions, mod p)
        #: of it would be of another circuit (`rounded_constants`)
        self.rounded: set[float] = set()
        #: cell node id recorded as provenance of the gates created next
        self.node_id = -1

    # -- storage ---------------------------------------------------------------------------
    def _grow(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self._op):
            return
        capacity = max(need, 2 * len(self._op))
        for name in ("_op", "_a", "_b", "_c", "_node", "_is_const", "_late"):
            old = getattr(self, name)
            # the slack holds sentinels, not garbage: operand -1, no constant, not late
            new = np.full(capacity, _NO_OPERAND if name in ("_a", "_b", "_c", "_node") else 0,
                          dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def _append(self, op, a, b=None, c=None, late=None) -> np.ndarray:
        count = len(a)
        self._grow(count)
        rows = slice(self.n, self.n + count)
        self._op[rows] = op
        self._a[rows] = a
        self._b[rows] = _NO_OPERAND if b is None else b
        self._c[rows] = _NO_OPERAND if c is None else c
        self._node[rows] = self.node_id
        self._is_const[rows] = np.asarray(op) == Op.CONST
        self._late[rows] = False if late is None else late
        ids = np.arange(self.n, self.n + count, dtype=np.int64)
        self.n += count
        return ids

    def arrays(self, copy: bool = True, trim: bool = False) -> dict[str, np.ndarray]:
        """The rows built so far (views when `copy` is False: the builder is done). `trim`
        gives the unused capacity back first, in place (a reallocation that shrinks moves no
        row), so a builder reserved generously costs no more than its rows."""
        if trim and not copy:
            for name in ("op", "a", "b", "c", "node", "is_const", "late"):
                getattr(self, "_" + name).resize(self.n, refcheck=False)
        return {name: getattr(self, "_" + name)[: self.n].copy() if copy
                else getattr(self, "_" + name)[: self.n]
                for name in ("op", "a", "b", "c", "node")}

    def gates_since(self, start: int) -> int:
        """Gates (not leaves) among the rows built from row `start` on."""
        return int(np.count_nonzero(ARITY[self._op[start:self.n]] > 0))

    def move_provenance(self, start: int, offset: int) -> None:
        """Rows from `start` on: cell node k becomes node ``offset + k`` and "no node" (-1)
        ``offset - 1`` (a program's layer keeps its cell's labels in its own block); shared
        rows keep their mark."""
        node = self._node[start:self.n]
        node[node >= -1] += offset

    def is_const(self, ids: np.ndarray) -> np.ndarray:
        return self._is_const[ids]

    def const_value(self, ids: np.ndarray) -> np.ndarray:
        """Values of constant rows (NaN for others)."""
        values = np.asarray(self.const_values + [np.nan])
        payload = np.where(self._is_const[ids], self._a[ids], len(self.const_values))
        return values[payload]

    def late(self, ids: np.ndarray) -> np.ndarray:
        """Whether each id depends on a late leaf (the previous state inside a step template)."""
        return self._late[ids]

    # -- leaves ----------------------------------------------------------------------------
    def const(self, values) -> np.ndarray:
        """Ids of constant rows holding `values` (interned: one row per distinct value)."""
        values = np.asarray(values, dtype=np.float64)
        canonical = np.where(values == 0, 0.0, values).ravel()  # -0.0 and 0.0 are one constant
        unique, inverse = np.unique(canonical, return_inverse=True)
        ids = np.array([self._const_id.get(v, -1) for v in unique.tolist()], dtype=np.int64)
        new = ids < 0  # one dict look-up per distinct constant, never per gate
        if new.any():
            first_index = len(self.const_values)
            self.const_values.extend(unique[new].tolist())
            ids[new] = self._append(Op.CONST, first_index + np.arange(np.count_nonzero(new)))
            self._const_id.update(zip(unique[new].tolist(), ids[new].tolist(), strict=True))
        return ids[inverse].reshape(values.shape)

    def rational(self, values) -> np.ndarray:
        """`const`, where `values` may hold Fractions: one a float cannot hold is the gate
        ``DIV(CONST a, CONST b)`` (`rnncirc.ir.rational`)."""
        if not has_fraction(values):
            return self.const(values)
        num, den = split_fraction(values)
        return self.gates(Op.DIV, self.const(num), self.const(den))

    def leaf(self, op: Op, slots: np.ndarray, late: bool = False) -> np.ndarray:
        """Ids of new INPUT or STATE rows for the given slots."""
        slots = np.asarray(slots, dtype=np.int64)
        return self._append(op, slots.ravel(), late=late).reshape(slots.shape)

    # -- gates with folding ----------------------------------------------------------------
    def gates(self, op: Op, a, b=None, c=None) -> np.ndarray:
        """Ids of ``op(a, b, c)`` elementwise over equal-shaped id arrays, after folding."""
        a = np.asarray(a, dtype=np.int64)
        shape = a.shape
        operands = [np.ravel(x).astype(np.int64) for x in (a, b, c) if x is not None]
        if len(operands) != ARITY[op]:
            raise ValueError(f"{op.name} takes {ARITY[op]} operands, got {len(operands)}")
        if not all(o.shape == operands[0].shape for o in operands):
            raise ValueError(f"{op.name}: operand id arrays differ in shape")
        self._check_ids(op.name, operands)
        result = np.full(operands[0].shape, _NO_OPERAND, dtype=np.int64)
        self._fold(op, operands, result)
        todo = result == _NO_OPERAND
        if todo.any():
            picked = [o[todo] for o in operands]
            if IS_COMMUTATIVE[op]:
                picked = [np.minimum(picked[0], picked[1]), np.maximum(picked[0], picked[1])]
            late = np.zeros(len(picked[0]), dtype=bool)
            for o in picked:
                late |= self._late[o]
            result[todo] = self._append(op, *picked, late=late)
        return result.reshape(shape)

    def _check_ids(self, what: str, operands: list[np.ndarray]) -> None:
        """Operands must be rows already built: a sentinel -1 or a row past the end would
        read the unset slack of the arrays (garbage) instead of failing. Two reductions per
        call, no cost per gate worth avoiding."""
        for o in operands:
            if len(o) and (o.min() < 0 or o.max() >= self.n):
                bad = o[(o < 0) | (o >= self.n)][0]
                raise ValueError(f"internal: {what} reads row {bad}, which is not built "
                                 f"(rows 0..{self.n - 1})")

    def _fold(self, op: Op, operands: list[np.ndarray], result: np.ndarray) -> None:
        """Fill `result` where the gate folds away; leave -1 where a real gate is needed."""
        consts = [self._is_const[o] for o in operands]
        if not any(mask.any() for mask in consts):
            if len(operands) >= 2 and op in (Op.SUB, Op.MAX, Op.MIN, Op.SELECT):
                pass  # x - x, max(x, x) and select(c, x, x) fold without constants
            else:
                return
        all_const = np.logical_and.reduce(consts)
        if all_const.any():
            values = [self.const_value(o[all_const]) for o in operands]
            with np.errstate(all="ignore"):
                folded = apply_op(op, *values)
            if op == Op.DIV:  # a / b of integers stays a gate unless exact: a rational
                exact = exact_quotient(*values, folded)
                all_const[all_const] = exact
                folded = folded[exact]
            elif op in (Op.ADD, Op.SUB, Op.MUL):
                self.rounded.update(folded[~exact_in_float(op, *values, folded)].tolist())
            result[all_const] = self.const(folded)
        if len(operands) == 1:
            return
        a, b = operands[0], operands[1]
        va, vb = self.const_value(a), self.const_value(b)
        open_ = result == _NO_OPERAND

        def take(mask, ids):
            mask &= open_
            result[mask] = ids[mask] if isinstance(ids, np.ndarray) else ids
            open_[mask] = False

        def negate(mask, ids):
            mask &= open_
            if mask.any():
                result[mask] = self.gates(Op.NEG, ids[mask])
                open_[mask] = False

        if op == Op.ADD:
            take(va == 0, b)
            take(vb == 0, a)
        elif op == Op.SUB:
            take(vb == 0, a)
            take(a == b, int(self.const(0.0)))
            negate(va == 0, b)
        elif op == Op.MUL:
            take((va == 0) | (vb == 0), int(self.const(0.0)))
            take(va == 1, b)
            take(vb == 1, a)
            negate(va == -1, b)
            negate(vb == -1, a)
        elif op == Op.DIV:
            take(vb == 1, a)
            negate(vb == -1, a)
        elif op in (Op.MAX, Op.MIN):
            take(a == b, a)
        elif op == Op.SELECT:
            c = operands[2]
            take(consts[0] & (va != 0), b)  # va is NaN where the condition is not constant
            take(consts[0] & (va == 0), c)
            take(b == c, b)

    # -- tiling ----------------------------------------------------------------------------
    def tile(self, rows: dict, const_values: np.ndarray, input_ids: np.ndarray,
             outputs: np.ndarray) -> np.ndarray:
        """Append one copy of a template per row of `input_ids`; ids of its outputs per copy.

        `rows` is a template built by another GateBuilder (leaves CONST and INPUT only, in
        topological order); copy t reads input slot s from ``input_ids[t, s]``. Copy t's gate j
        gets id ``base + t*G + rank(j)``, so every operand column is one outer product: no
        Python runs per gate. Returns ``(copies, len(outputs))`` ids.
        """
        op = rows["op"]
        self._check_ids("a tile", [np.ravel(input_ids)])
        copies = input_ids.shape[0]
        is_gate = ARITY[op] > 0
        rank = np.cumsum(is_gate) - 1
        g = int(np.count_nonzero(is_gate))
        const = op == Op.CONST
        offset = np.zeros(len(op), dtype=np.int64)
        if const.any():
            offset[const] = self.const(np.asarray(const_values)[rows["a"][const]])
        base = self.n
        offset[is_gate] = base + rank[is_gate]
        stride = np.where(is_gate, g, 0).astype(np.int64)
        inp = op == Op.INPUT

        def mapped(ids, steps):
            out = offset[ids][None, :] + steps[:, None] * stride[ids][None, :]
            from_input = np.flatnonzero(inp[ids])
            if len(from_input):
                out[:, from_input] = input_ids[steps[:, None],
                                               rows["a"][ids[from_input]][None, :]]
            return out

        gate_rows = np.flatnonzero(is_gate)
        if g == 0 or copies == 0:
            return mapped(np.asarray(outputs), np.arange(copies))
        self._grow(copies * g)
        _tile_rows(gate_rows, op, rows["a"], rows["b"], rows["c"], rows["node"], ARITY, offset,
                   stride, inp, np.asarray(input_ids, dtype=np.int64), copies, base, self._op,
                   self._a, self._b, self._c, self._node)
        self._is_const[base:base + copies * g] = False
        self._late[base:base + copies * g] = False
        self.n += copies * g
        return mapped(np.asarray(outputs), np.arange(copies))

    def splice(self, circuit, input_ids: np.ndarray, node_offset: int) -> np.ndarray:
        """Append the gates of a finished `Circuit` whose input slot s reads ``input_ids[s]``;
        returns the new id of every row of the circuit.

        The circuit's rows are in topological order, so each gate's new id is the next row and
        its operands are read through the id map, in one compiled pass (`_splice_rows`). Its
        constants join this builder's; its `node` provenance moves up by `node_offset` (rows
        of no node, -1, become ``node_offset - 1``; shared rows keep their mark). Nothing
        folds: the circuit was built folded, and its inputs are read as they are.
        """
        op = circuit.op
        input_ids = np.asarray(input_ids, dtype=np.int64).ravel()
        self._check_ids("a spliced circuit", [input_ids])
        is_gate = ARITY[op] > 0
        new_id = np.full(len(op), -1, dtype=np.int64)
        const = op == Op.CONST
        new_id[const] = self.const(circuit.consts[circuit.a[const]])
        self.rounded.update(rounded_constants(circuit))
        inp = op == Op.INPUT
        new_id[inp] = input_ids[circuit.a[inp]]
        base = self.n
        gates = int(np.count_nonzero(is_gate))
        self._grow(gates)
        _splice_rows(op, circuit.a, circuit.b, circuit.c, circuit.node, ARITY, new_id, base,
                     self._op, self._a, self._b, self._c, self._node, node_offset)
        self._is_const[base:base + gates] = False
        self._late[base:base + gates] = False
        self.n += gates
        return new_id

    # -- sums ------------------------------------------------------------------------------
    def sum_rows(self, terms: np.ndarray) -> np.ndarray:
        """Balanced adder tree over each row of `terms` (shape ``(rows, k)``); ids per row.

        Zero terms are dropped and constant terms merged first, so a sparse row costs only its
        non-zero terms. Terms that depend on the previous state ("late") are summed in their own
        tree and added last, so the state path through a step is as short as possible.
        """
        terms = np.asarray(terms, dtype=np.int64)
        rows, k = terms.shape
        row = np.repeat(np.arange(rows), k)
        flat = terms.ravel()
        is_const = self._is_const[flat]
        const_sum = np.zeros(rows)
        np.add.at(const_sum, row[is_const], self.const_value(flat[is_const]))
        keep = ~is_const
        row, flat = row[keep], flat[keep]
        late = self._late[flat]
        early_total = self._reduce_ragged(row[~late], flat[~late], rows)
        const_ids = self.const(const_sum)
        # a row of constants only is its constant; a constant joins other terms only if not 0
        only_const = early_total < 0
        early_total[only_const] = const_ids[only_const]
        early_total = self._add_where(early_total, const_ids, ~only_const & (const_sum != 0))
        late_total = self._reduce_ragged(row[late], flat[late], rows)
        both = late_total >= 0
        return np.where(both, self._add_where(early_total, late_total, both), early_total)

    def _add_where(self, a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = a.copy()
        if mask.any():
            out[mask] = self.gates(Op.ADD, a[mask], b[mask])
        return out

    def _reduce_ragged(self, row: np.ndarray, ids: np.ndarray, rows: int) -> np.ndarray:
        """Sum ids grouped by row (row sorted ascending) with a balanced tree; -1 if empty."""
        if len(row) and rows:
            counts = np.bincount(row, minlength=rows)
            if counts.min() == counts.max():  # rows sorted and equally long: a plain matrix
                return self._reduce_regular(ids.reshape(rows, counts[0]))
        while True:
            counts = np.bincount(row, minlength=rows)
            if len(row) == 0 or counts.max() <= 1:
                break
            starts = np.cumsum(counts) - counts
            pos = np.arange(len(row)) - starts[row]
            first = (pos % 2 == 0) & (pos + 1 < counts[row])
            pair = np.flatnonzero(first)
            ids = ids.copy()
            ids[pair] = self.gates(Op.ADD, ids[pair], ids[pair + 1])
            drop = np.zeros(len(row), dtype=bool)
            drop[pair + 1] = True
            row, ids = row[~drop], ids[~drop]
        total = np.full(rows, _NO_OPERAND, dtype=np.int64)
        total[row] = ids
        return total

    def _reduce_regular(self, ids: np.ndarray) -> np.ndarray:
        """Balanced tree per row when every row has the same number of terms (the common case)."""
        while ids.shape[1] > 1:
            half = ids.shape[1] // 2
            paired = self.gates(Op.ADD, ids[:, 0:2 * half:2], ids[:, 1:2 * half:2])
            ids = np.concatenate([paired, ids[:, 2 * half:]], axis=1) if ids.shape[1] % 2 \
                else paired
        return ids[:, 0].copy()


@numba.njit(cache=True, nogil=True)
def _splice_rows(op, a, b, c, node, arity, new_id, base, out_op, out_a, out_b, out_c,
                 out_node, node_offset):
    """`GateBuilder.splice`'s one pass: gate i of the circuit becomes row base + rank(i),
    its operands read through `new_id` (filled for the leaves, and here for each gate)."""
    row = base
    for i in range(len(op)):
        k = arity[op[i]]
        if k == 0:
            continue
        new_id[i] = row
        out_op[row] = op[i]
        out_a[row] = new_id[a[i]]
        out_b[row] = new_id[b[i]] if k >= 2 else -1
        out_c[row] = new_id[c[i]] if k >= 3 else -1
        out_node[row] = node[i] + node_offset if node[i] >= -1 else node[i]
        row += 1


@numba.njit(cache=True, nogil=True)
def _tile_rows(gate_rows, op, a, b, c, node, arity, offset, stride, is_input, input_ids,
               copies, base, out_op, out_a, out_b, out_c, out_node):
    """`GateBuilder.tile`'s rows: copy t of template gate j at row base + t*G + j, each
    operand mapped to ``offset + t*stride`` (gates, constants) or to copy t's input id."""
    g = len(gate_rows)
    for t in range(copies):
        row = base + t * g
        for j in range(g):
            r = gate_rows[j]
            k = arity[op[r]]
            out_op[row + j] = op[r]
            out_node[row + j] = node[r]
            out_a[row + j] = _tiled_id(a[r], t, offset, stride, is_input, a, input_ids)
            out_b[row + j] = _tiled_id(b[r], t, offset, stride, is_input, a, input_ids) \
                if k >= 2 else -1
            out_c[row + j] = _tiled_id(c[r], t, offset, stride, is_input, a, input_ids) \
                if k >= 3 else -1


@numba.njit(cache=True, nogil=True, inline="always")
def _tiled_id(source, t, offset, stride, is_input, slot, input_ids):
    if is_input[source]:
        return input_ids[t, slot[source]]
    return offset[source] + t * stride[source]


def exact_in_float(op: Op, a: np.ndarray, b: np.ndarray, result: np.ndarray) -> np.ndarray:
    """Which float64 results of ``a + b``, ``a - b`` or ``a * b`` are the exact rational
    results: the rounding error, found without rounding (Knuth's TwoSum, Dekker's product by
    Veltkamp halves), is zero. A result that is not finite, or a product near the bottom of
    the exponent range (where the halves lose bits), counts as rounded."""
    with np.errstate(all="ignore"):
        if op == Op.MUL:
            def halves(x):
                scaled = 134217729.0 * x  # 2^27 + 1
                high = scaled - (scaled - x)
                return high, x - high
            ah, al = halves(a)
            bh, bl = halves(b)
            error = ((ah * bh - result) + ah * bl + al * bh) + al * bl
            fine = (np.abs(result) > 2.0**-960) | (a == 0) | (b == 0)
            return np.isfinite(result) & np.isfinite(error) & (error == 0) & fine
        b = -b if op == Op.SUB else b
        bb = result - a
        error = (a - (result - bb)) + (b - bb)
        return np.isfinite(result) & (error == 0)


def rounded_info(builder: GateBuilder) -> dict:
    """The `CircuitInfo.extra` entry that records `builder.rounded` (none when empty)."""
    return {"rounded_constants": sorted(builder.rounded)} if builder.rounded else {}


def rounded_constants(circuit) -> list[float]:
    """The constants of `circuit` that folding rounded (`GateBuilder.rounded`)."""
    return list(circuit.info.extra.get("rounded_constants", ()))
