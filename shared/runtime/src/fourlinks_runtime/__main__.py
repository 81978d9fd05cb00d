"""`python -m fourlinks_runtime` runs the `fourlinks` command."""

import sys

from fourlinks_runtime.cli import main

sys.exit(main())
