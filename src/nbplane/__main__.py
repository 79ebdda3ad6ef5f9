"""`python -m nbplane` runs the CLI."""

from nbplane.cli import main

main()
