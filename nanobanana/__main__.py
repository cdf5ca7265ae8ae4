"""``python -m nanobanana``: the command line (see :mod:`nanobanana._cli`)."""

import sys

from nanobanana._cli import main

if __name__ == "__main__":
    sys.exit(main())
