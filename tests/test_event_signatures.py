"""Every event says who wrote it, unforgeably: an event published by anyone holding NATS credentials
but not the owning service's signing key, with the right version and `prev_hash`, is found by
`audit verify`; rotation keeps old events verifiable (a real nats-server)."""

from __future__ import annotations

from dataclasses import replace

from conftest import ADMIN, decided, org_tree, renames, unprotected_store
from nats.aio.client import Client

from fourlinks_audit.verify import verify
from fourlinks_kernel.envelope import CommandContext
from fourlinks_kernel.jetstream import JetStreamEventStore
from fourlinks_kernel.signing import EventSigner, Signers, new_seed
from fourlinks_members.domain.org_units import OrgUnit, unit_id_for

MEMBERS_KEY = EventSigner.from_seed("members", new_seed())
FEEDBACK_KEY = EventSigner.from_seed("feedback", new_seed())
SIGNERS = Signers.of([MEMBERS_KEY.public_entry(), FEEDBACK_KEY.public_entry()])


def writing_as(store: JetStreamEventStore, signer: EventSigner | None) -> JetStreamEventStore:
    """The same stream, appended to by whoever holds `signer` (None: nobody's key)."""
    codec = store.codec
    return JetStreamEventStore(
        store.nc, type(codec)(codec.registry, codec.cipher, signer=signer), store.settings
    )


async def findings(store: JetStreamEventStore, signers: Signers = SIGNERS) -> list[tuple[int, str, str]]:
    report = await verify(store, progress=False, signers=signers)
    return [(f.position, f.kind, f.detail) for f in report.findings]


async def test_a_log_written_by_its_services_verifies_with_their_keys(nc: Client) -> None:
    store = writing_as(await unprotected_store(nc, "SIGNED_OK"), MEMBERS_KEY)
    await org_tree(store)
    assert await findings(store) == []
    stored = [s async for s in store.read()]
    assert all(s.signature.startswith(MEMBERS_KEY.key_id + ":") for s in stored)


async def test_an_event_published_without_the_services_key_is_found(nc: Client) -> None:
    signed = writing_as(await unprotected_store(nc, "SIGNED_FORGED"), MEMBERS_KEY)
    await org_tree(signed)
    intruder = writing_as(signed, None)  # NATS credentials, the chain computed right, no key
    street = unit_id_for("yuhang/nanyuan")
    await decided(intruder, OrgUnit, street, renames("伪造的街道"), CommandContext.new(ADMIN))
    assert (await verify(signed, progress=False)).ok  # the chain and versions alone see nothing wrong
    assert await findings(signed) == [
        (6, "forged", "not signed: no key of the members service vouches for it")
    ]


async def test_an_event_signed_with_another_services_key_is_found(nc: Client) -> None:
    signed = writing_as(await unprotected_store(nc, "SIGNED_OTHER"), MEMBERS_KEY)
    await org_tree(signed)
    feedback_service = writing_as(signed, FEEDBACK_KEY)  # its key cannot vouch for a members event
    await decided(
        feedback_service, OrgUnit, unit_id_for("yuhang"), renames("余杭"), CommandContext.new(ADMIN)
    )
    assert await findings(signed) == [(6, "forged", "a members event signed with the feedback service's key")]


async def test_a_key_nobody_listed_vouches_for_nothing(nc: Client) -> None:
    signed = writing_as(await unprotected_store(nc, "SIGNED_UNKNOWN"), MEMBERS_KEY)
    await org_tree(signed)
    stranger = EventSigner.from_seed("members", new_seed())
    await decided(
        writing_as(signed, stranger),
        OrgUnit,
        unit_id_for("yuhang"),
        renames("余杭"),
        CommandContext.new(ADMIN),
    )
    assert await findings(signed) == [(6, "forged", f"signed by an unknown key {stranger.key_id}")]


async def test_a_signature_moved_onto_other_bytes_does_not_match(nc: Client) -> None:
    store = writing_as(await unprotected_store(nc, "SIGNED_MOVED"), MEMBERS_KEY)
    await org_tree(store)
    first, second = [s async for s in store.read()][:2]
    moved = replace(second, signature=first.signature)
    assert (
        SIGNERS.problem(
            context="members", payload=moved.payload, signature=moved.signature, position=moved.position
        )
        == f"its signature by key {MEMBERS_KEY.key_id} does not match its bytes"
    )


async def test_after_a_rotation_old_and_new_events_verify_and_the_unsigned_past_is_not_held_against_it(
    nc: Client,
) -> None:
    base = await unprotected_store(nc, "SIGNED_ROTATED")
    await org_tree(writing_as(base, None))  # positions 1-5, written before events were signed
    rotated = EventSigner.from_seed("members", new_seed())
    await decided(writing_as(base, MEMBERS_KEY), OrgUnit, unit_id_for("yuhang"), renames("余杭"), _ctx())
    await decided(writing_as(base, rotated), OrgUnit, unit_id_for("yuhang"), renames("余杭区"), _ctx())
    both = Signers.of([MEMBERS_KEY.public_entry(), rotated.public_entry()], signed_from=6)
    assert await findings(base, both) == []
    only_new = Signers.of([rotated.public_entry()], signed_from=6)
    assert [(p, k) for p, k, _ in await findings(base, only_new)] == [(6, "forged")]


def _ctx() -> CommandContext:
    return CommandContext.new(ADMIN)


async def test_an_older_log_is_checked_from_its_first_signed_event_on(nc: Client) -> None:
    base = await unprotected_store(nc, "SIGNED_SINCE")
    await org_tree(writing_as(base, None))  # the unsigned past
    await decided(writing_as(base, MEMBERS_KEY), OrgUnit, unit_id_for("yuhang"), renames("余杭"), _ctx())
    await decided(writing_as(base, None), OrgUnit, unit_id_for("yuhang"), renames("伪造"), _ctx())
    since_first = Signers.of([MEMBERS_KEY.public_entry()], signed_from=None)
    assert [(p, k) for p, k, _ in await findings(base, since_first)] == [(7, "forged")]
