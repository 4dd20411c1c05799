"""`python -m backforge` runs the command."""

from .cli import main

main()
