"""``python -m rnncirc`` runs the command line."""

import sys

from rnncirc.cli import main

sys.exit(main())
