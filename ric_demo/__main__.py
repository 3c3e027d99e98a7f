"""``python -m ric_demo [--modality ...]``: the same as ``ric demo``."""

import sys

from ric_demo.cli import cli

raise SystemExit(cli(["demo", *sys.argv[1:]]))
