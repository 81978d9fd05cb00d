"""`fourlinks audit ...` and `fourlinks replay ...`: history, verification, digests, exports and
rebuilds from the command line (also from inside a deployed container)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from fourlinks_assignments.application.queries import kpis
from fourlinks_audit import anchors, digest, export, history, parallel, remote, replay, transparency
from fourlinks_audit.cosignatures import WitnessKey, WitnessSigner
from fourlinks_audit.notes import NoteError, SignerKey
from fourlinks_audit.services import READ_MODELS, projections_of
from fourlinks_contracts import full_registry
from fourlinks_feedback.application.queries import rates
from fourlinks_kernel.envelope import StreamId
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_members.application.queries import coverage
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, NatsUnreachable, connect
from fourlinks_runtime.settings import MissingSecret, Settings

log = structlog.get_logger(__name__)


def instant_argument(text: str) -> datetime:
    """An ISO time given on the command line, with its offset: a naive one names no moment."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no offset; give one, e.g. {text}+08:00 (Beijing time) or {text}Z (UTC)"
        )
    return moment


def main(argv: Sequence[str]) -> int:
    """Run `audit` or `replay` with the rest of the command line."""
    args = _parser().parse_args(argv)
    if not hasattr(args, "run"):
        _parser().print_help()
        return 2
    result: int = asyncio.run(args.run(args, Settings()))
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fourlinks", description="audit and replay the event history")
    groups = parser.add_subparsers(metavar="group")
    audit = groups.add_parser(
        "audit", help="history, verification, digests, reports, exports"
    ).add_subparsers()
    replaying = groups.add_parser(
        "replay", help="rebuild read models, now or as of a moment"
    ).add_subparsers()
    _witness_commands(groups)
    services = sorted(READ_MODELS)

    one = audit.add_parser("history", help="every event of one aggregate, as JSON Lines")
    one.add_argument("aggregate", help="context/type/id, e.g. assignments/task/0193...")
    _reveal(one)
    one.set_defaults(run=_history)
    touched = audit.add_parser(
        "touched", help="every event in any service that names an id (a household ...)"
    )
    touched.add_argument("id")
    _reveal(touched)
    touched.set_defaults(run=_touched)
    _transparency_commands(audit)
    digests = audit.add_parser("digest", help="order-independent digests of a service's read models")
    digests.add_argument("service", choices=services)
    digests.add_argument("--database-url", default=None)
    digests.set_defaults(run=_digest)
    report = audit.add_parser(
        "report", help="the figures a service's read models give (coverage, KPIs, rates)"
    )
    report.add_argument("service", choices=services)
    report.add_argument("--database-url", default=None)
    report.add_argument("--unit", required=True)
    report.add_argument(
        "--as-of", type=instant_argument, default=None, help="ISO time with its offset the figures are as of"
    )
    report.set_defaults(run=_report)
    out = audit.add_parser("export", help="events as JSON Lines and KPI read models as CSV, with a manifest")
    out.add_argument("--out", type=Path, required=True)
    out.add_argument("--since", type=instant_argument, default=None)
    out.add_argument("--until", type=instant_argument, default=None)
    out.add_argument("--unit", default=None, help="only aggregates that lived in this org unit")
    out.add_argument("--no-tables", action="store_true", help="events only")
    _reveal(out, flag="--include-personal")
    out.set_defaults(run=_export)

    again = replaying.add_parser("rebuild", help="drop and rebuild a service's read models from the history")
    again.add_argument("service", choices=services, nargs="?")
    again.add_argument(
        "--all",
        action="store_true",
        help="every service, from one read of the log (each event decoded once, in one process)",
    )
    again.add_argument(
        "--database-url", default=None, help="with --all, {service} in it names each service's database"
    )
    again.add_argument(
        "--workers",
        action="store_true",
        help="with --all, each service's read models in a worker process of its own, fed from the one "
        "read (sooner where cores are spare; more CPU in all)",
    )
    again.add_argument("--resume", action="store_true", help="continue an interrupted rebuild")
    again.add_argument(
        "--in-place",
        action="store_true",
        help="rebuild in the read model's own file or tables (no second copy) instead of a fresh file "
        "(SQLite) or schema (PostgreSQL) swapped in when whole",
    )
    again.set_defaults(run=_rebuild)
    erasures = replaying.add_parser("erasures", help="destroy again every key the history says was erased")
    erasures.set_defaults(run=_erasures)
    at = replaying.add_parser("at", help="rebuild a service's read models as of a position or a moment")
    at.add_argument("service", choices=services)
    at.add_argument("--database-url", required=True, help="a separate database (file) for the snapshot")
    moment = at.add_mutually_exclusive_group(required=True)
    moment.add_argument("--position", type=int)
    moment.add_argument("--time", type=instant_argument)
    at.set_defaults(run=_at)
    return parser


def _reveal(parser: argparse.ArgumentParser, *, flag: str = "--reveal-personal") -> None:
    parser.add_argument(
        flag, dest="reveal", action="store_true", help="decrypt personal fields (needs --auditor)"
    )
    parser.add_argument("--auditor", default=None, help="who asks; recorded in the access log")


def _authorised(args: argparse.Namespace, what: str) -> bool:
    if not args.reveal:
        return False
    if not args.auditor:
        raise SystemExit("personal data is shown only to a named auditor: add --auditor ID")
    log.warning("personal_data_revealed", auditor=args.auditor, what=what)
    return True


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[JetStreamEventStore]:
    nc = await connect(settings, name="fourlinks-audit", within=COMMAND_CONNECT_SECONDS)
    try:
        yield open_event_store(nc, settings, full_registry())[0]
    finally:
        await nc.close()


async def _engine(settings: Settings, service: str, url: str | None) -> AsyncEngine:
    return await replay.read_model_engine(settings, service, url)


async def _history(args: argparse.Namespace, settings: Settings) -> int:
    parts = args.aggregate.replace(".", "/").split("/")
    if len(parts) != 3:
        raise SystemExit("name the aggregate as context/type/id")
    async with _store(settings) as store:
        entries = await history.aggregate_history(
            store, StreamId(*parts), reveal_personal=_authorised(args, args.aggregate)
        )
    sys.stdout.write(history.as_json_lines(entries))
    return 0 if entries else 1


async def _touched(args: argparse.Namespace, settings: Settings) -> int:
    reveal = _authorised(args, args.id)
    found = 0
    async with _store(settings) as store:
        async for entry in history.touching(store, args.id, reveal_personal=reveal):
            sys.stdout.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            found += 1
    return 0 if found else 1


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    if args.remote:
        return await _verify_remote(args, settings)
    try:
        async with (
            anchors.reading_store(settings) as store,
            anchors.tiles_and_checkpoints(settings) as (tiles, stored),
        ):
            notes = anchors.checkpoint_notes(stored, args.checkpoint)
            key = anchors.verifier(settings, args.key) if notes else None
            signers = anchors.signers_of(settings, args.signers)
            seen = await anchors.seen_positions(store, settings, tiles)
            found = await transparency.check_integrity(
                store, tiles, notes, key, progress=not args.json, signers=signers, seen=seen
            )
    except (anchors.CouldNotRun, NatsUnreachable, MissingSecret, OSError) as exc:
        print(f"could not verify: {exc}", file=sys.stderr)
        return anchors.COULD_NOT_RUN
    if args.json:
        print(json.dumps(found.answer(), ensure_ascii=False, indent=2))
    else:
        _print_verify(found)
    return anchors.INTACT if found.intact else anchors.FINDINGS


async def _verify_remote(args: argparse.Namespace, settings: Settings) -> int:
    """An outside auditor's check of a published log: only the key and the URL."""
    try:
        key = anchors.verifier(settings, args.key)
        witnesses = remote.Witnessed([WitnessKey.parse(k) for k in args.witness_key or []], args.quorum)
        report = await asyncio.to_thread(
            remote.verify_remote,
            args.remote.rstrip("/"),
            key,
            proofs=args.proof or [],
            state=args.state,
            witnesses=witnesses,
        )
    except (anchors.CouldNotRun, remote.Unreachable, NoteError, OSError) as exc:
        print(f"could not verify: {exc}", file=sys.stderr)
        return anchors.COULD_NOT_RUN
    for line in report.held:
        print(line)
    for finding in report.findings:
        print(f"FINDING: {finding}")
    print("verified: intact" if not report.findings else f"{len(report.findings)} finding(s)")
    return anchors.FINDINGS if report.findings else anchors.INTACT


def _print_verify(found: transparency.Integrity) -> None:
    for finding in found.findings:
        print(f"position {finding.position}  {finding.stream}  {finding.kind}: {finding.detail}")
    for c in found.checkpoints:
        print(f"checkpoint {c.size:,} ({c.name}): {'the log extends it' if c.intact else 'DIFFERS'}")
    if not found.checkpoints:
        print("no checkpoint to check the log against (`fourlinks audit checkpoint` writes them)")
    if not found.signatures_checked:
        print(
            "signatures not checked: no signers file (var/signers.json, FOURLINKS_SIGNERS_FILE or --signers)"
        )
    verdict = "intact" if found.intact else f"{len(found.findings)} finding(s)"
    print(f"verified {found.events:,} events of {found.aggregates:,} aggregates: {verdict}")


def _transparency_commands(audit: Any) -> None:
    verifying = audit.add_parser(
        "verify",
        help="check every hash chain and version sequence, and the log against signed checkpoints; "
        "exit 0 intact, 1 findings, 2 could not run",
    )
    verifying.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        help="a checkpoint file to check (default: every stored one)",
    )
    anchors.add_key_argument(verifying)
    verifying.add_argument(
        "--signers",
        type=Path,
        default=None,
        help="the services' public signing keys (default: the configured signers file)",
    )
    verifying.add_argument("--json", action="store_true", help="the report as JSON")
    verifying.add_argument(
        "--remote",
        metavar="URL",
        default=None,
        help="check a published log instead (its /checkpoint and /tile/...), with only --key: no NATS, "
        "no database",
    )
    verifying.add_argument(
        "--proof",
        type=Path,
        action="append",
        help="with --remote: an event's proof (`audit prove`) whose event the published log must hold",
    )
    verifying.add_argument(
        "--state",
        type=Path,
        default=None,
        help="with --remote: the checkpoint saved last time; the log must extend it (then it is replaced)",
    )
    verifying.add_argument(
        "--witness-key",
        action="append",
        metavar="KEY",
        help="with --remote: a witness's key (name+hash+base64, `fourlinks witness public-key`) whose "
        "cosignature on the checkpoint counts; repeatable",
    )
    verifying.add_argument(
        "--quorum",
        type=int,
        default=None,
        help="with --remote: how many --witness-key witnesses must have cosigned (default: a majority)",
    )
    verifying.set_defaults(run=_verify)
    sign = audit.add_parser(
        "checkpoint", help="bring the log's Merkle tiles up to date and sign a checkpoint; print the latest"
    )
    sign.add_argument("--follow", action="store_true", help="keep signing (FOURLINKS_CHECKPOINT_EVERY_*)")
    sign.add_argument(
        "--rebuild-tiles", action="store_true", help="drop the tiles and rebuild them from the log"
    )
    sign.add_argument(
        "--port",
        type=int,
        default=None,
        help="with --follow: publish /checkpoint, /tile/..., /integrity and /signers on this port",
    )
    sign.add_argument("--host", default="127.0.0.1", help="... on this address (0.0.0.0 in a container)")
    sign.set_defaults(run=_checkpoint)
    prove = audit.add_parser(
        "prove", help="an inclusion proof of one event in a checkpoint, as a C2SP tlog-proof (.tlog-proof)"
    )
    prove.add_argument("event", help="the event's id, or its position")
    prove.add_argument(
        "--checkpoint", type=Path, action="append", help="the checkpoint (default: the latest)"
    )
    anchors.add_key_argument(prove)
    prove.set_defaults(run=_prove)
    check = audit.add_parser(
        "check-proof",
        help="check an inclusion proof offline (a tlog-proof, or an earlier release's JSON): only the "
        "public key, checkpoint and event",
    )
    check.add_argument("proof", type=Path)
    check.add_argument("--checkpoint", type=Path, default=None, help="your own copy of the checkpoint")
    anchors.add_key_argument(check)
    check.set_defaults(run=_check_proof)
    extends = audit.add_parser("consistency", help="prove that the log at NEW extends the log at OLD")
    extends.add_argument("old", type=Path)
    extends.add_argument("new", type=Path)
    anchors.add_key_argument(extends)
    extends.add_argument("--json", action="store_true")
    extends.set_defaults(run=_consistency)
    keygen = audit.add_parser(
        "keygen", help="print a new checkpoint signing key (keep it like the master key)"
    )
    keygen.add_argument(
        "--name",
        default=None,
        help="the key's name = the log's origin, e.g. yuhang.fourlinks.example/events (no spaces, no '+'); "
        "default: fourlinks.invalid/<its own fingerprint>",
    )
    keygen.set_defaults(run=_keygen)
    public = audit.add_parser("public-key", help="print the verifier key of the configured signing key")
    public.set_defaults(run=_public_key)


def _witness_commands(groups: Any) -> None:
    witnessing = groups.add_parser(
        "witness", help="a witness of other parties' logs (C2SP tlog-witness): keygen, public-key, serve"
    ).add_subparsers()
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--dir",
        type=Path,
        default=Path("witness"),
        help="the witness's directory: witness.key, logs, state.json, evidence/ (default ./witness)",
    )
    keygen = witnessing.add_parser(
        "keygen", parents=[where], help="make the witness's key (DIR/witness.key) and print its public key"
    )
    keygen.add_argument("--name", required=True, help="the witness's name, e.g. witness.example.org/w1")
    keygen.set_defaults(run=_witness_keygen)
    public = witnessing.add_parser("public-key", parents=[where], help="print the witness's public key")
    public.set_defaults(run=_witness_public_key)
    serve = witnessing.add_parser(
        "serve",
        parents=[where],
        help="answer POST /add-checkpoint for the logs in DIR/logs (`[ORIGIN] KEY` a line)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (0.0.0.0 in a container)"
    )
    serve.add_argument("--port", type=int, default=8110, help="the port to listen on (default 8110)")
    serve.set_defaults(run=_witness_serve)


async def _witness_keygen(args: argparse.Namespace, settings: Settings) -> int:
    from fourlinks_audit import witness  # the witness's web app: loaded only by its own commands

    path = args.dir / witness.KEY_FILE
    if path.exists():
        print(f"{path} exists: a witness keeps its key (a new one is a new witness)", file=sys.stderr)
        return anchors.COULD_NOT_RUN
    try:
        key = WitnessSigner.generate(args.name)
    except NoteError as exc:
        print(str(exc), file=sys.stderr)
        return anchors.COULD_NOT_RUN
    args.dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(key.encoded() + "\n")
    print(key.verifier.encoded())
    print(
        f"the key is in {path}; give the line above to the logs you witness and their auditors",
        file=sys.stderr,
    )
    return 0


async def _witness_public_key(args: argparse.Namespace, settings: Settings) -> int:
    from fourlinks_audit import witness  # the witness's web app: loaded only by its own commands

    try:
        print(WitnessSigner.parse((args.dir / witness.KEY_FILE).read_text()).verifier.encoded())
    except (OSError, NoteError) as exc:
        print(f"could not run: {exc}", file=sys.stderr)
        return anchors.COULD_NOT_RUN
    return 0


async def _witness_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from fourlinks_audit import witness

    try:
        found = witness.Witness.open(args.dir)
    except (OSError, NoteError, ValueError) as exc:
        print(f"could not run: {exc}", file=sys.stderr)
        return anchors.COULD_NOT_RUN
    if not found.logs:
        print(f"{args.dir / witness.LOGS_FILE} names no log to witness", file=sys.stderr)
    log.info("witness_serving", witness=found.key.name, logs=sorted(found.logs), port=args.port)
    config = uvicorn.Config(witness.witness_app(found), host=args.host, port=args.port, log_level="warning")
    try:
        await uvicorn.Server(config).serve()
    finally:
        found.close()
    return 0


async def _could_not_run(work: Any) -> int:
    try:
        code: int = await work
    except (anchors.CouldNotRun, NatsUnreachable, MissingSecret, OSError) as exc:
        print(f"could not run: {exc}", file=sys.stderr)
        return anchors.COULD_NOT_RUN
    return code


async def _checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    async def work() -> int:
        async with anchors.reading_store(settings) as store:
            serve = (args.host, args.port) if args.port else None
            return await anchors.run_checkpoint(
                store, settings, follow=args.follow, rebuild=args.rebuild_tiles, serve=serve
            )

    return await _could_not_run(work())


async def _prove(args: argparse.Namespace, settings: Settings) -> int:
    async def work() -> int:
        async with anchors.reading_store(settings) as store:
            return await anchors.run_prove(store, settings, args.event, args.checkpoint, args.key)

    return await _could_not_run(work())


async def _check_proof(args: argparse.Namespace, settings: Settings) -> int:
    async def work() -> int:
        return anchors.run_check_proof(args.proof, args.key, settings, args.checkpoint)

    return await _could_not_run(work())


async def _consistency(args: argparse.Namespace, settings: Settings) -> int:
    return await _could_not_run(anchors.run_consistency(settings, args.old, args.new, args.key, args.json))


async def _keygen(args: argparse.Namespace, settings: Settings) -> int:
    key = SignerKey.generate(args.name) if args.name else SignerKey.generate_unique()
    print(key.encoded())
    print(f"verifier key (give it to auditors): {key.verifier.encoded()}", file=sys.stderr)
    return 0


async def _public_key(args: argparse.Namespace, settings: Settings) -> int:
    async def work() -> int:
        print(anchors.signer(settings).verifier.encoded())
        return 0

    return await _could_not_run(work())


async def _digest(args: argparse.Namespace, settings: Settings) -> int:
    engine = await _engine(settings, args.service, args.database_url)
    try:
        tables: dict[str, tuple[int, str]] = {}
        for factory in projections_of(args.service):
            tables.update(await digest.table_digests(engine, factory().metadata))
    finally:
        await engine.dispose()
    for name, (rows, value) in sorted(tables.items()):
        print(f"{value}  {rows:>9,} rows  {name}")
    print(f"{digest.overall(tables)}  {args.service}")
    return 0


async def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    if args.all == bool(args.service):
        raise SystemExit("name one service to rebuild, or --all for every service")
    if args.all:
        if args.database_url and "{service}" not in args.database_url:
            raise SystemExit("with --all, --database-url must name each service's database with {service}")
        code, summary = await parallel.rebuild_all(
            settings,
            list(READ_MODELS),
            database_url=args.database_url,
            resume=args.resume,
            in_place=args.in_place,
            workers=args.workers,
        )
        print(summary)
        return code
    async with _store(settings) as store:
        rebuilt = await replay.rebuild_service(
            settings,
            args.service,
            store=replay.ordered_reads(store),
            database_url=args.database_url,
            resume=args.resume,
            in_place=args.in_place,
        )
    print(rebuilt.summary())
    return 0


async def _at(args: argparse.Namespace, settings: Settings) -> int:
    engine = await _engine(settings, args.service, args.database_url)
    try:
        async with _store(settings) as store:
            position = (
                args.position
                if args.position is not None
                else await replay.position_at(store, _utc(args.time))
            )
            result = await replay.rebuild(
                projections_of(args.service),
                store=replay.ordered_reads(store),
                engine=engine,
                until_position=position,
            )
    finally:
        await engine.dispose()
    print(f"{args.service} as of position {result.position:,} rebuilt into {args.database_url}")
    return 0


async def _erasures(args: argparse.Namespace, settings: Settings) -> int:
    nc = await connect(settings, name="fourlinks-audit", within=COMMAND_CONNECT_SECONDS)
    try:
        store, cipher = open_event_store(nc, settings, full_registry())
        erased = await history.reapply_erasures(store, cipher)
    finally:
        await nc.close()
    print(f"{erased:,} erased people checked: their keys are gone")
    return 0


async def _report(args: argparse.Namespace, settings: Settings) -> int:
    engine = await _engine(settings, args.service, args.database_url)
    as_of = _utc(args.as_of) if args.as_of else datetime.now(UTC)
    try:
        async with engine.connect() as conn:
            figures = await _figures(
                args.service, conn, args.unit.strip("/"), as_of, settings, now=not args.as_of
            )
    finally:
        await engine.dispose()
    print(json.dumps(figures, ensure_ascii=False, indent=2, sort_keys=True, default=str))
    return 0


async def _figures(
    service: str, conn: Any, unit: str, as_of: datetime, settings: Settings, *, now: bool
) -> Any:
    zone = ZoneInfo(settings.timezone)
    if service == "members":
        return await coverage(conn, unit)
    if service == "assignments":
        return await kpis(conn, unit=unit, by="community", month=None, zone=zone, as_of=as_of)
    limit = timedelta(hours=settings.response_limit_hours)
    return await rates(
        conn, unit=unit, by="community", month=None, zone=zone, as_of=as_of, response_limit=limit, now=now
    )


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    personal = _authorised(args, f"export {args.unit or 'all'} {args.since}..{args.until}")
    args.out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    async with _store(settings) as store:
        counts["events.jsonl"] = await export.export_events(
            store,
            args.out,
            since=_utc(args.since),
            until=_utc(args.until),
            unit=args.unit,
            include_personal=personal,
        )
    if not args.no_tables:
        for service in ("assignments", "feedback"):
            engine = await _engine(settings, service, None)
            try:
                for factory in projections_of(service):
                    for table in factory().metadata.sorted_tables:
                        counts[f"{table.name}.csv"] = await export.export_table(
                            engine, table, args.out, include_personal=personal
                        )
            finally:
                await engine.dispose()
    manifest = export.write_manifest(
        args.out,
        counts=counts,
        requested_by=args.auditor or "unnamed",
        include_personal=personal,
        since=args.since,
        until=args.until,
        unit=args.unit,
    )
    print(f"exported {counts['events.jsonl']:,} events and {len(counts) - 1} tables; manifest: {manifest}")
    return 0


def _utc(moment: datetime | None) -> Any:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
