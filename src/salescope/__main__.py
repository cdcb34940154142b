"""``python -m salescope`` runs the command line."""

from salescope.cli import main

main()
