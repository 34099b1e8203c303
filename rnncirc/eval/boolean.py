"""Bit-parallel evaluation of a `BooleanCircuit`: 64 input vectors per uint64 word.

Where this sits: the fast evaluator of the boolean IR, checked against the integer reference
(`rnncirc.lower.boolean.semantics.evaluate_int`) of the arithmetic circuit it was lowered from.

Summary of the algorithm. Input vectors are transposed and packed so that input bit i of
vectors 64k..64k+63 is one uint64 word. One Numba pass over the nodes (topological order)
computes every node's words with ``&`` and ``^`` (a complemented operand is XORed with all
ones). The batch is cut into blocks of words that are evaluated independently, in parallel
threads, each block small enough that its node values stay within a bounded buffer.
"""

from __future__ import annotations

import numba
import numpy as np

from rnncirc.ir.aig import AND, BooleanCircuit
from rnncirc.ir.kernel_cache import cached

#: node values (uint64 words) held per block; bounds each thread's buffer to 32 MiB
_BLOCK_VALUES = 1 << 22


@cached
@numba.njit(nogil=True, parallel=True)
def simulate_words(kinds, a, b, num_inputs, inputs, outputs, block):
    """Words of the output literals ``(len(outputs), W)`` for input words ``(I, W)``."""
    n = len(kinds)
    total = inputs.shape[1]
    out = np.empty((len(outputs), total), dtype=np.uint64)
    blocks = (total + block - 1) // block
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    for k in numba.prange(blocks):
        lo = k * block
        width = min(block, total - lo)
        values = np.empty((n, width), dtype=np.uint64)
        for j in range(width):
            values[0, j] = 0
        for i in range(num_inputs):
            for j in range(width):
                values[i + 1, j] = inputs[i, lo + j]
        for node in range(num_inputs + 1, n):
            x = values[a[node] >> 1]
            y = values[b[node] >> 1]
            mx = ones if a[node] & 1 else np.uint64(0)
            my = ones if b[node] & 1 else np.uint64(0)
            row = values[node]
            if kinds[node] == AND:
                for j in range(width):
                    row[j] = (x[j] ^ mx) & (y[j] ^ my)
            else:
                for j in range(width):
                    row[j] = x[j] ^ y[j] ^ mx ^ my
        for o in range(len(outputs)):
            m = ones if outputs[o] & 1 else np.uint64(0)
            src = values[outputs[o] >> 1]
            for j in range(width):
                out[o, lo + j] = src[j] ^ m
    return out


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """``(batch, m)`` 0/1 -> ``(m, ceil(batch / 64))`` uint64, vector v in bit v % 64."""
    bits = np.asarray(bits, dtype=np.uint8)
    batch = bits.shape[0]
    padded = np.zeros((bits.shape[1], -(-batch // 64) * 64), dtype=np.uint8)
    padded[:, :batch] = bits.T
    packed = np.packbits(padded, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpack_bits(words: np.ndarray, batch: int) -> np.ndarray:
    """Inverse of `pack_bits`: ``(m, W)`` uint64 -> ``(batch, m)`` uint8."""
    raw = np.ascontiguousarray(words.astype("<u8")).view(np.uint8)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :batch].T


def simulate_packed(circuit: BooleanCircuit, input_words: np.ndarray) -> np.ndarray:
    """Output words ``(outputs, W)`` for packed input words ``(num_inputs, W)``."""
    input_words = np.ascontiguousarray(input_words, dtype=np.uint64)
    if input_words.shape[0] != circuit.num_inputs:
        raise ValueError(f"expected {circuit.num_inputs} input rows, got {input_words.shape[0]}")
    block = int(max(1, min(64, _BLOCK_VALUES // max(1, circuit.num_nodes))))
    return simulate_words(circuit.kinds, circuit.a, circuit.b, circuit.num_inputs,
                          input_words, circuit.outputs.ravel(), block)


def simulate_bits(circuit: BooleanCircuit, bits: np.ndarray) -> np.ndarray:
    """Output bits ``(batch, outputs)`` for input bits ``(batch, num_inputs)``."""
    bits = np.asarray(bits)
    if bits.ndim != 2 or bits.shape[1] != circuit.num_inputs:
        raise ValueError(f"input bits must have shape (batch, {circuit.num_inputs}), got "
                         f"{bits.shape}")
    return unpack_bits(simulate_packed(circuit, pack_bits(bits)), bits.shape[0])


def encode(circuit: BooleanCircuit, xs) -> tuple[np.ndarray, bool]:
    """Input bits ``(batch, num_inputs)`` for integer inputs or symbols; and batchedness.

    Real-input models take integers (words) shaped ``(n, K)`` or ``(batch, n, K)``; alphabet
    models take symbols ``(n,)`` or ``(batch, n)``, encoded one-hot or in binary as the circuit
    was built.
    """
    from rnncirc.lower.boolean.semantics import BooleanLoweringError

    info = circuit.info
    xs = np.asarray(xs)
    shape = circuit.input_shape
    n = shape[0]
    if not np.issubdtype(xs.dtype, np.integer):
        raise BooleanLoweringError(f"a boolean circuit takes integer inputs, got dtype "
                                   f"{xs.dtype}")
    if info.alphabet:
        if xs.ndim not in (1, 2) or xs.shape[-1] != n:
            raise BooleanLoweringError(f"expected symbols of shape ({n},) or (batch, {n}), got "
                                       f"{xs.shape}")
        batched = xs.ndim == 2
        xs = xs if batched else xs[None]
        if xs.min() < 0 or xs.max() >= info.alphabet:
            raise BooleanLoweringError(f"symbols must be in range({info.alphabet})")
        if info.symbols == "onehot":
            bits = xs[..., None] == np.arange(info.alphabet)
        else:
            bits = (xs[..., None] >> np.arange(shape[1])) & 1
        return bits.reshape(len(xs), -1).astype(np.uint8), batched
    if len(shape) != 3:
        raise BooleanLoweringError("this circuit was not lowered from a real-input model; "
                                   "give input bits to evaluate_bits instead")
    k, width = shape[1], shape[2]
    if xs.ndim not in (2, 3) or xs.shape[-2:] != (n, k):
        raise BooleanLoweringError(f"expected integer inputs of shape ({n}, {k}) or "
                                   f"(batch, {n}, {k}), got {xs.shape}")
    batched = xs.ndim == 3
    xs = (xs if batched else xs[None]).astype(np.int64).astype(np.uint64)
    bits = (xs[..., None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)
    return bits.reshape(len(xs), -1).astype(np.uint8), batched


def decode(circuit: BooleanCircuit, bits: np.ndarray) -> np.ndarray:
    """Integers from output bits ``(batch, outputs)``: ``(batch, *outputs.shape[:-1])``."""
    width = circuit.outputs.shape[-1]
    words = bits.reshape(bits.shape[0], -1, width).astype(np.int64)
    values = (words << np.arange(width)).sum(axis=-1)
    if circuit.info.signed:
        values -= ((values >> (width - 1)) & 1) << width
    return values.reshape((bits.shape[0],) + circuit.outputs.shape[:-1])


def evaluate_words(circuit: BooleanCircuit, xs) -> np.ndarray:
    """Integer outputs for integer inputs, shaped as `Circuit.evaluate` returns them."""
    bits, batched = encode(circuit, xs)
    values = decode(circuit, simulate_bits(circuit, bits))
    if circuit.info.outputs == "last":
        values = values[:, 0]
    return values if batched else values[0]
