"""``python -m sdwh`` runs the command line."""

from sdwh.cli import main

main()
