"""Exact evaluation modulo a prime: the modulus, and the residues of inputs and constants.

Where this sits: in `eval`, under the fast evaluator (`fast`, with ``modulus=p``) and the
exact one (`exact`), which both reduce a circuit's constants and the caller's inputs here
before any gate runs. A float is exactly m / 2^k and 2 is invertible mod an odd prime, so
every finite float has one exact residue.
"""

from __future__ import annotations

import math

import numpy as np

from rnncirc.errors import OptionError, RnncircError

#: default modulus for exact evaluation: the Mersenne prime 2^31 - 1
DEFAULT_MODULUS = 2**31 - 1


class ModulusError(RnncircError):
    """Exact modular evaluation was asked for something it cannot do exactly."""



def check_modulus(p: int) -> int:
    if isinstance(p, bool) or not isinstance(p, int | np.integer):
        raise OptionError(f"modulus must be an int, got {p!r}")
    p = int(p)
    if not 2 < p < 2**31 or not _is_prime(p):
        raise OptionError(f"modulus must be an odd prime below 2^31, got {p}")
    return p


def _is_prime(p: int) -> bool:
    if p % 2 == 0:
        return p == 2
    return all(p % d for d in range(3, math.isqrt(p) + 1, 2))


#: float64 holds every integer up to this; a folded constant past it may have been rounded
EXACT_INTEGERS = 2.0**53


def constant_residues(consts: np.ndarray, p: int) -> np.ndarray:
    """`residues` of a circuit's constants, refusing one past 2^53: the compiler folds
    products of constants in float64 (the powers of a constant A in a prefix network), and
    past 2^53 such a product is rounded, so the residue would be that of another circuit."""
    consts = np.asarray(consts)
    big = np.abs(consts) >= EXACT_INTEGERS
    if np.issubdtype(consts.dtype, np.floating) and big.any():
        value = float(consts[np.argmax(big)])
        raise ModulusError(
            f"the circuit has a constant {value:.6g}, past 2^53 where float64 stops holding "
            "every integer: it may be a product of constants folded and rounded in float64 "
            f"(e.g. a power of a constant A), so its value mod {p} is not exact; compile with "
            "--topology sequential (which folds no powers), or scale the weights down")
    return residues(consts, p, "a constant")


def residues(values: np.ndarray, p: int, what: str) -> np.ndarray:
    """Exact residues mod p of numbers that are integers or dyadic rationals (any float).

    A float is exactly m / 2^k, and 2 is invertible mod an odd prime, so every finite float
    has one exact residue; integer arrays are reduced directly.
    """
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer) or values.dtype == bool:
        return np.mod(values.astype(np.int64), p)
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ModulusError(f"{what} holds inf or NaN, which has no residue mod {p}")
    mantissa, exponent = np.frexp(values)  # value = m * 2^e exactly, |m| < 2^53
    m = (mantissa * 2.0**53).astype(np.int64)
    e = exponent.astype(np.int64) - 53
    powers, where = np.unique(e, return_inverse=True)
    inverse_two = pow(2, -1, p)
    factor = np.array([pow(2, int(k), p) if k >= 0 else pow(inverse_two, -int(k), p)
                       for k in powers], dtype=np.int64)
    return np.mod(np.mod(m, p) * factor[where.reshape(e.shape)], p)
