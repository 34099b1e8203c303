"""Up-front memory checks: refuse a circuit that would not fit before building any of it."""

from __future__ import annotations

import os

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


def fits(rows: int, bytes_per_row: float = BUILD_BYTES_PER_GATE) -> bool:
    """Would `rows` rows fit in memory (and in int32 ids)?"""
    return rows <= MAX_ROWS and rows * bytes_per_row <= 0.8 * available_bytes()


def ensure_bytes(need: float, what: str, advice: str) -> None:
    """Raise `CircuitTooLargeError` if `need` bytes would not fit in available memory."""
    free = available_bytes()
    if need > 0.8 * free:
        raise CircuitTooLargeError(f"{what} would need about {_human(need)} of memory, but "
                                   f"only {_human(free)} is available; {advice}")


def ensure_fits(rows: int, bytes_per_row: float, what: str,
                advice: str = "use a smaller --length") -> None:
    """Raise `CircuitTooLargeError` if `rows` rows would not fit in memory (or in int32 ids)."""
    need = rows * bytes_per_row
    free = available_bytes()
    if not fits(rows, bytes_per_row):
        raise CircuitTooLargeError(
            f"{what} would have about {rows:,} gates and need about {_human(need)} of memory, "
            f"but only {_human(free)} is available"
            + (" (and ids are limited to 2^31)" if rows > MAX_ROWS else "")
            + f"; {advice}")
