"""``python -m studies``: see :mod:`studies.cli`."""
import sys

if __name__ == "__main__":
    from studies.cli import main

    sys.exit(main())
