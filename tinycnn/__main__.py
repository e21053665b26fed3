"""``python -m tinycnn ...``: the same as the ``tinycnn`` command (``tinycnn.cli.main``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
