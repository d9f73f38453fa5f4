"""``python -m alignuser``."""

from alignuser.cli import main

main()
