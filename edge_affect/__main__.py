"""``python -m edge_affect`` runs the command line."""

from edge_affect.cli import main

main()
