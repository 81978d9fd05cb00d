"""`fourlinks-serve SERVICE`: one service's HTTP API, projections and policies (what each service
image runs). The service is named, not imported: the runtime knows no service."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

SERVICES = {"members": 8101, "assignments": 8102, "feedback": 8103}  # default ports


def main(argv: Sequence[str] | None = None) -> int:
    """Run one service with uvicorn until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="fourlinks-serve", description=__doc__)
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    serve(args.service, host=args.host, port=args.port or SERVICES[args.service])
    return 0


def serve(service: str, *, host: str, port: int) -> None:
    """Run the service's app factory (`fourlinks_<service>.bootstrap:create_app`)."""
    import uvicorn  # noqa: PLC0415 - only when serving: `fourlinks token` need not load a web server

    uvicorn.run(
        f"fourlinks_{service}.bootstrap:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    raise SystemExit(main())
