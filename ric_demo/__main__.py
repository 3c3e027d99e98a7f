"""``python -m ric_demo [--modality ...]``: the same as ``ric demo``."""

from ric_demo.cli import main

main()
