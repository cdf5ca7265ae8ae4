"""``python -m nanobanana``: the command line (see :mod:`nanobanana._cli`)."""

from nanobanana._cli import console

if __name__ == "__main__":
    console()
