"""The version of rnncirc, read from the installed package's metadata: pyproject.toml is its
one source."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnncirc")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
