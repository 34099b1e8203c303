"""The command line, the top layer: argparse, printing and file formats; the library returns data.

One module per command group: `main` (the parser, ``compile``, ``classify``, exit statuses),
`profile_dot` (``profile``, ``dot``), `run` (``run``), `boolean` (``boolean``), and `options`
(option definitions every command shares).
"""

from rnncirc.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
