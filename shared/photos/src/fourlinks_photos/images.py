"""A photo as it may be kept: a JPEG, PNG, WebP or HEIC of a sane size, turned upright, resized for
display and re-encoded without its metadata (EXIF, GPS location, camera, XMP, comments)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from pillow_heif import register_heif_opener

register_heif_opener()

MAX_BYTES = 10 * 1024 * 1024
"""The largest upload accepted (a phone camera's photo is 2 to 6 MB)."""
MAX_SIDE = 2048
"""The longest side kept: enough to see a leak or a crack on any screen."""
MAX_PIXELS = 50_000_000
"""More pixels than this is refused before decoding (a small file can claim a huge image)."""
MAX_DECODED_PIXELS = 24_000_000
"""The most pixels decoded at full size (about 100 MB of memory). A JPEG is decoded at a reduced
scale near MAX_SIDE, so a 48-megapixel phone photo passes; a PNG, WebP or HEIC is decoded whole."""
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "HEIF": "image/heic"}
KEPT_AS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "JPEG"}  # HEIC is shown as JPEG


class PhotoRefused(ValueError):
    """Not a photo that can be kept; the message says why, in words a person can act on, and
    `problem` in one word a client can word itself: too_large, kind_not_accepted, too_many_pixels,
    unreadable."""

    def __init__(self, message: str, problem: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class CleanPhoto:
    """A photo ready to keep."""

    data: bytes
    media_type: str
    width: int
    height: int


def cleaned(data: bytes) -> CleanPhoto:
    """The photo upright, at most MAX_SIDE on its longest side, without any metadata."""
    if len(data) > MAX_BYTES:
        raise PhotoRefused(
            f"the photo is {len(data) / 2**20:.1f} MB; at most {MAX_BYTES // 2**20} MB", "too_large"
        )
    image = _opened(data)
    kept_as = KEPT_AS[image.format or ""]
    upright = ImageOps.exif_transpose(image)
    upright.info = {}  # nothing of the file's metadata (EXIF, XMP, ICC, JPEG comments) is written again
    upright.thumbnail((MAX_SIDE, MAX_SIDE))
    if kept_as == "JPEG" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    out = io.BytesIO()
    # A fresh encode writes only the pixels: no EXIF, no XMP, no ICC comments are passed on.
    upright.save(out, format=kept_as, **({"quality": 85} if kept_as in ("JPEG", "WEBP") else {}))
    return CleanPhoto(out.getvalue(), Image.MIME[kept_as], upright.width, upright.height)


def _opened(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in ACCEPTED:
                kind = image.format or "file of unknown kind"
                raise PhotoRefused(
                    f"a {kind} is not accepted: send a JPEG, PNG, WebP or HEIC photo", "kind_not_accepted"
                )
            if image.width * image.height > MAX_PIXELS:
                raise PhotoRefused(
                    f"the photo has {image.width}×{image.height} pixels; at most {MAX_PIXELS:,}",
                    "too_many_pixels",
                )
            if image.format == "JPEG":
                image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 scale
            if image.width * image.height > MAX_DECODED_PIXELS:
                raise PhotoRefused(
                    f"the image has {image.width}×{image.height} pixels; a PNG, WebP or HEIC photo has "
                    f"at most {MAX_DECODED_PIXELS:,} (send it as a JPEG, or smaller)",
                    "too_many_pixels",
                )
            image.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise PhotoRefused(
            "this is not a photo that can be read (JPEG, PNG, WebP or HEIC)", "unreadable"
        ) from exc
    return image
