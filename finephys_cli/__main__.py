"""`python -m finephys_cli` runs the CLI (where the `finephys` script is not installed)."""

from .app import main

main()
