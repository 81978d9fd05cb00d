"""`python -m fourlinks_cli` runs the `fourlinks` command."""

import sys

from fourlinks_cli.cli import main

sys.exit(main())
