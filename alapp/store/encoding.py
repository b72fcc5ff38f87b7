"""Telling a text file's encoding, and reading a file checked, byte by byte, against it.

Office files arrive as UTF-8 (with or without a BOM), UTF-16 (Excel's "Unicode text"), cp1251
(Russian Windows) or GB18030 (Chinese Windows). A user can always name the encoding instead.

Detection judges a sample: the first SAMPLE_BYTES, or, when those are plain ASCII, SAMPLE_BYTES
from the first line that is not (a file whose accents come late is judged on its accents, not
guessed UTF-8 from its ASCII start). A sample is not the file, so ``open_checked`` checks every
byte as the import reads it, and stops the import (which then writes nothing) at the first line
that does not fit: bytes the encoding cannot decode, a line in another encoding than the rest
(UTF-8 inside a cp1252 file, cp1252 German inside a GB18030 file: decodable, but mojibake), a
byte-order mark starting a line (files joined together), or a file that changes while it is read.
The errors name the line and the encodings that would read it.
"""

from __future__ import annotations

import codecs
import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from alapp.core.errors import InputError

SAMPLE_BYTES = 1 << 20
BLOCK = 1 << 16  # bytes checked at a time as a file is read
LONG_LINE = 1 << 20  # characters: a longer line is checked in pieces of this size
KNOWN = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1251", "gb18030",
         "cp1252", "latin-1")
# Detected encodings whose every line is checked to read like the rest of the file: these decode
# (almost) any bytes, so decoding alone cannot tell a line in another encoding. UTF-8 and UTF-16
# decode only their own: for them decoding is the check.
_LINE_CHECKED = frozenset({"gb18030", "cp1251", "cp1252", "iso8859-1"})
_OTHERS = ("utf-8", "cp1252", "cp1251", "gb18030")  # what a line in another encoding may be

_NON_ASCII_BYTE = re.compile(rb"[\x80-\xff]")
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{3,}")  # no Latin-script language has these
_LATIN_LETTER = re.compile("[\u0192\u0160\u0152\u017d\u0161\u0153\u017e\u0178\u00aa\u00b5"
                           "\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_CYRILLIC_IN_LATIN = re.compile("(?<=[A-Za-z])[\u0400-\u04ff]|[\u0400-\u04ff](?=[A-Za-z])")
# Chinese read as cp1251 is Cyrillic too, but with the case changing inside words ("НјЛµ") and
# symbols between letters; Russian words are lower case after their first letter.
_CYRILLIC_CAMEL = re.compile("[а-яёђѓєѕіїјљњћќўџґ][А-ЯЁЂЃЄЅІЇЈЉЊЋЌЎЏҐ]")
_CYRILLIC_SYMBOL = re.compile("(?<=[\u0400-\u04ff])[^\x00-\x7f\u0400-\u04ff\\s]"
                              "(?=[\u0400-\u04ff])")
_CJK = re.compile("[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
# A Chinese character glued to a Latin letter: cp1252 "Müller" read as GB18030 is "M黮ler".
_HAN_GLUED = re.compile("[A-Za-z][\u3400-\u4dbf\u4e00-\u9fff]|[\u3400-\u4dbf\u4e00-\u9fff]"
                        "(?=[A-Za-z])")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_BOM_AFTER_BREAK = re.compile("[\r\n]\ufeff")
_UTF8_BOM_AFTER_BREAK = re.compile(rb"[\r\n]\xef\xbb\xbf")
_MULTIBYTE = rb"(?:[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3})"
_ASCII_BYTE = rb"[\x00-\x09\x0b-\x7f]"


def _cp1251(byte: int) -> str:
    return bytes([byte]).decode("cp1251", "replace")


def _classes(**classes: Callable[[int], bool]) -> bytes:
    """A bytes.translate table putting each byte in the first class (a letter) it is in, else
    0: translated, a block is searched with bytes.find, faster than any regex."""
    return bytes(next((ord(name) for name, test in classes.items() if test(b)), 0)
                 for b in range(256))


# In 8-bit text: "L" a UTF-8 lead byte, "C" a continuation: "LC" starts a UTF-8 character.
_UTF8_BYTES = _classes(L=lambda b: 0xc2 <= b <= 0xf4, C=lambda b: 0x80 <= b <= 0xbf)
# "H" any byte beyond ASCII: three in a row are no Latin-script language in cp1252.
_HIGH_BYTES = _classes(H=lambda b: b >= 0x80)
# cp1251: "l" and "u" a lower and an upper case Cyrillic letter, "A" a Latin one, "s" another
# character beyond ASCII (not a space): see _fit for what their neighbours tell.
_CYRILLIC_BYTES = _classes(
    l=lambda b: b >= 0x80 and _cp1251(b).islower() and "\u0400" <= _cp1251(b) <= "\u04ff",
    u=lambda b: b >= 0x80 and _cp1251(b).isupper() and "\u0400" <= _cp1251(b) <= "\u04ff",
    A=lambda b: chr(b).isascii() and chr(b).isalpha(),
    s=lambda b: b >= 0x80 and not _cp1251(b).isspace())
_CYRILLIC_ODD = (b"Al", b"Au", b"lA", b"uA", b"lu", b"lsl", b"lsu", b"usl", b"usu")


def _find_all(data: bytes, needle: bytes) -> Iterator[int]:
    at = data.find(needle)
    while at >= 0:
        yield at
        at = data.find(needle, at + 1)


def _utf8_lines(least: int) -> re.Pattern[bytes]:
    """Lines that are well-formed UTF-8 with at least ``least`` multi-byte characters."""
    return re.compile(rb"(?m)^(?:%s*%s){%d}(?:%s|%s)*$"
                      % (_ASCII_BYTE, _MULTIBYTE, least, _ASCII_BYTE, _MULTIBYTE))


# A line of cp1252 text that is also valid UTF-8 with a multi-byte character is UTF-8 ("Ã©" is
# "é"). Short GB18030 lines can be valid UTF-8 by chance, so there it takes three.
_UTF8_LINE = {1: _utf8_lines(1), 3: _utf8_lines(3)}


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
        if len(sample) == SAMPLE_BYTES and sample.isascii():
            sample = _past_ascii(f, sample)
    if len(sample) == SAMPLE_BYTES:  # do not judge by a character cut in half at the end
        sample = sample[: sample.rfind(b"\n") + 1] or sample[:-4]
    return _judge(sample)


def _past_ascii(f: IO[bytes], head: bytes) -> bytes:
    """SAMPLE_BYTES from the start of the first line with a byte that is not ASCII (empty if
    there is none): ASCII reads the same in every encoding detected here, and says nothing."""
    tail = head[head.rfind(b"\n") + 1:]
    while True:
        block = f.read(SAMPLE_BYTES)
        if not block:
            return b""
        if block.isascii():
            tail = block[block.rfind(b"\n") + 1:] if b"\n" in block else \
                (tail + block)[-SAMPLE_BYTES:]
            continue
        data = tail + block
        found = _NON_ASCII_BYTE.search(data)
        start = data.rfind(b"\n", 0, found.start() if found else 0) + 1
        sample = data[start:]
        if len(sample) < SAMPLE_BYTES:
            sample += f.read(SAMPLE_BYTES - len(sample))
        return sample[:SAMPLE_BYTES]


def _judge(sample: bytes) -> str:
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        decoded = sample.decode("gb18030")
        if (_fit("gb18030", decoded) or 0.0) > 0.5:
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


def _count(pattern: re.Pattern[str], text: str) -> int:
    return pattern.subn("", text)[1]


def _fit(encoding: str, text: str) -> float | None:
    """How much ``text``, read as ``encoding``, looks like the script that encoding is for:
    0 (mojibake) to 1. None when there are too few characters beyond ASCII to tell.

    gb18030: Chinese characters and punctuation, but not rare characters (outside GB2312) glued
    to a Latin letter: cp1252 "Müller" reads as "M黮ler" (accents sit inside words).
    cp1251: Cyrillic letters not glued to Latin ones ("Mьller"), nor to a symbol or a capital
    inside a word (Chinese read as cp1251: "НјЛµ").
    cp1252 and latin-1: accents few among the letters and never three characters beyond ASCII
    in a row, as in every Latin-script language (Russian read as cp1252 is all accents,
    "Ïðèâåò"; Chinese a run of symbols and accents, "½«ÊÕ¹º")."""
    others = _ASCII_RUNS.sub("", text)
    if len(others) < 2:
        return None
    if encoding == "gb18030":
        odd = sum(1 for m in _HAN_GLUED.finditer(text) if not _in_gb2312(m.group()[-1]))
        return max(0, _count(_CJK, others) - odd) / len(others)
    if encoding == "cp1251":
        cyrillic = _count(_CYRILLIC, others)
        if cyrillic < 2:
            return None
        odd = (_count(_CYRILLIC_IN_LATIN, text) + _count(_CYRILLIC_CAMEL, text)
               + _count(_CYRILLIC_SYMBOL, text))
        return max(0, cyrillic - odd) / cyrillic
    if encoding in ("cp1252", "iso8859-1", "latin-1"):
        accented = _count(_LATIN_LETTER, others)
        share = accented / max(1, accented + _count(_ASCII_LETTER, text))
        in_runs = len(text) - len(_NON_ASCII_RUN.sub("", text))
        return min(1.0, max(0.0, (0.6 - share) / 0.3), (len(others) - in_runs) / len(others))
    return None


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


# Below this fit a line may be in another encoding (then one that reads it at 0.9 or more
# decides). Real Russian lines score 1 nearly always (99.9% over 0.8), Chinese read as cp1251
# mostly 0.5 to 0.8.
_MISFIT = {"cp1251": 0.8}


def _other_encoding(line: bytes, encoding: str) -> tuple[str, str] | None:
    """The encoding this line (bytes up to a line break) is clearly in, when it is not
    ``encoding`` (one of _LINE_CHECKED, which decodes it): (name, the line read so).

    A line that is well-formed UTF-8 with characters beyond ASCII is UTF-8 (by chance only
    short ones are, and in GB18030 it takes three such characters); otherwise the line must
    read badly as ``encoding`` (fit under 0.5) and well as another (0.9 or more)."""
    candidates: list[tuple[float, str, str]] = []
    least = 3 if encoding == "gb18030" else 1
    if _UTF8_LINE[least].match(line):
        try:
            reading = line.decode("utf-8")
            beyond = len(_ASCII_RUNS.sub("", reading))
            candidates.append((1.0 if beyond >= 3 else 0.95, "utf-8", reading))
        except UnicodeDecodeError:
            pass  # the pattern lets a few malformed sequences through
    if not candidates:
        fit = _fit(encoding, line.decode(encoding))
        if fit is None or fit >= _MISFIT.get(encoding, 0.5):
            return None
    # In order of preference at equal fit: Chinese read as cp1251 looks Cyrillic too, while
    # Russian rarely decodes as GB18030 at all.
    for other in ("gb18030", "cp1251", "cp1252"):
        if other == encoding or (other == "cp1252" and encoding == "iso8859-1"):
            continue
        try:
            reading = line.decode(other)
        except UnicodeDecodeError:
            continue
        other_fit = _fit(other, reading) or 0.0
        if other_fit >= 0.9:
            candidates.append((other_fit, other, reading))
    if not candidates:
        return None
    best = max(candidates, key=lambda c: c[0])  # the first of the best
    return best[1], best[2]


def _readings(line: bytes, encoding: str) -> list[tuple[str, str]]:
    """The encodings other than ``encoding`` that decode ``line``, the most plausible first,
    with how each reads it (latin-1, which decodes anything, only where cp1252 does not)."""
    found: list[tuple[float, str, str]] = []
    for other in (*_OTHERS, "latin-1"):
        if other == encoding or (other == "latin-1" and any(f[1] == "cp1252" for f in found)):
            continue
        try:
            reading = line.decode(other)
        except UnicodeDecodeError:
            continue
        fit = 1.0 if other == "utf-8" else _fit(other, reading)
        found.append((0.5 if fit is None else fit, other, reading))
    found.sort(key=lambda f: -f[0])
    return [(name, reading) for _, name, reading in found]


def _snippet(text: str, at: int = -1, width: int = 50) -> str:
    """Part of a line for a message: around index ``at`` (else the first character beyond
    ASCII), quoted and escaped so that it stays on one line."""
    text = text.rstrip("\r\n")
    if at < 0:
        found = _NON_ASCII.search(text)
        at = found.start() if found else 0
    start = max(0, min(at - width // 3, len(text) - width))
    part = text[start:start + width]
    return ("…" if start else "") + repr(part) + ("…" if start + width < len(text) else "")


def _describe(encoding: str, detected: bool) -> str:
    return (f"{encoding}, the encoding detected from the start of the file" if detected
            else f"{encoding}, the encoding chosen")


def changed_error(path: Path, size: int, now: int, line: int | None, cut: bool) -> InputError:
    """The file is not as it was when the import started: another program is writing it."""
    how = (f"{size:,} bytes when the import started, {now:,} now" if now != size
           else "modified while it was read")
    last = f"; its last record, line {line}, may be cut short" if cut and line else ""
    return InputError(path, line if cut else None,
                      f"the file changed during the import ({how}): another program may still "
                      f"be writing it{last}; import it again when it is complete")


class CheckedReader(io.RawIOBase):
    """A file's bytes as they were when the import started, checked block by block as they are
    read: see the module's docstring. ``snapshot`` is the file's (size, mtime_ns) at the start;
    only that many bytes are read, and when ``check_unchanged`` the end of the file verifies
    that the file is still as it was.

    ``detected``: the encoding was detected, not chosen by the user; only then is each line
    checked to read like the rest (a user who names the encoding is trusted on it).

    ``decode``: decode here too (else only where the checks need the text: UTF-16, and the
    line checks). Where this reader does not decode, the text stream above it does, strictly,
    and raises UnicodeDecodeError; locate_decode_error then reads again, decoding, to describe
    the bad bytes. That keeps UTF-8, the common case, decoded once."""

    def __init__(self, path: Path, file: IO[bytes], encoding: str, detected: bool,
                 snapshot: tuple[int, int], check_unchanged: bool = True,
                 decode: bool = False) -> None:
        super().__init__()
        self.path, self.file, self.encoding = path, file, codecs.lookup(encoding).name
        self.size, self.mtime_ns = snapshot
        self.check_unchanged = check_unchanged
        self.detected = detected
        self.delivered = 0
        self.decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        self.ascii_compatible = _ascii_compatible(self.encoding)
        self.lines_checked = detected and self.encoding in _LINE_CHECKED
        self.decoding = decode or self.lines_checked or not self.ascii_compatible
        self.newlines = 0  # line breaks in the text decoded so far
        self.last_char = ""  # the text's last character: a BOM after a line break starts a line
        self.last_byte = b""
        self.tail = b""  # the bytes of the unfinished last line (up to a few KiB), for messages
        self.pending = ""  # the unfinished last line, for the line checks
        self.pending_line = 1
        self.mid_codec = self.encoding  # the codec for bytes after the start (no BOM there)
        self.done = False

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.delivered

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self.size - self.delivered)
        data = self.file.read(want) if want > 0 else b""
        if data:
            self._check(data, final=False)
            view[:len(data)] = data
            self.delivered += len(data)
            return len(data)
        if not self.done:
            self.done = True
            self._at_end()
        return 0

    def _at_end(self) -> None:
        if self.check_unchanged:
            stat = os.fstat(self.file.fileno())
            if (self.delivered, stat.st_size, stat.st_mtime_ns) != (
                    self.size, self.size, self.mtime_ns):
                raise changed_error(self.path, self.size, stat.st_size, self.newlines + 1,
                                    self.last_byte not in (b"\n", b"\r"))
        self._check(b"", final=True)

    # -- the checks ----------------------------------------------------------------------------

    def _check(self, data: bytes, final: bool) -> None:
        if self.decoding:
            pending_bytes = self.decoder.getstate()[0]
            if self.delivered == 0 and data:
                self.mid_codec = _mid_codec(self.encoding, data)
            try:
                text = self.decoder.decode(data, final)
            except UnicodeDecodeError as e:
                raise self._undecodable(pending_bytes, data, e) from None
            self._check_text(text, data, final)
        else:  # the text stream decodes, and its error is described by locate_decode_error
            self._check_bom_bytes(data)
            self.newlines += data.count(b"\n")
        if data:
            self.last_byte = data[-1:]
            cut = data.rfind(b"\n") + 1
            self.tail = data[cut:] if cut else (self.tail + data)[-4096:]

    def _check_text(self, text: str, data: bytes, final: bool) -> None:
        if "\ufeff" in text:
            bom = _BOM_AFTER_BREAK.search(self.last_char + text)
            if bom is not None:  # the break before the BOM counts, unless counted already
                at = bom.start() + 1 - len(self.last_char)
                raise self._bom_error(self.newlines + 1 + text.count("\n", 0, at))
        self._check_bom_bytes(data)
        if text:
            self.last_char = text[-1]
        if self.lines_checked:
            self._check_lines(text, final)
        self.newlines += text.count("\n")

    def _check_bom_bytes(self, data: bytes) -> None:
        """A UTF-8 BOM after a line break (in UTF-8, or read as another encoding: "ï»¿")."""
        if self.ascii_compatible and b"\xef\xbb\xbf" in data:
            found = _UTF8_BOM_AFTER_BREAK.search(self.last_byte + data)
            if found is not None:
                at = found.start() + 1 - len(self.last_byte)
                raise self._bom_error(self.newlines + 1 + data.count(b"\n", 0, at))

    def _bom_error(self, line: int) -> InputError:
        return InputError(self.path, line, "a byte-order mark (U+FEFF) starts this line: the "
                          "file looks like several files joined together; remove the mark and "
                          "any repeated header, or import the parts one by one")

    def _check_lines(self, text: str, final: bool) -> None:
        """Every line beyond ASCII must read like the encoding detected for the file. Cheap
        searches pick the lines worth a closer look; most blocks have none."""
        joined = self.pending + text
        end = len(joined) if final else joined.rfind("\n") + 1
        if not end and len(joined) > LONG_LINE:
            end = len(joined)  # one very long line: check it in pieces
        whole, self.pending = joined[:end], joined[end:]
        line = self.pending_line
        self.pending_line = line + whole.count("\n")
        if not whole or whole.isascii():
            return
        counted, end_of_line = 0, -1
        for at in sorted(self._suspects(whole)):
            if at < end_of_line:
                continue
            start = whole.rfind("\n", 0, at) + 1
            end_of_line = whole.find("\n", at)
            end_of_line = len(whole) if end_of_line < 0 else end_of_line
            line += whole.count("\n", counted, start)
            counted = start
            mine = whole[start:end_of_line]
            other = _other_encoding(mine.encode(self.encoding), self.encoding)
            if other is not None:
                name, reading = other
                raise InputError(self.path, line, f"this line does not read as "
                                 f"{_describe(self.encoding, True)} ({_snippet(mine)}): it is "
                                 f"{name} ({_snippet(reading)}); the file mixes encodings: "
                                 "convert it to one (for example UTF-8) and import it again")

    def _suspects(self, whole: str) -> list[int]:
        """Places in ``whole`` (complete lines) whose lines may be in another encoding: lines
        that are UTF-8, and what reads unlike the detected encoding."""
        encoded = whole.encode(self.encoding)
        starts: list[int] = []
        gb = self.encoding == "gb18030"
        if gb or encoded.translate(_UTF8_BYTES).find(b"LC") >= 0:
            starts.extend(_line_starts(whole, encoded, _UTF8_LINE[3 if gb else 1]))
        if gb:
            try:  # only GB2312 (common Chinese, punctuation): all well
                whole.encode("gb2312")
                return starts
            except UnicodeEncodeError:
                pass
            pos = 0
            for line in whole.split("\n"):
                if not line.isascii():
                    try:
                        line.encode("gb2312")
                    except UnicodeEncodeError:
                        starts.append(pos)
                pos += len(line) + 1
        elif self.encoding == "cp1251":  # one byte a character: a byte's index is its character's
            classes = encoded.translate(_CYRILLIC_BYTES)
            for odd in _CYRILLIC_ODD:
                starts.extend(_find_all(classes, odd))
        else:
            starts.extend(_find_all(encoded.translate(_HIGH_BYTES), b"HHH"))
        return starts

    def _undecodable(self, pending: bytes, block: bytes, e: UnicodeDecodeError) -> InputError:
        data = pending + block
        valid = data[:e.start]
        try:  # the lines before the bad bytes come first: check them as the rest
            codec = self.encoding if self.delivered == 0 else self.mid_codec
            self._check_text(valid.decode(codec, "replace"), valid, final=False)
        except InputError as earlier:
            return earlier
        line = self.newlines + 1
        bad = data[e.start:e.end].hex(" ")
        problem = f"bytes {bad} cannot be decoded as {_describe(self.encoding, self.detected)}"
        if not self.ascii_compatible:
            return InputError(self.path, line, f"{problem}; choose the file's encoding")
        start = valid.rfind(b"\n") + 1
        end = data.find(b"\n", e.end)
        before = b"" if start else self.tail[:len(self.tail) - len(pending)]
        raw = before + data[start:end if end >= 0 else len(data)]
        readings = _readings(raw[-8192:], self.encoding)
        if not readings:
            return InputError(self.path, line, f"{problem}, nor as utf-8, cp1252, cp1251 or "
                              "gb18030; choose the file's encoding")
        shown = ", ".join(f"{name} ({_snippet(reading)})" if i == 0 else name
                          for i, (name, reading) in enumerate(readings[:4]))
        return InputError(self.path, line, f"{problem}; this line decodes as {shown}: choose "
                          "the file's encoding (for example cp1251 for Russian Windows files, "
                          "gb18030 for Chinese ones), or convert a file that mixes encodings "
                          "to one")


def _ascii_compatible(encoding: str) -> bool:
    """Line breaks and ASCII are single bytes of the same value (not so in UTF-16)."""
    try:
        return b"\n\ra;".decode(encoding) == "\n\ra;"
    except UnicodeDecodeError:
        return False


def _mid_codec(encoding: str, first: bytes) -> str:
    """The codec for bytes after the start of the file, where a BOM is not the codec's."""
    if encoding == "utf-8-sig":
        return "utf-8"
    if encoding == "utf-16":
        return "utf-16-be" if first.startswith(codecs.BOM_UTF16_BE) else "utf-16-le"
    if encoding == "utf-32":
        return "utf-32-be" if first.startswith(codecs.BOM_UTF32_BE) else "utf-32-le"
    return encoding


def _line_starts(text: str, encoded: bytes, pattern: re.Pattern[bytes]) -> Iterator[int]:
    """Where in ``text`` the lines start that ``pattern`` finds in ``encoded`` (the same text
    as bytes): the n-th line break is the same in both."""
    breaks, counted, pos = 0, 0, 0
    for match in pattern.finditer(encoded):
        if match.end() == match.start():
            continue
        target = breaks + encoded.count(b"\n", counted, match.start())
        counted = match.start()
        while breaks < target:
            pos = text.index("\n", pos) + 1
            breaks += 1
        yield pos


@contextmanager
def open_checked(path: Path, encoding: str, detected: bool,
                 snapshot: tuple[int, int] | None = None,
                 check_unchanged: bool = True) -> Iterator[tuple[IO[str], Callable[[], int]]]:
    """The file as checked text (see CheckedReader), and a function telling how many bytes
    have been read. Without a ``snapshot``, the file as it is now, and no check at the end."""
    with open(path, "rb", buffering=0) as file:
        if snapshot is None:
            stat = os.fstat(file.fileno())
            snapshot, check_unchanged = (stat.st_size, stat.st_mtime_ns), False
        checked = CheckedReader(path, file, encoding, detected, snapshot, check_unchanged)
        with io.TextIOWrapper(io.BufferedReader(checked, BLOCK), encoding, "strict",
                              newline="") as stream:
            yield stream, checked.tell


def locate_decode_error(path: Path, encoding: str, detected: bool = False) -> InputError:
    """Read the file again, decoding, to name the line and bytes that cannot be decoded, and
    the encodings that would read that line (the error CheckedReader gives when it decodes)."""
    with open(path, "rb", buffering=0) as file:
        stat = os.fstat(file.fileno())
        checked = CheckedReader(path, file, encoding, detected, (stat.st_size, stat.st_mtime_ns),
                                check_unchanged=False, decode=True)
        buffer = bytearray(BLOCK)
        try:
            while checked.readinto(buffer):
                pass
        except InputError as e:
            return e
    return InputError(path, None, f"cannot be decoded as {encoding}")
