"""``python -m rawproc.cli``: the ``rawproc`` command without the installed script."""

import sys

from rawproc.cli import main

if __name__ == "__main__":
    sys.exit(main())
