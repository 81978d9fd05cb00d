"""The evidence photos in a backup, without a server: copied from the file store with their list,
linked from the previous backup instead of copied again (and copied when the previous backup is one
from before photos were backed up), left to the bucket's own backup when they live in an object
store, restored into a bucket as into files, and a listing naming anything but a photo refused.
The whole drill with NATS and the services is tests/test_backup.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from fourlinks_cli.backup import (
    PHOTO_LIST,
    PHOTOS,
    BackupRefused,
    _check_photos,
    _copy_photos,
    _put_photos,
    photo_place,
)
from fourlinks_runtime.settings import Settings

A, B = "ab" * 32, "cd" * 32  # two stored names (64 hex digits each)


def kept(root: Path, name: str, data: bytes) -> Path:
    """A sealed photo as the file store keeps it: root/ab/cd/<name>."""
    path = root / name[:2] / name[2:4] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def backup_dir(where: Path) -> Path:
    where.mkdir(parents=True)
    return where


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "var" / "photos"
    kept(root, A, b"sealed photo A")
    kept(root, B, b"sealed photo B, a little longer")
    (root / "ab" / "ab" / ".incoming-x1y2").write_bytes(b"half written")  # a write in progress
    return root


def test_the_photos_are_copied_with_their_list_and_a_write_in_progress_is_not(
    store: Path, tmp_path: Path
) -> None:
    out = backup_dir(tmp_path / "first")
    count, size = _copy_photos(Settings(var_dir=tmp_path / "var"), out, None)
    assert (count, size) == (2, len(b"sealed photo A") + len(b"sealed photo B, a little longer"))
    listed = [json.loads(line) for line in (out / PHOTO_LIST).read_text().splitlines()]
    assert [line["name"] for line in listed] == [f"ab/ab/{A}", f"cd/cd/{B}"]
    assert (out / PHOTOS / "ab" / "ab" / A).read_bytes() == b"sealed photo A"
    assert not list((out / PHOTOS).rglob(".incoming-*"))


def test_a_photo_the_previous_backup_holds_is_linked_and_a_new_one_copied(
    store: Path, tmp_path: Path
) -> None:
    settings = Settings(var_dir=tmp_path / "var")
    first = backup_dir(tmp_path / "first")
    _copy_photos(settings, first, None)
    kept(store, "ef" * 32, b"taken this hour")
    second = backup_dir(tmp_path / "second")
    assert _copy_photos(settings, second, first)[0] == 3
    old, new = second / PHOTOS / "ab" / "ab" / A, second / PHOTOS / "ef" / "ef" / ("ef" * 32)
    assert old.stat().st_ino == (first / PHOTOS / "ab" / "ab" / A).stat().st_ino  # the same file
    assert new.stat().st_nlink == 1  # copied: the previous backup did not have it
    assert (second / PHOTO_LIST).read_text().count('"sha256"') == 3


def test_a_previous_backup_from_before_photos_were_backed_up_is_no_obstacle(
    store: Path, tmp_path: Path
) -> None:
    older = backup_dir(tmp_path / "older")  # events, keys, checkpoints: no photos.jsonl
    out = backup_dir(tmp_path / "now")
    assert _copy_photos(Settings(var_dir=tmp_path / "var"), out, older)[0] == 2
    assert (out / PHOTOS / "cd" / "cd" / B).stat().st_nlink == 1


def test_photos_in_an_object_store_are_left_to_the_bucket_s_own_backup(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, photos_s3_url="http://minio:9000", photos_s3_bucket="evidence")
    out = backup_dir(tmp_path / "backup")
    assert _copy_photos(settings, out, None) == (None, 0)
    assert not (out / PHOTO_LIST).exists()
    assert photo_place(settings).startswith("s3://evidence")
    _check_photos(out)  # nothing listed, nothing to check


def test_a_listing_that_names_anything_but_a_photo_is_refused(tmp_path: Path) -> None:
    out = backup_dir(tmp_path / "backup")
    (out / PHOTO_LIST).write_text(json.dumps({"name": "../../keys.jsonl", "size": 1, "sha256": "0"}) + "\n")
    with pytest.raises(BackupRefused, match="not a photo"):
        _check_photos(out)


def bucket(endpoint: str) -> Any:
    """A client of the object store, as the services' settings make one."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="fourlinks",
        aws_secret_access_key="fourlinks-secret",
    )


async def test_a_backup_s_photos_restore_into_a_bucket_once(
    store: Path, tmp_path: Path, s3_endpoint: str
) -> None:
    out = backup_dir(tmp_path / "backup")
    _copy_photos(Settings(var_dir=tmp_path / "var"), out, None)
    _check_photos(out)
    bucket(s3_endpoint).create_bucket(Bucket="restored")
    target = Settings(
        var_dir=tmp_path / "elsewhere",
        photos_s3_url=s3_endpoint,
        photos_s3_bucket="restored",
        photos_s3_access_key="fourlinks",
        photos_s3_secret_key=SecretStr("fourlinks-secret"),
    )
    assert await _put_photos(target, out) == 2
    assert await _put_photos(target, out) == 2  # again (an interrupted restore run twice): no change
    client = bucket(s3_endpoint)
    listed = client.list_objects_v2(Bucket="restored")["Contents"]
    assert sorted(o["Key"] for o in listed) == [f"photos/{A}", f"photos/{B}"]
    body = client.get_object(Bucket="restored", Key=f"photos/{A}")["Body"].read()
    assert body == b"sealed photo A"
