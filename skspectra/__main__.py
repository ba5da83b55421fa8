"""``python -m skspectra``: the same as the ``skspectra`` command."""

import sys

from .cli import run

sys.exit(run())
