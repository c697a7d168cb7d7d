"""``python -m vizlab.reproduce [NAME ...] [--quick]``."""

import sys

from vizlab.reproduce.cli import main

raise SystemExit(main(sys.argv[1:]))
