"""`fourlinks-console [--host H] [--port N]`: the console with uvicorn (what its image runs)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

DEFAULT_PORT = 8100


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the console until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="fourlinks-console", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    import uvicorn  # noqa: PLC0415 - only when serving

    from fourlinks_runtime.logs import configure_logging  # noqa: PLC0415

    configure_logging()
    uvicorn.run(
        "fourlinks_console.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
    )
    return 0
