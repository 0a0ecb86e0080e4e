"""``python -m calsync.cli``: the same as the ``calsync`` console script."""

from calsync.cli import main

main()
