"""Up-front memory checks: refuse a circuit that would not fit before building any of it.

rnncirc plans to use at most `BUDGET` of the memory the machine has available when it
starts a job (the rest is left to the arrays a stage holds while it builds the next one,
and to the other processes); a refusal says so, with the estimate and the largest sequence
length that would fit.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from rnncirc.errors import CircuitTooLargeError

#: gate ids are int32 in a Circuit
MAX_ROWS = 2**31 - 1


def available_bytes() -> int:
    """Memory the process can still take (MemAvailable), or total physical memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _human(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError


#: bytes per gate assumed while building a prefix-lowered circuit (columns, levels, builder)
BUILD_BYTES_PER_GATE = 41


#: the share of the available memory a job plans to use
BUDGET = 0.8


def fits(rows: int, bytes_per_row: float = BUILD_BYTES_PER_GATE, extra: float = 0) -> bool:
    """Would `rows` rows (and `extra` bytes beside them) fit in memory and in int32 ids?"""
    return rows <= MAX_ROWS and rows * bytes_per_row + extra <= BUDGET * available_bytes()


def _budget_text(free: float) -> str:
    return (f"rnncirc plans to use at most {BUDGET:.0%} of the {_human(free)} available, "
            f"{_human(BUDGET * free)}")


def ensure_bytes(need: float, what: str, advice: str) -> None:
    """Raise `CircuitTooLargeError` if `need` bytes would not fit in available memory."""
    free = available_bytes()
    if need > BUDGET * free:
        raise CircuitTooLargeError(f"{what} would need about {_human(need)} of memory; "
                                   f"{_budget_text(free)}; {advice}")


def ensure_fits(rows: int, bytes_per_row: float, what: str,
                advice: str = "use a smaller --length",
                rows_at: Callable[[int], int] | None = None, length: int | None = None,
                extra_at: Callable[[int], float] | None = None, unit: str = "gates",
                rows_at_least: bool = False) -> None:
    """Raise `CircuitTooLargeError` if `rows` rows would not fit in memory (or in int32 ids).

    With `rows_at` (rows as a function of the sequence length, increasing) and the `length`
    asked for, the message also names the largest length that would fit; `extra_at` gives
    the bytes held beside the rows at a length (a prefix network's index arrays). `unit`
    names the rows; `rows_at_least` says that `rows_at` may be low (a first, cheap estimate),
    so the largest length it gives is only an upper bound, and is said to be one.
    """
    extra = extra_at(length) if extra_at is not None else 0
    if fits(rows, bytes_per_row, extra):
        return
    need = rows * bytes_per_row + extra
    free = available_bytes()
    largest = ""
    if rows_at is not None and length is not None:
        k = largest_length(lambda n: fits(rows_at(n), bytes_per_row,
                                          extra_at(n) if extra_at is not None else 0), length)
        largest = (f"; the largest length that fits is {'at most ' * rows_at_least}{k:,}"
                   if k else "; no length fits")
    raise CircuitTooLargeError(
        f"{what} would have about {rows:,} {unit} "
        f"and need about {_human(need)} of memory; "
        + ("gate ids are limited to 2^31; " if rows > MAX_ROWS else "")
        + f"{_budget_text(free)}{largest}; {advice}")


def largest_length(fit: Callable[[int], bool], above: int) -> int:
    """The largest n < `above` with ``fit(n)`` (0 if none), for `fit` true up to a point."""
    lo, hi = 0, above  # fit(lo) holds (or lo = 0), fit(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fit(mid):
            lo = mid
        else:
            hi = mid
    return lo
