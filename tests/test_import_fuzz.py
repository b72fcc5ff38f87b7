"""Seeded fuzzing of the importer: valid CSV, TSV, JSONL and JSON files, mutated (bytes flipped,
cut, inserted: quotes, line breaks, NULs, BOMs; lines moved or put in another encoding), must
each either import exactly what an independent parse of the same bytes reads, or be refused with
one line and nothing written.

ALAPP_FUZZ_CASES sets the number of cases (default 200, about 5 s), ALAPP_FUZZ_SEED the seed;
a failure names the case's seed, so ``ALAPP_FUZZ_CASES=1 ALAPP_FUZZ_SEED=<it>`` replays it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from alapp.core.errors import AlappError
from alapp.store.importer import ImportReport, ImportSpec, import_file
from alapp.store.project import Project

CASES = int(os.environ.get("ALAPP_FUZZ_CASES", "200"))
SEED = int(os.environ.get("ALAPP_FUZZ_SEED", "20240611"))

TEXTS = [
    "plain words", "with, a comma", 'say "hi" to them', "two\nlines", "café crème für Jürgen",
    "Привет это сообщение о доставке", "你好，这是一条中文消息", "emoji 👍 here", "tab\there",
    "back\\slash", "  padded  ", "ünïcödé ëvërÿwhere", "мир", "中文", "a'b", "{not: json}",
    "dollar $5 and 100%", "x" * 120,
]


def _fits(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


# Per base encoding, the texts it can hold.
ENCODINGS = {name: [t for t in TEXTS if _fits(t, name)]
             for name in ("utf-8", "utf-8-sig", "utf-16", "cp1252", "cp1251", "gb18030")}
INSERTS = [b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b",", b"\t",
           b"{", b"}", b"[", b"\\", b'\\u', b"\\ud800", b"\x80", b"\xe9", b"\xc3", b"\xd0",
           "\u2028".encode(), "\u200b".encode(), b"\x1b", b'",', b'\n"', b'""']


def _rows(rng: random.Random, texts: list[str]) -> list[tuple[str, str, str]]:
    return [(f"r{i}", rng.choice(texts), rng.choice(["spam", "ham", ""]))
            for i in range(rng.randint(3, 25))]


def _base(rng: random.Random, fmt: str, encoding: str) -> bytes:
    rows = _rows(rng, ENCODINGS[encoding])
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator=rng.choice(["\n", "\r\n"]))
        writer.writerow(["id", "text", "label"])
        writer.writerows(rows)
        text = out.getvalue()
    elif fmt == "tsv":
        text = "id\ttext\tlabel\n" + "".join(
            f"{i}\t{t.replace(chr(9), ' ').replace(chr(10), ' ')}\t{label}\n"
            for i, t, label in rows)
    else:
        records = [{"id": i, "text": t, **({"label": label} if label else {})}
                   for i, t, label in rows]
        ascii_only = rng.random() < 0.5
        if fmt == "json":
            text = json.dumps(records, ensure_ascii=ascii_only, indent=rng.choice([None, 1]))
        else:
            text = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records)
    return text.encode(encoding)


def _mutate(rng: random.Random, data: bytes, encoding: str) -> tuple[bytes, list[str]]:
    done = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["flip", "flip", "cut", "insert", "insert", "insert", "delete",
                           "duplicate", "swap", "switch", "switch"])
        at = rng.randrange(len(data) + 1)
        if kind == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + rng.choice(INSERTS) + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + rng.randint(1, 8):]
        elif kind in ("duplicate", "swap", "switch"):
            lines = data.split(b"\n")
            if len(lines) < 3:
                continue
            i, j = sorted(rng.sample(range(len(lines)), 2))
            if kind == "duplicate":
                lines.insert(j, lines[i])
            elif kind == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:  # lines i..j re-encoded: an export appended from another program
                other = rng.choice(["utf-8", "cp1252", "cp1251", "gb18030", "latin-1"])
                try:
                    chunk = b"\n".join(lines[i:j]).decode(encoding)
                except UnicodeDecodeError:
                    continue
                lines[i:j] = [chunk.encode(other, "replace")]
                kind = f"switch to {other}"
            data = b"\n".join(lines)
        done.append(f"{kind}@{at}")
    return data, done


# -- the independent reading --------------------------------------------------------------------


def _expected(data: bytes, fmt: str, encoding: str) -> list[tuple[str, str | None, str | None]]:
    """(text, id, label) per row, as Python's own csv and json modules read the bytes."""
    text = data.decode(encoding)
    if fmt in ("csv", "tsv"):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="," if fmt == "csv"
                            else "\t", quoting=csv.QUOTE_MINIMAL if fmt == "csv"
                            else csv.QUOTE_NONE, strict=True)
        rows = [r for r in reader if r and not (len(r) == 1 and not r[0].strip())]
        names = [n.strip().lstrip("\ufeff") for n in rows[0]]
        records: list[dict[str, Any]] = [dict(zip(names, r, strict=True)) for r in rows[1:]]
    elif fmt == "json":
        values = json.loads(text.lstrip("\ufeff"))
        assert isinstance(values, list)
        records = [v if isinstance(v, dict) else {"text": v} for v in values]
        assert all(isinstance(v, (dict, str)) for v in values)
    else:
        records = []
        for number, line in enumerate(io.StringIO(text, newline=""), start=1):
            line = line.rstrip("\r\n")
            line = line.lstrip("\ufeff") if number == 1 else line
            if line.strip():
                value = json.loads(line)
                records.append(value if isinstance(value, dict) else {"text": value})
    out = []
    for record in records:
        value = record["text"]
        body = (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        ext_id, label = (_scalar(record.get(k)) for k in ("id", "label"))
        out.append((body.strip(), ext_id, label))
    return out


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.strip() or None


def _dump(project: Project) -> list[Any]:
    return [list(project._conn.execute(f"SELECT * FROM {t} ORDER BY id"))
            for t in ("items", "label_events")]


def _stored(project: Project, before: int) -> list[tuple[str, str | None, str | None]]:
    labels = project.current_labels()
    return [(item.text, item.ext_id, labels.get(item_id))
            for item_id in project.item_ids() if item_id > before
            for item in [project.item(item_id)]]


def _same_text(data: bytes, a: str, b: str) -> bool:
    try:
        return data.decode(a).removeprefix("\ufeff") == data.decode(b).removeprefix("\ufeff")
    except UnicodeDecodeError:
        return False


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a few items and labels already: a refused import leaves them as they are."""
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "keep.csv").write_text("id,text,label\nkeep-1,kept one,spam\nkeep-2,kept two,\n")
    with Project.create(folder / "template.alapp", ["spam", "ham"]) as project:
        import_file(project, folder / "keep.csv")
    return folder / "template.alapp"


def test_fuzzed_files_import_exactly_or_are_refused_cleanly(template, tmp_path) -> None:
    outcomes: dict[str, int] = {}
    slowest = (0.0, 0)
    for case in range(CASES):
        seed = SEED + case
        started = time.perf_counter()
        outcome = _one_case(seed, template, tmp_path)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        slowest = max(slowest, (time.perf_counter() - started, seed))
    print(f"fuzz: {CASES} cases from seed {SEED}: {outcomes}; slowest: seed {slowest[1]}, "
          f"{slowest[0]:.3f} s")
    if CASES >= 100:  # the mutations neither break every file nor spare every one
        assert min(outcomes.get("imported", 0), outcomes.get("refused", 0)) > CASES // 10


def _one_case(seed: int, template: Path, tmp_path: Path) -> str:
    rng = random.Random(seed)
    fmt = rng.choice(["csv", "csv", "tsv", "jsonl", "jsonl", "json"])
    encoding = rng.choice(["utf-8"] * 5 + ["utf-8-sig", "utf-16", "cp1252", "cp1251",
                                           "gb18030"])
    data, mutations = _mutate(rng, _base(rng, fmt, encoding), encoding)
    where = f"case seed {seed}: {fmt} in {encoding}, {', '.join(mutations)}; {data!r:.300}"
    f = tmp_path / f"case.{fmt}"
    f.write_bytes(data)
    project_path = tmp_path / "case.alapp"
    shutil.copy(template, project_path)
    with Project.open(project_path) as project:
        before = _dump(project)
        last = max(project.item_ids())
        try:
            report = import_file(project, f, ImportSpec(add_labels=True))
        except AlappError as e:
            assert "\n" not in str(e) and "\r" not in str(e), f"{where}: {e!r}"
            assert _dump(project) == before, f"{where}: wrote though refused ({e})"
            return "refused"
        except Exception as e:  # the point: anything else is a bug
            pytest.fail(f"{where}: {type(e).__name__}: {e}")
        _check_imported(report, data, fmt, encoding, project, last, where)
        return "imported"


def _check_imported(report: ImportReport, data: bytes, fmt: str, encoding: str,
                    project: Project, last: int, where: str) -> None:
    try:
        expected = _expected(data, fmt, report.encoding)
    except (UnicodeDecodeError, csv.Error, ValueError, KeyError, IndexError,
            AssertionError) as e:
        pytest.fail(f"{where}: imported as {report.encoding}, but Python reads no such file: "
                    f"{type(e).__name__}: {e}")
    stored = _stored(project, last)
    # Rows without an id get a generated one: compare those as the importer stored them.
    expected = [(t, ext_id or got[1], label) for (t, ext_id, label), got
                in zip(expected, stored, strict=False)] + expected[len(stored):]
    assert stored == expected, f"{where} (imported as {report.encoding})"
    # No silent mojibake: bytes that are still valid UTF-8 (or UTF-16 with its BOM) read the
    # same in the encoding the importer chose. (The 8-bit encodings and GB18030 take almost any
    # bytes, and UTF-16 without a BOM any even number of them: there a mutation may make
    # another encoding as right.)
    if encoding.startswith("utf-8") or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            return
        assert _same_text(data, encoding, report.encoding), \
            f"{where}: read as {report.encoding}, not {encoding}"
