"""Personal-data canaries: 1,000 residents with marker names and phones, 100 of them erased. The
markers of the erased appear nowhere; the others only where personal data belongs (never in logs,
subjects or metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import bearer, running, service_runtime, wait_ready

from fourlinks_audit import export
from fourlinks_contracts import full_registry
from fourlinks_contracts.members import OrgLevel
from fourlinks_kernel.envelope import Actor, CommandContext
from fourlinks_kernel.unit_of_work import UnitOfWork, run_command
from fourlinks_members.application import handlers
from fourlinks_members.application.commands import EraseResident, RegisterHousehold
from fourlinks_members.bootstrap import create_app
from fourlinks_members.domain.contacts import NewResident
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for
from fourlinks_runtime.eventstore import open_event_store
from fourlinks_runtime.logs import configure_logging
from fourlinks_runtime.natsconn import connect
from fourlinks_runtime.settings import Settings

ADMIN = Actor(id="admin", roles=("administrator",), scope="yuhang")
HOUSEHOLDS, PER_HOUSEHOLD, ERASED = 250, 4, 100


def marker(n: int) -> tuple[str, str]:
    """A name and a phone number nothing else could produce."""
    return f"金丝雀{n:04d}号", f"1390{n:07d}"


async def populate(settings: Settings) -> list[tuple[str, str]]:
    """1,000 residents through the real handlers; returns (household, resident) per resident."""
    nc = await connect(settings, name="canaries")
    store, cipher = open_event_store(nc, settings, full_registry())
    index = lambda phone: cipher.blind_index(phone, purpose="phone")  # noqa: E731
    for path, level in (
        ("yuhang", "district"),
        ("yuhang/s1", "street"),
        ("yuhang/s1/c1", "community"),
        ("yuhang/s1/c1/b1", "building"),
    ):

        async def create(uow: UnitOfWork, path: str = path, level: str = level) -> None:
            parent = path.rpartition("/")[0]
            parent_unit = await uow.get(OrgUnit, unit_id_for(parent)) if parent else None
            unit = await uow.get(OrgUnit, unit_id_for(path))
            unit.create(
                path=path, code=path.rsplit("/", 1)[-1], name=path, level=OrgLevel(level), parent=parent_unit
            )

        await run_command(store, CommandContext.new(ADMIN), create)
    people: list[tuple[str, str]] = []
    for h in range(HOUSEHOLDS):
        household = f"household-{h:04d}"
        residents = [
            NewResident(f"resident-{h:04d}-{r}", *marker(h * PER_HOUSEHOLD + r)) for r in range(PER_HOUSEHOLD)
        ]

        async def register(
            uow: UnitOfWork, household: str = household, residents: list[NewResident] = residents
        ) -> None:
            await handlers.register_household(
                RegisterHousehold(
                    actor=ADMIN,
                    household_id=household,
                    org_unit="yuhang/s1/c1/b1",
                    unit_no="1",
                    room="101",
                    visit_cadence_days=30,
                    residents=residents,
                    phone_index=index,
                ),
                uow,
            )

        await run_command(store, CommandContext.new(ADMIN), register)
        people += [(household, r.resident_id) for r in residents]
    for household, resident in people[:ERASED]:

        async def erase(uow: UnitOfWork, household: str = household, resident: str = resident) -> None:
            await handlers.erase_resident(
                EraseResident(actor=ADMIN, household_id=household, resident_id=resident), uow, cipher
            )

        await run_command(store, CommandContext.new(ADMIN), erase)
    await nc.close()
    return people


@pytest.mark.timeout(300)
async def test_erased_markers_appear_nowhere_and_the_others_only_where_allowed(
    service_settings: Settings, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    people = await populate(service_settings)
    erased = [marker(n) for n in range(ERASED)]
    kept = [marker(n) for n in range(ERASED, len(people))]
    secretary = bearer(service_settings, "secretary", scope="yuhang")
    app = create_app(service_settings.model_copy(update={"log_level": "DEBUG"}))
    configure_logging("DEBUG")
    async with running(app) as client:
        assert (await wait_ready(client, timeout=120)).status_code == 200
        listed = await client.get("/households", params={"unit": "yuhang", "limit": 500}, headers=secretary)
        for _, phone in (erased[0], kept[0]):
            await client.get("/households/lookup", params={"phone": phone}, headers=secretary)
        metrics = (await client.get("/metrics")).text
        runtime = service_runtime(client)
        stored = [s async for s in runtime.store.read()]
        decoded = [await runtime.store.codec.decode(s) for s in stored]
        out = tmp_path / "export"
        out.mkdir()
        await export.export_events(
            runtime.store, out, since=None, until=None, unit=None, include_personal=True
        )
        revealed = (out / "events.jsonl").read_text(encoding="utf-8")
        sealed_dir = tmp_path / "sealed"
        sealed_dir.mkdir()
        await export.export_events(
            runtime.store, sealed_dir, since=None, until=None, unit=None, include_personal=False
        )
        sealed = (sealed_dir / "events.jsonl").read_text(encoding="utf-8")
    logs = "".join(capfd.readouterr())
    api = listed.text
    raw = b"".join(s.payload + s.subject.encode() for s in stored).decode("utf-8", "replace")
    opened = json.dumps([r.event.model_dump(mode="json") for r in decoded], ensure_ascii=False)
    database = b"".join(p.read_bytes() for p in service_settings.var_dir.glob("members*.db*")).decode(
        "utf-8", "replace"
    )

    for name, phone in erased:
        for place, text in (
            ("stream", raw),
            ("decrypted stream", opened),
            ("logs", logs),
            ("metrics", metrics),
            ("export", revealed),
            ("sealed export", sealed),
            ("API", api),
        ):
            assert name not in text and phone not in text, f"erased marker {name} found in {place}"  # noqa: PT018
        if service_settings.database_url is None:
            assert name not in database, f"erased marker {name} left in the SQLite file"
    for name, phone in kept[:50]:
        for place, text in (("stream", raw), ("logs", logs), ("metrics", metrics), ("sealed export", sealed)):
            assert name not in text and phone not in text, f"marker {name} found in {place}"  # noqa: PT018
        assert name in opened  # an authorised decryption still reads the living
        assert name in revealed
    assert sum(1 for name, _ in kept if name in api) == len(kept)
