"""Per-person keys, wrapping and the blind index (pure logic, in memory)."""

from __future__ import annotations

import base64
import os

import pytest

from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher, parse_master_key
from fourlinks_kernel.errors import PersonalDataError


def cipher(keys: InMemoryKeyStore, master: bytes | None = None) -> PersonalDataCipher:
    return PersonalDataCipher(master_key=master or b"k" * 32, keys=keys)


async def test_a_value_sealed_for_one_person_opens_only_for_that_person_and_field() -> None:
    keys = InMemoryKeyStore()
    sealed = await cipher(keys).encrypt(subject="p1", field_name="phone", value="13912345678")
    assert "13912345678" not in str(sealed)
    assert await cipher(keys).decrypt(subject="p1", field_name="phone", sealed=sealed) == "13912345678"
    with pytest.raises(PersonalDataError):
        await cipher(keys).decrypt(subject="p1", field_name="name", sealed=sealed)


async def test_a_wrong_master_key_is_a_clear_error() -> None:
    keys = InMemoryKeyStore()
    sealed = await cipher(keys).encrypt(subject="p1", field_name="phone", value="1")
    with pytest.raises(PersonalDataError, match="master key"):
        await cipher(keys, master=b"x" * 32).decrypt(subject="p1", field_name="phone", sealed=sealed)


async def test_erasure_destroys_the_key_for_good() -> None:
    keys = InMemoryKeyStore()
    one = cipher(keys)
    sealed = await one.encrypt(subject="p1", field_name="phone", value="1")
    await one.erase("p1")
    with pytest.raises(KeyError):
        await one.decrypt(subject="p1", field_name="phone", sealed=sealed)
    assert "p1" not in keys.keys


def test_the_blind_index_matches_the_same_number_however_written_and_nothing_else() -> None:
    index = cipher(InMemoryKeyStore()).blind_index
    assert index("139 1234 5678", purpose="phone") == index("139-1234-5678", purpose="phone")
    assert index("13912345678", purpose="phone") != index("13912345679", purpose="phone")
    assert index("13912345678", purpose="phone") != index("13912345678", purpose="id_number")
    other = PersonalDataCipher(master_key=b"z" * 32, keys=InMemoryKeyStore()).blind_index
    assert other("13912345678", purpose="phone") != index("13912345678", purpose="phone")


def test_master_keys_must_be_32_base64_bytes() -> None:
    assert parse_master_key(base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(PersonalDataError, match="32 bytes"):
        parse_master_key(base64.b64encode(b"short").decode())
    with pytest.raises(PersonalDataError, match="base64"):
        parse_master_key("not base64 !!")


async def test_rotating_the_master_key_rewraps_every_key_and_keeps_blind_indexes() -> None:
    keys = InMemoryKeyStore()
    old = PersonalDataCipher(master_key=b"o" * 32, keys=keys)
    sealed = await old.encrypt(subject="p1", field_name="phone", value="13912345678")
    index = old.blind_index("13912345678", purpose="phone")
    assert await old.rewrap(await keys.subjects(), keys, b"n" * 32) == 1
    new = PersonalDataCipher(master_key=b"n" * 32, keys=keys, index_key=b"o" * 32)
    assert await new.decrypt(subject="p1", field_name="phone", sealed=sealed) == "13912345678"
    assert new.blind_index("13912345678", purpose="phone") == index
    with pytest.raises(PersonalDataError, match="master key"):
        await PersonalDataCipher(master_key=b"o" * 32, keys=keys).decrypt(
            subject="p1", field_name="phone", sealed=sealed
        )
