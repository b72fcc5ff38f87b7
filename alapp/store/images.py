"""An item's image, kept inside the project file (a post may have text, an image, or both).

The import reads an image column that holds a file path (relative to the imported file's
folder, or absolute) or the image's bytes in base64 (plain or as a ``data:`` URI); the bytes
are stored in the ``images`` table, so the project stays one self-contained file. Nothing is
fetched: a URL is refused. Only real image files are taken (PNG, JPEG, GIF, BMP, WebP, by
their first bytes), up to ``MAX_IMAGE_BYTES`` each.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from alapp.core.errors import InputError
from alapp.core.types import ItemId
from alapp.store.project import Project

MAX_IMAGE_BYTES = 10 << 20  # per image: a photo, not a video or a whole archive
FORMATS = "PNG, JPEG, GIF, BMP or WebP"
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^//")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s_-]+$")


def sniff(data: bytes) -> str | None:
    """The image format by its first bytes, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"BM") and len(data) > 26:
        return "bmp"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    return None


def read_image(value: str, folder: Path, source: Path, line: int) -> tuple[str, bytes]:
    """(format, bytes) of an import cell: a path or base64; a one-line ``InputError`` naming
    the file and line otherwise."""
    value = value.strip()
    if value.lower().startswith("data:"):
        header, _, payload = value.partition(",")
        if ";base64" not in header.lower():
            raise InputError(source, line, "the image data: URI is not base64")
        return _checked(_decode(payload, source, line), source, line, "the image data")
    if _URL.match(value):
        raise InputError(source, line, f"the image {_short(value)} is a URL: images are not "
                         "downloaded (alapp works offline); save them next to the file and "
                         "give their paths, or import without images (--image none)")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else folder / path
    looks_like_path = "/" in value or "\\" in value or "." in value[-6:] or len(value) < 64
    try:
        if path.is_file():
            size = path.stat().st_size
            if size > MAX_IMAGE_BYTES:
                raise InputError(source, line, f"the image {_short(value)} is {_mb(size)}; "
                                 f"the limit is {_mb(MAX_IMAGE_BYTES)}")
            return _checked(path.read_bytes(), source, line, f"the image file {_short(value)}")
    except OSError as e:
        raise InputError(source, line, f"cannot read the image {_short(value)} "
                         f"({e.strerror or e})") from None
    if _BASE64.match(value) and len(value) >= 64:
        return _checked(_decode(value, source, line), source, line, "the base64 image")
    if looks_like_path:
        raise InputError(source, line, f"no image file {_short(value)} (paths are relative "
                         f"to {folder})")
    raise InputError(source, line, "the image is neither a file path nor base64 image bytes")


def _decode(payload: str, source: Path, line: int) -> bytes:
    if len(payload) > MAX_IMAGE_BYTES * 4 // 3 + 8:
        raise InputError(source, line, f"the base64 image is over the limit of "
                         f"{_mb(MAX_IMAGE_BYTES)}")
    text = "".join(payload.split())
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(source, line, "the image column holds text that is not valid "
                         "base64") from None


def _checked(data: bytes, source: Path, line: int, what: str) -> tuple[str, bytes]:
    if len(data) > MAX_IMAGE_BYTES:
        raise InputError(source, line, f"{what} is {_mb(len(data))}; the limit is "
                         f"{_mb(MAX_IMAGE_BYTES)}")
    fmt = sniff(data)
    if fmt is None:
        raise InputError(source, line, f"{what} is not an image ({FORMATS} expected)")
    return fmt, data


def _short(value: str, most: int = 80) -> str:
    return repr(value if len(value) <= most else value[:most] + "…")


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"


def image_of(project: Project, item_id: ItemId) -> bytes | None:
    """The item's image bytes, or None when it has none (a primary-key read)."""
    row = project._conn.execute("SELECT data FROM images WHERE item_id = ?",
                                (int(item_id),)).fetchone()
    return bytes(row[0]) if row is not None else None


def count_images(project: Project) -> int:
    return int(project._conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])
