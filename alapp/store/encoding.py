"""Telling a text file's encoding, and finding the exact line where decoding fails.

Office files arrive as UTF-8 (with or without a BOM), UTF-16 (Excel's "Unicode text"), cp1251
(Russian Windows) or GB18030 (Chinese Windows). A user can always name the encoding instead.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

from alapp.core.errors import InputError

SAMPLE_BYTES = 1 << 20
KNOWN = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1251", "gb18030",
         "cp1252", "latin-1")


def normalize_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise InputError("--encoding", None, f"unknown encoding {name!r}; "
                         f"try one of: {', '.join(KNOWN)}") from None


def detect_encoding(path: Path) -> str:
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # the codec reads the BOM and picks the byte order
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return utf16
    if len(sample) == SAMPLE_BYTES:  # do not judge by a character cut in half at the end
        sample = sample[: sample.rfind(b"\n") + 1] or sample[:-4]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        decoded = sample.decode("gb18030")
        if _share(decoded, _is_cjk) > 0.5:
            return "gb18030"
    except UnicodeDecodeError:
        pass
    decoded = sample.decode("cp1251", errors="replace")
    if _share(decoded, _is_cyrillic) > 0.5 and _cyrillic_forms_words(decoded):
        return "cp1251"
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _utf16_without_bom(sample: bytes) -> str | None:
    """Zero bytes mean UTF-16 (text encodings of the 8-bit kind never contain them), provided
    the sample decodes and its line breaks survive decoding: a UTF-8 file with a stray NUL
    decodes as UTF-16 into noise with no line breaks, and is left for the NUL check."""
    if b"\x00" not in sample:
        return None
    even = sample[: len(sample) // 2 * 2]
    breaks = sample.count(b"\n")
    for candidate in ("utf-16-le", "utf-16-be"):
        try:
            decoded = even.decode(candidate)
        except UnicodeDecodeError:
            continue
        if breaks and decoded.count("\n") >= 0.9 * breaks:
            return candidate
    return None


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def _is_cyrillic(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff"


def _share(text: str, predicate: Callable[[str], bool]) -> float:
    """Share of the non-ASCII characters for which ``predicate`` holds."""
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return 0.0
    return sum(1 for ch in non_ascii if predicate(ch)) / len(non_ascii)


def _cyrillic_forms_words(text: str) -> bool:
    """Russian text has runs of Cyrillic letters; Latin-1 accents read as cp1251 sit alone
    inside Latin words ("café" -> "cafй")."""
    cyrillic = inside_latin = 0
    for i, ch in enumerate(text):
        if _is_cyrillic(ch):
            cyrillic += 1
            before = text[i - 1] if i else " "
            after = text[i + 1] if i + 1 < len(text) else " "
            if (before.isascii() and before.isalpha()) or (after.isascii() and after.isalpha()):
                inside_latin += 1
    return cyrillic > 0 and inside_latin / cyrillic < 0.2


def locate_decode_error(path: Path, encoding: str) -> InputError:
    """Re-read the file to name the line and bytes that cannot be decoded."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 16)
            final = not chunk
            pending = decoder.getstate()[0]
            try:
                line += decoder.decode(chunk, final).count("\n")
            except UnicodeDecodeError as e:
                data = pending + chunk
                line += codecs.decode(data[: e.start], encoding, "replace").count("\n")
                bad = data[e.start:e.end].hex(" ")
                return InputError(path, line, f"bytes {bad} cannot be decoded as {encoding}; "
                                  "choose the file's encoding (for example cp1251 for Russian "
                                  "Windows files, gb18030 for Chinese ones)")
            if final:
                break
    return InputError(path, None, f"cannot be decoded as {encoding}")
