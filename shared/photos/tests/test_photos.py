"""Evidence photos: what is kept has no location and no metadata, is upright and no larger than
needed; what is not a photo, too big or a decompression bomb is refused with a reason; the stored
bytes are sealed, readable while the person's key exists and never after it is erased; files are
written whole; an S3-compatible bucket works the same (moto's server standing in for MinIO or a
cloud's object store: it speaks the S3 API, it is not one)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import boto3
import pytest
from PIL import Image
from pillow_heif import from_pillow

from fourlinks_kernel.crypto import InMemoryKeyStore, PersonalDataCipher
from fourlinks_kernel.errors import PersonalDataError
from fourlinks_photos.evidence import Evidence, PhotoRef, stored_as
from fourlinks_photos.images import MAX_BYTES, MAX_SIDE, PhotoRefused, cleaned
from fourlinks_photos.stores import FileStore, S3Store

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def photo(
    size: tuple[int, int] = (400, 300), kind: str = "JPEG", *, gps: bool = True, orientation: int = 1
) -> bytes:
    """A photo as a phone sends it: with a GPS location and an orientation tag."""
    image = Image.new("RGB", size, (200, 60, 40))
    image.paste((20, 20, 220), (0, 0, size[0] // 2, size[1] // 4))  # a mark to see which way is up
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # camera make
    if gps:
        exif.get_ifd(GPS_IFD).update({1: "N", 2: (30.0, 25.0, 10.0), 3: "E", 4: (120.0, 18.0, 5.0)})
    out = io.BytesIO()
    image.save(out, format=kind, exif=exif.tobytes())
    return out.getvalue()


def test_a_kept_photo_has_no_location_and_no_metadata_and_is_upright() -> None:
    sent = photo(gps=True, orientation=6)  # taken sideways: the phone says "rotate 90°"
    assert Image.open(io.BytesIO(sent)).getexif().get_ifd(GPS_IFD)  # the upload has a location
    kept = cleaned(sent)
    image = Image.open(io.BytesIO(kept.data))
    assert not image.getexif()  # no EXIF at all: no location, no camera, no orientation
    assert b"Exif" not in kept.data
    assert b"PhoneMaker" not in kept.data
    assert (image.width, image.height) == (300, 400)  # turned upright, as the phone showed it
    assert kept.media_type == "image/jpeg"


@pytest.mark.parametrize(("kind", "media_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_png_and_webp_are_kept_as_they_are_without_metadata(kind: str, media_type: str) -> None:
    kept = cleaned(photo(kind=kind))
    assert kept.media_type == media_type
    assert not Image.open(io.BytesIO(kept.data)).getexif()


def test_a_heic_photo_from_a_phone_is_kept_as_jpeg() -> None:
    out = io.BytesIO()
    from_pillow(Image.open(io.BytesIO(photo()))).save(out, quality=80)
    kept = cleaned(out.getvalue())
    assert kept.media_type == "image/jpeg"
    assert Image.open(io.BytesIO(kept.data)).format == "JPEG"


def test_a_big_photo_is_resized_for_display() -> None:
    kept = cleaned(photo((4000, 3000)))
    assert max(kept.width, kept.height) == MAX_SIDE
    assert (kept.width, kept.height) == (MAX_SIDE, 1536)


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        (b"just some text", "not a photo"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a photo"),  # a broken PNG
        (photo(kind="GIF", gps=False), "GIF is not accepted"),
        (b"\xff" * (MAX_BYTES + 1), "at most 10 MB"),
    ],
)
def test_what_is_not_a_photo_to_keep_is_refused_with_a_reason(sent: bytes, reason: str) -> None:
    with pytest.raises(PhotoRefused, match=reason):
        cleaned(sent)


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # tiny file, 400 million pixels
    assert len(bomb.getvalue()) < 200_000
    with pytest.raises(PhotoRefused):
        cleaned(bomb.getvalue())


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def cipher() -> PersonalDataCipher:
    return PersonalDataCipher(master_key=os.urandom(32), keys=InMemoryKeyStore())


async def test_a_photo_is_sealed_for_its_person_and_unreadable_once_they_are_erased(tmp_path: Path) -> None:
    keys = cipher()
    evidence = Evidence(FileStore(tmp_path), keys)
    ref = await evidence.keep("household-1", photo())
    stored = files_under(tmp_path)[0]
    assert stored.name == stored_as("household-1", ref.sha256)
    assert b"JFIF" not in stored.read_bytes()  # sealed: not a JPEG on disk
    shown = await evidence.read("household-1", ref)
    assert shown is not None
    assert Image.open(io.BytesIO(shown)).format == "JPEG"
    assert await evidence.read("household-2", ref) is None  # another person's key opens nothing
    same = await Evidence(FileStore(tmp_path), keys).keep("household-2", photo(gps=False))  # the same picture
    assert same.sha256 == ref.sha256
    assert len(files_under(tmp_path)) == 2  # two sealed copies, one per household
    assert await evidence.read("household-1", ref) is not None  # household-2's copy overwrote nothing
    with pytest.raises(PersonalDataError):  # household-2's key does not open household-1's copy
        await keys.open_bytes(subject="household-2", purpose="photo", sealed=stored.read_bytes())
    await keys.erase("household-1")
    assert await evidence.read("household-1", ref) is None  # crypto-shredded where it lies
    assert await evidence.read("household-1", PhotoRef("0" * 64, "image/jpeg", 1)) is None


async def test_the_file_store_writes_whole_files_named_only_by_hashes(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    await store.put("a" * 64, b"sealed")
    assert await store.get("a" * 64) == b"sealed"
    assert await store.get("b" * 64) is None
    assert [p.name for p in files_under(tmp_path)] == ["a" * 64]  # nothing half-written left behind
    with pytest.raises(ValueError, match="64 hex digits"):
        await store.put("../../etc/passwd", b"x")


async def test_an_s3_compatible_bucket_keeps_sealed_photos_the_same_way(s3_endpoint: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="fourlinks",
        aws_secret_access_key="fourlinks-secret",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="evidence")
    keys = cipher()
    evidence = Evidence(S3Store(client, "evidence"), keys)
    ref = await evidence.keep("household-7", photo())
    listed = client.list_objects_v2(Bucket="evidence")["Contents"]
    assert [o["Key"] for o in listed] == [f"photos/{stored_as('household-7', ref.sha256)}"]
    assert await evidence.read("household-7", ref) is not None
    assert await S3Store(client, "evidence").get("c" * 64) is None
    await keys.erase("household-7")
    assert await evidence.read("household-7", ref) is None


def png_of(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 60, 40)).save(out, format="PNG")
    return out.getvalue()


def test_a_7000_pixel_square_png_is_refused_before_it_is_decoded() -> None:
    sent = png_of((7000, 7000))  # about 190 KB; decoded whole it took 776 MB and 4.8 s
    assert len(sent) < 400_000
    with pytest.raises(PhotoRefused, match="at most 24,000,000"):
        cleaned(sent)


def test_a_48_megapixel_phone_jpeg_is_decoded_at_a_reduced_scale_and_kept() -> None:
    kept = cleaned(photo((8000, 6000), gps=False))
    assert max(kept.width, kept.height) == MAX_SIDE


def test_a_jpeg_comment_does_not_survive_cleaning() -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 20, 30)).save(out, format="JPEG", comment=b"room 302, 13800001111")
    assert b"13800001111" in out.getvalue()
    kept = cleaned(out.getvalue())
    assert b"13800001111" not in kept.data
    assert "comment" not in Image.open(io.BytesIO(kept.data)).info


async def test_a_photo_is_decoded_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from fourlinks_photos import evidence as evidence_module

    decoded_on: list[str] = []

    def watched(data: bytes) -> object:
        decoded_on.append(threading.current_thread().name)
        return cleaned(data)

    monkeypatch.setattr(evidence_module, "cleaned", watched)
    await Evidence(FileStore(tmp_path), cipher()).keep("household-1", photo())
    assert decoded_on
    assert decoded_on[0] != threading.main_thread().name
