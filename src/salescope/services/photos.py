"""Photos of visit reports: checked, re-encoded, stored under random names, served after an
access check.

An upload is refused unless its bytes say JPEG, PNG or WebP (``puremagic``, from the content,
never the file name or the browser's type), Pillow agrees, and it is within the size and pixel
limits (checked before decoding, so a decompression bomb is refused unread). The stored file is
a fresh encoding of the pixels only — EXIF (GPS position, camera), ICC profiles, comments and
anything appended after the image (polyglots) are gone — under a random name in
``<data_dir>/photos/``, with a thumbnail of at most 320 pixels.
"""

from __future__ import annotations

import io
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

import puremagic
from PIL import Image, ImageOps, UnidentifiedImageError

from salescope.domain.errors import FieldError

FORMATS = {"jpeg": ("JPEG", "image/jpeg", ".jpg"), "png": ("PNG", "image/png", ".png")}
FORMATS["webp"] = ("WEBP", "image/webp", ".webp")
MAGIC_TO_FORMAT = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}
THUMB_SIZE = 320
MAX_NAME = 120


@dataclass(frozen=True, slots=True)
class StoredImage:
    file_name: str
    thumb_name: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    original_name: str


def safe_name(name: str | None) -> str:
    """The uploaded file's name as shown back: the last path part, printable, short."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:MAX_NAME] or "photo"


def sniff(data: bytes) -> str | None:
    """``jpeg``, ``png`` or ``webp`` from the content's magic bytes, or None."""
    try:
        matches = puremagic.magic_string(data[:4096])
    except (puremagic.PureError, ValueError):
        return None
    for match in matches:
        ext = (match.extension or "").lower()
        if ext in MAGIC_TO_FORMAT:
            return MAGIC_TO_FORMAT[ext]
    return None


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[str, Image.Image]:
    """The format and the decoded image of an upload; ``FieldError`` (field ``photo``) when it
    is empty, too large, not JPEG/PNG/WebP by its content, too many pixels, or broken."""
    if not data:
        raise FieldError("the photo is empty", "photo")
    if len(data) > max_bytes:
        raise FieldError(
            f"the photo is {len(data) / 1e6:.1f} MB; at most {max_bytes / 1e6:.1f} MB", "photo"
        )
    kind = sniff(data)
    if kind is None:
        raise FieldError("not a JPEG, PNG or WebP image (checked from its content)", "photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[FORMATS[kind][0]])
            width, height = image.size
            if width * height > max_pixels:
                raise FieldError(
                    f"the photo has {width}x{height} pixels; at most {max_pixels / 1e6:.0f} "
                    "megapixels",
                    "photo",
                )
            image.load()
    except FieldError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Warning) as error:
        raise FieldError(f"the photo cannot be read as {kind.upper()}: {error}", "photo") from None
    except Image.DecompressionBombError:
        raise FieldError("the photo has too many pixels", "photo") from None
    return kind, image


def _encode(image: Image.Image, kind: str) -> bytes:
    """The pixels alone, encoded afresh (no metadata of the upload survives)."""
    fmt = FORMATS[kind][0]
    mode = "RGB" if kind == "jpeg" else ("RGBA" if "A" in image.getbands() else "RGB")
    clean = Image.new(mode, image.size)
    clean.paste(image.convert(mode))
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": 85} if kind in ("jpeg", "webp") else {"optimize": True}
    clean.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def store_image(
    folder: Path, data: bytes, original_name: str | None, *, max_bytes: int, max_pixels: int
) -> StoredImage:
    """Check the upload and write its re-encoding and thumbnail under random names."""
    kind, image = check_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    image = ImageOps.exif_transpose(image)  # keep the orientation the camera meant
    _, content_type, ext = FORMATS[kind]
    body = _encode(image, kind)
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE))
    thumb_body = _encode(thumb, kind)
    folder.mkdir(parents=True, exist_ok=True)
    stem = secrets.token_hex(16)
    file_name, thumb_name = f"{stem}{ext}", f"{stem}.thumb{ext}"
    (folder / file_name).write_bytes(body)
    (folder / thumb_name).write_bytes(thumb_body)
    return StoredImage(
        file_name,
        thumb_name,
        content_type,
        image.width,
        image.height,
        len(body),
        safe_name(original_name),
    )
