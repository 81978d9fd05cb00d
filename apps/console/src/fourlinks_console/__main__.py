"""`python -m fourlinks_console`: what `fourlinks-console` runs."""

from fourlinks_console.serve import main

raise SystemExit(main())
