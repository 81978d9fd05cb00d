"""The `fourlinks` command: run the embedded system, set up NATS, print tokens and keys."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from fourlinks_cli.expected import EXPECTED, explain
from fourlinks_kernel.access import Role
from fourlinks_kernel.crypto import PersonalDataCipher, generate_master_key, parse_master_key
from fourlinks_kernel.jetstream import NatsKeyStore
from fourlinks_kernel.provisioning import ProvisioningError, ProvisionOptions, provision
from fourlinks_runtime.auth import issue_token
from fourlinks_runtime.serve import SERVICES, serve
from fourlinks_runtime.settings import Settings
from fourlinks_runtime.signing_keys import ensure_signing_keys, rotate_signing_key
from fourlinks_runtime.upstate import read_state

BENCH_MISSING = (
    "fourlinks bench: the benchmark harness is not installed here (production images leave it out). "
    "Install it with: pip install 'fourlinks-cli[bench]' (in a clone: make env, "
    "or uv sync --extra bench --package fourlinks-cli)"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fourlinks` command: expected conditions end in one line, never a
    traceback (NATS away, a secret missing, a read model not built yet, Ctrl-C, a closed pipe)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fourlinks audit ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except EXPECTED as exc:
        words = [a for a in argv[:2] if not a.startswith("-")]
        print(f"fourlinks {' '.join(words)}: {explain(exc)}", file=sys.stderr)
        return 1


def _dispatch(argv: list[str]) -> int:
    # The audit and bench commands load their applications only when asked: `fourlinks token`
    # stays quick.
    if argv[:1] in (["audit"], ["replay"], ["witness"]):
        from fourlinks_audit.cli import main as audit

        return audit(argv)
    if argv[:1] == ["bench"]:
        try:
            from fourlinks_bench.cli import main as bench
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] != "fourlinks_bench":
                raise  # the harness is there but broken: a real error
            print(BENCH_MISSING, file=sys.stderr)
            return 1
        return bench(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fourlinks", description="Four Links: run, set up and inspect the system"
    )
    commands = parser.add_subparsers(metavar="command")
    commands.add_parser("audit", help="history, verify, digest, report, export (see: fourlinks audit -h)")
    commands.add_parser(
        "replay", help="rebuild read models, now or as of a moment (see: fourlinks replay -h)"
    )
    commands.add_parser(
        "witness",
        help="cosign other parties' logs' checkpoints (C2SP tlog-witness; see: fourlinks witness -h)",
    )
    commands.add_parser(
        "bench", help="benchmarks at district scale (see: fourlinks bench -h; needs fourlinks-cli[bench])"
    )

    _up_command(commands)

    serve = commands.add_parser("serve", help="run one service's HTTP API, projections and policies")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument(
        "--workers", type=int, default=1, help="HTTP API processes beside one worker process (default 1)"
    )
    serve.set_defaults(run=_serve)

    nats = commands.add_parser("nats", help="event-store setup on NATS").add_subparsers(metavar="action")
    init = nats.add_parser("init", help="create or verify the events stream and key bucket (idempotent)")
    init.add_argument("--replicas", type=int, default=1, help="stream replicas: 3 in production")
    init.add_argument(
        "--monitor-url",
        default=None,
        help="the server's monitoring URL, to verify sync_interval (default: the running make up's)",
    )
    init.add_argument(
        "--allow-unsafe-server", action="store_true", help="go on with an old or non-syncing server"
    )
    init.add_argument(
        "--consumers",
        action="store_true",
        help="ignored: policies keep their own checkpoints now (an older manifest may still pass it)",
    )
    init.set_defaults(run=_nats_init)
    dropping = nats.add_parser(
        "drop-policy-consumers",
        help="delete an older release's policy durable consumers once every policy has started "
        "from its own checkpoint (docs/operations.md)",
    )
    dropping.add_argument(
        "--force", action="store_true", help="delete them even where a policy has not started yet"
    )
    dropping.set_defaults(run=_drop_policy_consumers)
    migrate = nats.add_parser(
        "migrate-subjects",
        help="move an events stream from the old subject layout to one subject per aggregate "
        "(services stopped; resumable; docs/operations.md)",
    )
    migrate.set_defaults(run=_migrate_subjects)

    _backup_commands(commands)

    token = commands.add_parser("token", help="print a signed bearer token for local use")
    people = [r.value for r in Role if r is not Role.SERVICE]  # services act through events, not tokens
    token.add_argument("--role", action="append", required=True, choices=people)
    token.add_argument(
        "--scope", required=True, help="org-unit path the actor may act in, e.g. yuhang/nanyuan"
    )
    token.add_argument("--subject", default=None, help="actor id (default: a new id)")
    token.add_argument("--hours", type=float, default=8.0)
    token.set_defaults(run=_token)

    _seed_command(commands)

    _key_commands(commands)
    _card_commands(commands)
    _import_command(commands)

    install = commands.add_parser("install", help="single-machine production: systemd units for fourlinks up")
    install.add_argument("--systemd", action="store_true", required=True, help="write systemd units")
    install.add_argument(
        "--user", default="fourlinks", help="the system user it runs as (created by sysusers)"
    )
    install.add_argument(
        "--var-dir", type=Path, default=Path("/var/lib/fourlinks"), help="where its data lives"
    )
    install.add_argument("--memory-max", default="4G", help="MemoryMax of the unit")
    install.add_argument("--output", type=Path, default=Path("fourlinks-systemd"), help="where to write them")
    install.set_defaults(run=_install)

    keygen = commands.add_parser("keygen", help="print a new base64 master key")
    keygen.set_defaults(run=lambda _: print(generate_master_key()) or 0)
    return parser


def _up_command(commands: Any) -> None:
    up = commands.add_parser(
        "up", help="run everything on this machine (nats-server + four services on SQLite)"
    )
    up.add_argument("--var-dir", type=Path, default=None, help="where data lives (default ./var)")
    up.add_argument(
        "--production",
        action="store_true",
        help="the console through the identity provider only, secure cookies (install --systemd uses it)",
    )
    up.add_argument(
        "--role",
        choices=["district", "province"],
        default="district",
        help="district (default: this district's system; with FOURLINKS_DISTRICT also its link to the "
        "province) or province (the districts' figures: var/districts.toml; docs/operations.md)",
    )
    up.set_defaults(run=_up)
    _province_command(commands)


def _card_commands(commands: Any) -> None:
    from fourlinks_console.cards_pdf import Layout

    cards = commands.add_parser("cards", help="service cards on paper").add_subparsers(metavar="action")
    printing = cards.add_parser(
        "print", help="a unit's service cards as a PDF, each household's with its QR code (docs/console.md)"
    )
    printing.add_argument("--unit", required=True, help="org-unit path, e.g. yuhang/s01/c001")
    printing.add_argument("--out", type=Path, required=True, help="the PDF to write")
    printing.add_argument("--layout", choices=[layout.value for layout in Layout], default=Layout.SHEET.value)
    printing.add_argument("--member", default=None, help="only this member's card")
    printing.add_argument(
        "--revised-since", type=date.fromisoformat, default=None, help="only cards revised since YYYY-MM-DD"
    )
    printing.add_argument(
        "--console-url",
        default=None,
        help="where the QR codes point (default FOURLINKS_CONSOLE_PUBLIC_URL, else the local console)",
    )
    printing.set_defaults(run=_print_cards)


def _import_command(commands: Any) -> None:
    importing = commands.add_parser(
        "import",
        help="a roster from Excel or CSV (members, households, enterprises, service cards) through the "
        "running members service: checked row by row, idempotent, resumable (docs/console.md)",
    )
    importing.add_argument("file", type=Path, help="an .xlsx workbook (a sheet a kind) or a .csv file")
    importing.add_argument(
        "--scope", default=None, help="the org-unit path imported into (default: the district, yuhang)"
    )
    importing.add_argument("--role", choices=["administrator", "secretary"], default="administrator")
    importing.add_argument("--dry-run", action="store_true", help="check every row, register nothing")
    importing.add_argument(
        "--answer",
        type=Path,
        default=None,
        help="where the refused rows go (default: FILE-答复表.xlsx beside it)",
    )
    importing.add_argument("--in-flight", type=int, default=32, help="requests at a time (default 32)")
    importing.set_defaults(run=_import)
    _uplink_command(commands)


def _uplink_command(commands: Any) -> None:
    uplink = commands.add_parser(
        "uplink",
        help="send this district's figures up to its city and province (per community and month, "
        "never personal data) into FOURLINKS_UPLINK every 30 s (docs/architecture.md)",
    )
    uplink.add_argument("--district", default=None, help="its GB/T 2260 code (default: FOURLINKS_DISTRICT)")
    uplink.add_argument("--once", action="store_true", help="one round, then exit (1 when a service is away)")
    uplink.add_argument("--every", type=float, default=30.0, help="seconds between rounds (default 30)")
    uplink.set_defaults(run=_uplink)


def _uplink(args: argparse.Namespace) -> int:
    from fourlinks_cli.uplink import publishing

    return asyncio.run(publishing(Settings(), district=args.district, once=args.once, every=args.every))


def _import(args: argparse.Namespace) -> int:
    from fourlinks_cli.imports import Importing, import_roster, importer_token, members_url, report
    from fourlinks_console.i18n import Language
    from fourlinks_console.rosters.problems import RosterRefused
    from fourlinks_console.rosters.running import RunStopped
    from fourlinks_console.services import ServiceRefused, Services, ServiceUnavailable
    from fourlinks_console.settings import ConsoleSettings

    settings = Settings()
    scope = (args.scope or ConsoleSettings().district).strip("/")
    importing = Importing(
        args.file, scope, args.role, args.dry_run, args.answer, in_flight=max(args.in_flight, 1)
    )

    async def run() -> Any:
        services = Services(ConsoleSettings(members_url=members_url(), service_timeout_seconds=60.0))
        try:
            return await import_roster(importing, services, importer_token(settings, importing))
        finally:
            await services.aclose()

    words = Language.of("zh_CN", settings.timezone)
    try:
        imported = asyncio.run(run())
    except (RosterRefused, RunStopped) as refused:
        again = (
            "; run the same command again: it goes on where it stopped"
            if isinstance(refused, RunStopped)
            else ""
        )
        print(f"fourlinks import: {refused.problem.said(words)}{again}", file=sys.stderr)
        return 1
    except ServiceRefused as refused:
        print(f"fourlinks import: the members service refused: {refused.sentence(words)}", file=sys.stderr)
        return 1
    except ServiceUnavailable:
        print(
            f"fourlinks import: the members service at {members_url()} is not answering: "
            "is `make up` running (or FOURLINKS_CONSOLE_MEMBERS_URL set)?",
            file=sys.stderr,
        )
        return 1
    print("\n".join(report(imported)))
    return 1 if imported.refused_rows or imported.plan.sheet_problems else 0


def _print_cards(args: argparse.Namespace) -> int:
    from fourlinks_cli.cards import Printing, print_cards
    from fourlinks_console.cards_pdf import Layout
    from fourlinks_console.settings import ConsoleSettings

    url = args.console_url or ConsoleSettings().public_url or "http://127.0.0.1:8100"
    printing = Printing(
        unit=args.unit,
        out=args.out,
        console_url=url,
        layout=Layout(args.layout),
        member=args.member,
        revised_since=args.revised_since,
    )
    printed = asyncio.run(print_cards(Settings(), printing))
    print(
        f"{args.out}: {printed.cards} cards, {printed.copies} copies on {printed.pages} pages "
        f"in {printed.seconds:.1f} s"
    )
    return 0


def _key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="the personal-data key table").add_subparsers(metavar="action")
    rotate = keys.add_parser("rotate", help="re-wrap every person's key under a new master key")
    rotate.add_argument("--new-master-key-file", type=Path, required=True)
    rotate.set_defaults(run=_rotate)
    signing = keys.add_parser(
        "rotate-signing", help="a new event signing key for one service (its old events still verify)"
    )
    signing.add_argument("service", choices=sorted(SERVICES))
    signing.set_defaults(run=_rotate_signing)
    init = keys.add_parser(
        "signing-init", help="each service's event signing key and the signers file, in a folder (once)"
    )
    init.add_argument(
        "folder", type=Path, help="keys go to FOLDER/signing/<service>.key, FOLDER/signers.json"
    )
    init.set_defaults(run=_signing_init)


def _install(args: argparse.Namespace) -> int:
    from fourlinks_cli.systemd import INSTALL_STEPS, render_units

    executable = Path(sys.executable).parent / "fourlinks"
    units = render_units(
        user=args.user, var_dir=args.var_dir.absolute(), executable=executable, memory_max=args.memory_max
    )
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (args.output / name).write_text(text)
    print(INSTALL_STEPS.format(files=", ".join(units), output=args.output))
    return 0


def _token(args: argparse.Namespace) -> int:
    subject = args.subject or f"user-{secrets.token_hex(6)}"
    print(
        issue_token(
            Settings(),
            subject=subject,
            roles=args.role,
            scope=args.scope,
            lifetime=timedelta(hours=args.hours),
        )
    )
    return 0


def _nats_init(args: argparse.Namespace) -> int:
    settings = Settings()
    options = ProvisionOptions(
        replicas=args.replicas,
        monitor_url=args.monitor_url or _embedded_monitor_url(settings),
        allow_unsafe_server=args.allow_unsafe_server,
        jetstream=settings.jetstream(),
    )
    try:
        for line in asyncio.run(_provision(settings, options, consumers=args.consumers)):
            print(line)
    except ProvisioningError as exc:
        print(f"fourlinks nats init: {exc}", file=sys.stderr)
        return 1
    return 0


def _drop_policy_consumers(args: argparse.Namespace) -> int:
    from fourlinks_cli.policy_consumers import drop_policy_consumers  # loads every service's policies

    lines, kept = asyncio.run(drop_policy_consumers(Settings(), force=args.force))
    for line in lines:
        print(line)
    return 1 if kept else 0


def _migrate_subjects(args: argparse.Namespace) -> int:
    from fourlinks_cli.migrate import migrate_subjects  # loads every service's policies

    return asyncio.run(migrate_subjects(Settings()))


def _backup_commands(commands: Any) -> None:
    saving = commands.add_parser(
        "backup", help="the events, the key table, the signed checkpoints and the photos into a directory"
    )
    where = saving.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="an empty directory")
    where.add_argument(
        "--into",
        type=Path,
        help="a directory of backups: this one in a new subdirectory named by its time (UTC), "
        "the oldest removed beyond --keep (what the systemd timer runs)",
    )
    saving.add_argument("--keep", type=int, default=48, help="with --into: how many backups stay (48)")
    saving.set_defaults(run=_backup)
    restoring = commands.add_parser(
        "restore", help="a backup into an empty server (after `fourlinks nats init`); docs/operations.md"
    )
    restoring.add_argument("--from", dest="source", type=Path, required=True, help="the backup's directory")
    restoring.set_defaults(run=_restore)


def _backup(args: argparse.Namespace) -> int:
    from fourlinks_cli.backup import BackupRefused, backup, scheduled_backup
    from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect

    if args.keep < 1:
        print("fourlinks backup: --keep must be at least 1", file=sys.stderr)
        return 2

    async def run() -> tuple[Path, dict[str, Any]]:
        nc = await connect(Settings(), name="fourlinks-backup", within=COMMAND_CONNECT_SECONDS)
        try:
            if args.into is not None:
                return await scheduled_backup(nc, Settings(), args.into, args.keep)
            return args.out, await backup(nc, Settings(), args.out)
        finally:
            await nc.close()

    try:
        where, manifest = asyncio.run(run())
    except BackupRefused as exc:
        print(f"fourlinks backup: {exc}", file=sys.stderr)
        return 1
    print(
        f"backed up {manifest['events']:,} events (to position {manifest['last_position']:,}), "
        f"{manifest['keys']:,} keys, {manifest['checkpoints']:,} checkpoints and {_photos_saved(manifest)} "
        f"into {where}"
    )
    return 0


def _photos_saved(manifest: dict[str, Any]) -> str:
    if manifest["photos"] is None:  # an object store: its bucket is backed up by its own means
        return f"no photos (they stay in {manifest['photo_store']}: back up that bucket itself)"
    return f"{manifest['photos']:,} photos ({manifest['photo_bytes'] / 2**20:,.1f} MB)"


def _restore(args: argparse.Namespace) -> int:
    from fourlinks_cli.backup import BackupRefused, checked_manifest, restore
    from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect

    async def run(manifest: dict[str, Any]) -> Any:
        nc = await connect(Settings(), name="fourlinks-restore", within=COMMAND_CONNECT_SECONDS)
        try:
            return await restore(nc, Settings(), args.source, manifest)
        finally:
            await nc.close()

    try:
        done = asyncio.run(run(checked_manifest(args.source, Settings())))  # the backup before the server
    except BackupRefused as exc:
        print(f"fourlinks restore: {exc}", file=sys.stderr)
        return 1
    print(
        f"restored {done.events:,} events, {done.keys:,} keys, {done.checkpoints:,} checkpoints and "
        f"{done.photos:,} photos; "
        "now: fourlinks replay erasures, fourlinks audit verify, then start the services"
    )
    return 0


def _embedded_monitor_url(settings: Settings) -> str | None:
    """The monitoring URL of the `make up` running on this var dir (init then verifies its sync);
    none when the state file was left behind by one that has stopped."""
    state = read_state(settings.var_dir)
    return f"http://127.0.0.1:{state.monitor_port}" if state and state.running else None


async def _provision(settings: Settings, options: ProvisionOptions, *, consumers: bool) -> list[str]:
    from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect

    nc = await connect(settings, name="fourlinks-init", within=COMMAND_CONNECT_SECONDS)
    try:
        done = await provision(nc, options)
        if consumers:
            done.append(
                "no durable consumer created: policies ride their service's feed and keep their own "
                "checkpoints (`fourlinks nats drop-policy-consumers` deletes an older release's)"
            )
        return done
    finally:
        await nc.close()


def _seed_command(commands: Any) -> None:
    """`fourlinks seed`: a district made through the real commands, and its first weeks of work."""
    seed = commands.add_parser("seed", help="create a realistic district through the real commands")
    seed.add_argument("--district", default="yuhang", help="district code (the root org unit)")
    seed.add_argument(
        "--scale", type=float, default=1.0, help="1.0: 6,000 members, 30,000 households, 6,000 enterprises"
    )
    seed.add_argument("--seed", type=int, default=2021, help="the same seed makes the same district")
    seed.add_argument("--district-name", default="余杭区", help="the district's name as people read it")
    seed.add_argument(
        "--no-story",
        dest="story",
        action="store_false",
        help="people and cards only (by default the first community's last six weeks of work follow)",
    )
    seed.set_defaults(run=_seed)


def _seed(args: argparse.Namespace) -> int:
    from fourlinks_cli import story
    from fourlinks_members import seed as seeding

    if not 0 < args.scale <= 10:
        print("--scale must be above 0 and at most 10", file=sys.stderr)
        return 2
    print(f"seeding {args.district} at scale {args.scale}: {seeding.plan_size(args.scale)}", flush=True)
    settings, now = Settings(), datetime.now(UTC)
    people_made = story.story_started(now) - timedelta(days=1)  # the day before the story begins
    told = partial(story.tell, settings=settings, now=now, seed=args.seed)
    made = asyncio.run(
        seeding.seed_district(
            settings,
            district=args.district,
            scale=args.scale,
            seed=args.seed,
            name=args.district_name,
            at=(lambda: people_made) if args.story else None,
            then=told if args.story else None,
        )
    )
    print("already seeded: nothing to do" if made is None else f"made {made}", flush=True)
    return 0


def _signing_init(args: argparse.Namespace) -> int:
    args.folder.mkdir(parents=True, exist_ok=True)
    signers = ensure_signing_keys(args.folder, SERVICES)
    print(f"signing keys in {args.folder / 'signing'} (one per service, secret); public keys in {signers}")
    return 0


def _rotate_signing(args: argparse.Namespace) -> int:
    settings = Settings()
    signer = rotate_signing_key(settings.var_dir, args.service)
    print(
        f"{args.service} now signs with key {signer.key_id}, listed in {settings.signers_path()} beside the "
        f"old one; restart the {args.service} service to use it, and publish the signers file anew"
    )
    return 0


def _rotate(args: argparse.Namespace) -> int:
    settings = Settings()
    new_key = parse_master_key(args.new_master_key_file.read_text().strip())
    moved = asyncio.run(_rewrap(settings, new_key))
    print(
        f"re-wrapped {moved:,} keys; now run every service with the new master key and keep the old one "
        "as FOURLINKS_INDEX_KEY (unless it already is set)"
    )
    return 0


async def _rewrap(settings: Settings, new_key: bytes) -> int:
    from fourlinks_runtime.natsconn import COMMAND_CONNECT_SECONDS, connect

    nc = await connect(settings, name="fourlinks-keys", within=COMMAND_CONNECT_SECONDS)
    try:
        keys = NatsKeyStore(nc, settings.key_bucket)
        cipher = PersonalDataCipher(master_key=settings.master_key_bytes(), keys=keys)
        return await cipher.rewrap(await keys.subjects(), keys, new_key)
    finally:
        await nc.close()


def _serve(args: argparse.Namespace) -> int:
    serve(
        args.service, host=args.host, port=args.port or SERVICES[args.service], workers=max(args.workers, 1)
    )
    return 0


def _up(args: argparse.Namespace) -> int:
    var_dir = (args.var_dir or Settings().var_dir).resolve()
    if args.role == "province":
        from fourlinks_cli.province_up import run_province

        return run_province(var_dir, production=args.production)
    from fourlinks_cli.up import run_up

    return run_up(var_dir, production=args.production)


def _province_command(commands: Any) -> None:
    province = commands.add_parser(
        "province",
        help="a province and three districts on this machine, linked, each district seeded with "
        "another year (what `make province` runs; Ctrl-C stops all)",
    )
    province.add_argument(
        "--var-dir", type=Path, default=None, help="where their data lives (default ./var/province)"
    )
    province.add_argument("--scale", type=float, default=0.02, help="each district's size (default 0.02)")
    province.set_defaults(run=_province)


def _province(args: argparse.Namespace) -> int:
    from fourlinks_cli.province_demo import run_demo

    root = (args.var_dir or Settings().var_dir / "province").resolve()
    return run_demo(root, scale=args.scale)
