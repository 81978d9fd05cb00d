"""`python -m fourlinks_audit replay rebuild members`: what `fourlinks audit|replay` runs."""

import sys

from fourlinks_audit.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
