"""`fourlinks-serve SERVICE`: one service's HTTP API, projections and policies (what each service
image runs). The service is named, not imported: the runtime knows no service.

With `--workers N` (N > 1) the HTTP API runs in N processes (`FOURLINKS_PROCESS_ROLE=api`) on the
port, while one worker process beside them runs the projections, policies and schedulers (and
answers on a port of its own); the API processes read where the read models stand from the
worker's checkpoints, so read-your-writes (`X-Min-Position`) holds whichever process answers.

With `FOURLINKS_PROFILE_DIR` set, each process started this way writes a CPU profile there when
it stops (fourlinks_runtime.profiling); uvicorn's API processes under `--workers N` are not.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence

from fourlinks_runtime.profiling import profiled
from fourlinks_runtime.slow_clients import MAX_CONNECTIONS, guarded_server_options
from fourlinks_runtime.upstate import free_port

SERVICES = {"members": 8101, "assignments": 8102, "feedback": 8103, "notifications": 8104}  # default ports
PR_SET_PDEATHSIG = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one service with uvicorn until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="fourlinks-serve", description=__doc__)
    parser.add_argument("service", choices=sorted(SERVICES))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    from_env = os.environ.get("FOURLINKS_API_WORKERS", "1").strip()
    if not from_env.isdigit():
        parser.error(f"FOURLINKS_API_WORKERS must be a whole number of processes, not {from_env!r}")
    parser.add_argument(
        "--workers",
        type=int,
        default=int(from_env),
        help="HTTP API processes beside one worker process (default FOURLINKS_API_WORKERS or 1: "
        "one process does everything)",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    with profiled(args.service):  # off unless FOURLINKS_PROFILE_DIR is set
        serve(args.service, host=args.host, port=args.port or SERVICES[args.service], workers=args.workers)
    return 0


def serve(service: str, *, host: str, port: int, workers: int = 1) -> None:
    """Run the service's app factory (`fourlinks_<service>.bootstrap:create_app`)."""
    import uvicorn  # noqa: PLC0415 - only when serving: `fourlinks token` need not load a web server

    app = f"fourlinks_{service}.bootstrap:create_app"
    guarded = guarded_server_options(MAX_CONNECTIONS)
    if workers <= 1:
        uvicorn.run(app, factory=True, host=host, port=port, log_config=None, access_log=False, **guarded)
        return
    with _worker_process(service):
        os.environ["FOURLINKS_PROCESS_ROLE"] = "api"  # inherited by uvicorn's processes
        uvicorn.run(
            app,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
            **guarded,
        )


@contextlib.contextmanager
def _worker_process(service: str) -> Iterator[subprocess.Popen[bytes]]:
    """The one process of the service that runs its projections, policies and schedulers."""
    command = [sys.executable, "-m", "fourlinks_runtime.serve", service, "--port", str(free_port())]
    command += ["--workers", "1"]
    env = {**os.environ, "FOURLINKS_PROCESS_ROLE": "all"}
    worker = subprocess.Popen(command, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509
    try:
        yield worker
    finally:
        worker.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=10)
        if worker.poll() is None:
            worker.kill()


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM if this process dies without stopping it (SIGKILL, OOM)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":
    raise SystemExit(main())
