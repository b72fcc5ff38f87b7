"""Import never stores wrong data silently: hostile and broken files are refused with one line
naming file, line and problem (and nothing written), or imported exactly as they read."""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import Any

import pytest

from alapp.core.errors import InputError
from alapp.store import encoding
from alapp.store.encoding import detect_encoding
from alapp.store.importer import ImportSpec, import_file
from alapp.store.preview import preview_file
from alapp.store.project import Project
from tests.conftest import write

ZH = "你好，这是一条关于订单配送的中文消息"
RU = "Привет это сообщение о доставке заказа"
DE = "Müller Bäcker Größe"  # every accent before a letter: cp1252 bytes that decode as gb18030


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scaled down to keep the tests quick: a 64 KiB encoding sample (1 MiB in use) and 4 KiB
    read blocks (64 KiB), so that files past the sample are small and span many blocks."""
    monkeypatch.setattr(encoding, "SAMPLE_BYTES", 1 << 16)
    monkeypatch.setattr(encoding, "BLOCK", 1 << 12, raising=False)


def _dump(project: Project) -> list[Any]:
    tables = ["items", "labels", "label_events", "imports"]
    return [list(project._conn.execute(f"SELECT * FROM {t} ORDER BY 1")) for t in tables]


def _texts(project: Project) -> list[str]:
    return project.texts(project.item_ids())


def _refused(project: Project, path: Path, line: int | None, *fragments: str,
             **options: Any) -> InputError:
    """The import fails with one line naming the file, ``line`` and the ``fragments``, and the
    project is exactly as before."""
    before = _dump(project)
    with pytest.raises(InputError) as caught:
        import_file(project, path, ImportSpec(**options))
    error = caught.value
    message = str(error)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(str(path)), message
    assert error.line == line, message
    for fragment in fragments:
        assert fragment in message, message
    assert _dump(project) == before
    return error


def _big(path: Path, head: bytes, tail: bytes, header: bytes = b"text\n") -> Path:
    """``head`` repeated past the encoding sample, then ``tail``: the tail's line number."""
    repeat = encoding.SAMPLE_BYTES // len(head) + 10
    path.write_bytes(header + head * repeat + tail)
    return path


def _line_after(path: Path, tail: bytes) -> int:
    data = path.read_bytes()
    return data[: len(data) - len(tail)].count(b"\n") + 1


# -- encodings: the whole file, not just its first MiB -------------------------------------------

MIXED = [
    # head encoding and text, tail encoding and text, what the tail is said to be
    ("gb18030", ZH, "cp1252", DE, "cp1252"),  # decodes as gb18030: mojibake before
    ("cp1252", "Ein schöner Tag in Köln sagte Jürgen", "utf-8", DE, "utf-8"),
    ("cp1252", "Ein schöner Tag in Köln sagte Jürgen", "gb18030", ZH, "gb18030"),
    ("cp1252", "Ein schöner Tag in Köln sagte Jürgen", "cp1251", RU, "cp1251"),
    ("cp1251", RU, "cp1252", DE, "cp1252"),
    ("cp1251", RU, "utf-8", RU, "utf-8"),
    ("cp1251", RU, "gb18030", ZH, "gb18030"),  # Chinese read as cp1251 is Cyrillic too
    ("gb18030", ZH, "utf-8", ZH, "utf-8"),
    ("utf-8", RU, "cp1252", "Ein schöner Tag sagte Jürgen", "cp1252"),  # refused before, but
]                                                                  # without naming cp1252


@pytest.mark.parametrize("head_enc,head,tail_enc,tail,named", MIXED)
def test_a_tail_in_another_encoding_is_refused_at_its_line(
        project, tmp_path, head_enc, head, tail_enc, tail, named) -> None:
    tail_bytes = f"{tail}\n".encode(tail_enc)
    f = _big(tmp_path / "mixed.csv", f"{head}\n".encode(head_enc), tail_bytes)
    assert detect_encoding(f) == head_enc
    error = _refused(project, f, _line_after(f, tail_bytes), named)
    assert tail in str(error)  # how the line reads in the encoding it is in


def test_a_clean_file_in_each_line_checked_encoding_imports(project, tmp_path) -> None:
    """The line checks refuse nothing that is consistently one encoding, mixed with ASCII,
    short lines, punctuation and emoji included."""
    for name, lines in [
        ("gb18030", [ZH, "A股B股", "iPhone手机很好用", "好", "价格：¥199", "很好👍", "OK",
                     "這是一條關於訂單配送的繁體中文消息", "Привет по-русски", "ひらがな"]),
        ("cp1251", [RU, "Да", "«Ёлка» — №5", "Apple iPhone и Samsung", "ok"]),
        ("cp1252", ["Ein schöner Tag", "café crème", "Ça été", "œuvre – “quoted” …", "Größe",
                    "à la carte", "Þjóð", "ok"]),
    ]:
        with Project.create(tmp_path / f"{name}.alapp", ["a"]) as p:
            content = "text\n" + "\n".join(lines * 300) + "\n"
            f = write(tmp_path / f"{name}.csv", content, name)
            report = import_file(p, f)
            assert report.encoding == name
            assert _texts(p) == lines * 300


def test_cp1252_german_is_not_detected_as_gb18030(project, tmp_path) -> None:
    f = write(tmp_path / "de.csv", "text\n" + f"{DE}\n" * 50, "cp1252")
    assert detect_encoding(f) == "cp1252"
    import_file(project, f)
    assert set(_texts(project)) == {DE}


@pytest.mark.parametrize("name", ["cp1252", "cp1251", "gb18030", "utf-8"])
def test_non_ascii_only_after_the_first_mib_is_detected(project, tmp_path, name) -> None:
    late = {"cp1252": "café au lait für Jürgen", "cp1251": RU, "gb18030": ZH, "utf-8": ZH}[name]
    f = _big(tmp_path / "late.csv", b"plain ascii line\n", f"{late}\n{late}\n".encode(name))
    assert detect_encoding(f) == name
    import_file(project, f)
    assert _texts(project)[-2:] == [late, late]


def test_ascii_only_file_is_utf8(tmp_path) -> None:
    f = _big(tmp_path / "ascii.csv", b"plain ascii line\n", b"")
    assert detect_encoding(f) == "utf-8"


def test_bad_bytes_name_the_encodings_that_read_the_line(project, tmp_path) -> None:
    tail = b"caf\xe9 au lait\n"
    f = _big(tmp_path / "bad.csv", "fine ünïcödé\n".encode(), tail)
    error = _refused(project, f, _line_after(f, tail), "e9", "cannot be decoded as utf-8",
                     "cp1252", "cp1251", "café au lait")
    assert "detected" in str(error)


def test_mixed_encodings_within_the_sample_are_refused_too(project, tmp_path) -> None:
    """Not valid UTF-8 as a whole, the file is judged cp1252: its UTF-8 lines are not."""
    f = tmp_path / "bad.csv"
    f.write_bytes(b"text\n" + "fine ünïcödé\n".encode() * 10 + b"caf\xe9 au lait\n")
    _refused(project, f, 2, "does not read as cp1252", "it is utf-8", "ünïcödé")


def test_a_chosen_encoding_is_trusted_line_by_line(project, tmp_path) -> None:
    """Only a detected encoding is checked line by line; one the user names is decoded as
    named (decoding errors still refused)."""
    f = _big(tmp_path / "mixed.csv", f"{ZH}\n".encode("gb18030"), f"{DE}\n".encode("cp1252"))
    import_file(project, f, ImportSpec(encoding="gb18030"))
    assert _texts(project)[0] == ZH


# -- JSONL: the keys of every record --------------------------------------------------------------


def test_jsonl_label_first_seen_late_is_a_label(project, tmp_path) -> None:
    rows = [{"text": "no label yet", "lang": "en"}, {"text": "a", "label": "spam"},
            {"label": "ham", "text": "b", "lang": "de"}]
    f = write(tmp_path / "late.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    report = import_file(project, f)
    assert report.labeled == 2
    assert list(project.current_labels().values()) == ["spam", "ham"]
    metas = [project.item(i).meta for i in project.item_ids()]
    assert [json.loads(m) if m else None for m in metas] == [{"lang": "en"}, None,
                                                             {"lang": "de"}]


def test_jsonl_named_label_key_first_seen_late(project, tmp_path) -> None:
    f = write(tmp_path / "tag.jsonl", '{"text": "x"}\n{"text": "y", "tag": "spam"}\n')
    import_file(project, f, ImportSpec(label="tag"))
    assert list(project.current_labels().values()) == ["spam"]


def test_jsonl_named_key_no_record_has_is_refused(project, tmp_path) -> None:
    f = write(tmp_path / "tag.jsonl", '{"text": "x"}\n{"text": "y", "label": "spam"}\n')
    _refused(project, f, None, "no record has a 'tagg' field", label="tagg")


@pytest.mark.parametrize("content,line,fragment", [
    ('{"text": "a"}\n{"text": "b"}\n{"text": "c", "id": "k3"}\n', 3, "line 1 has none"),
    ('{"text": "a", "id": "k1"}\n{"text": "b"}\n', 2, "line 1 has one"),
])
def test_jsonl_ids_are_all_or_none(project, tmp_path, content, line, fragment) -> None:
    f = write(tmp_path / "ids.jsonl", content)
    _refused(project, f, line, fragment)


def test_json_array_keys_of_every_record(project, tmp_path) -> None:
    f = write(tmp_path / "a.json", json.dumps([{"text": "a"}, {"text": "b", "label": "ham"}]))
    import_file(project, f)
    assert list(project.current_labels().values()) == ["ham"]


# -- JSON: strict ---------------------------------------------------------------------------------

STRICT_JSON = [
    ('[{"text": "a"}]\ngarbage', 2, "column 1", "after the closing ]"),
    ('[{"text": "a"}] []', 1, "column 17", "after the closing ]"),
    ('[\n {"text": "a"}\n {"text": "b"}\n]', 3, "column 2", "missing comma"),
    ('[{"text": "a"},, {"text": "b"}]', 1, "column 16", "a comma too many"),
    ('[{"text": "a"},\n]', 2, "column 1", "a comma too many"),
    ('[, {"text": "a"}]', 1, "column 2", "invalid JSON"),
    ('[{"text": "a"}', 1, "column 15", "not closed"),
    ('[{"text": "a" "label": "spam"}]', 1, "column 15", "Expecting ',' delimiter"),
    ('[{"text": "a", "text": "b"}]', 1, "", "'text' appears twice"),
    ('[{"text": "a", "score": NaN}]', 1, "", "NaN is not a JSON value"),
    ('[{"text": "a"}]\n\n  {"text": "b"}', 3, "column 3", "after the closing ]"),
]


@pytest.mark.parametrize("content,line,column,problem", STRICT_JSON)
def test_json_is_parsed_strictly(project, tmp_path, content, line, column, problem) -> None:
    f = write(tmp_path / "strict.json", content)
    _refused(project, f, line, column, problem)


def test_json_error_far_into_a_big_file_names_line_and_column(project, tmp_path) -> None:
    records = ",\n".join(json.dumps({"text": f"item {i} " + "x" * 100}) for i in range(3000))
    f = write(tmp_path / "big.json", f"[\n{records}\n]\n]")
    _refused(project, f, 3003, "column 1", "after the closing ]")


def test_jsonl_errors_name_the_column(project, tmp_path) -> None:
    f = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n{"text": "a"} x\n')
    _refused(project, f, 2, "column 15")


@pytest.mark.parametrize("name,content", [
    ("deep.jsonl", '{"text": "a"}\n{"text": "b", "m": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
    ("deep.json", '[{"text": "a"},\n{"text": "b", "m": ' + "[" * 100_000 + "]" * 100_000 + "}]"),
    ("digits.jsonl", '{"text": "a"}\n{"text": "b", "n": ' + "1" * 5000 + "}\n"),
])
def test_deep_or_huge_json_values_are_one_line_errors(project, tmp_path, name, content) -> None:
    _refused(project, write(tmp_path / name, content), 2, "invalid JSON")


def test_deep_but_parsable_nesting_in_metadata(project, tmp_path) -> None:
    """Nesting that parses but is too deep to store is refused too, never a traceback."""
    deep = "[" * 900 + "]" * 900
    f = write(tmp_path / "deep.jsonl", f'{{"text": "a", "m": {deep}}}\n')
    try:
        import_file(project, f)
    except InputError as e:
        assert "\n" not in str(e) and e.line == 1
    else:
        assert _texts(project) == ["a"]


# -- a file that changes while it is read -------------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True])
def test_a_file_still_being_written_is_refused(project, tmp_path, monkeypatch,
                                               parallel) -> None:
    from alapp.store import parsing

    monkeypatch.setattr(parsing, "CHUNK", 2)
    f = write(tmp_path / "growing.csv", "text\nrow one\nrow two\nrow three\npart")

    def writer_goes_on(done: int, total: int) -> bool:
        if f.stat().st_size < 100:
            with open(f, "a", encoding="utf-8") as out:
                out.write("ly written row\nrow five\n")
        return True

    before = _dump(project)
    with pytest.raises(InputError) as caught:
        import_file(project, f, progress=writer_goes_on, parallel=parallel)
    message = str(caught.value)
    assert "changed during the import" in message and "\n" not in message
    assert "line 5" in message and "cut short" in message
    assert _dump(project) == before


def test_a_file_growing_while_read_stops_at_the_size_it_had(project, tmp_path,
                                                            monkeypatch) -> None:
    """The reader takes only the bytes the file had at the start, and refuses at their end
    when the file has grown: the appended half row is never read."""
    from alapp.store import parsing

    monkeypatch.setattr(parsing, "CHUNK", 100)
    f = write(tmp_path / "growing.csv", "text\n" + "".join(f"row {i}\n" for i in range(5_000)))
    grown = []

    def writer_goes_on(done: int, total: int) -> bool:
        if not grown:
            grown.append(done)
            with open(f, "a", encoding="utf-8") as out:
                out.write("half a r")
        return True

    with pytest.raises(InputError, match="changed during the import") as caught:
        import_file(project, f, progress=writer_goes_on)
    assert grown and grown[0] < f.stat().st_size
    assert caught.value.line is None  # the snapshot ends with a whole line
    assert project.count_items()["pool"] == 0


def test_no_final_newline_is_fine_when_the_file_is_still(project, tmp_path) -> None:
    import_file(project, write(tmp_path / "a.csv", "text\nrow one\nrow two"))
    assert _texts(project) == ["row one", "row two"]


# -- byte-order marks inside a file ---------------------------------------------------------------

JOINED = [
    ("joined.csv", "utf-8", "\ufefftext,label\na,spam\n\ufefftext,label\nb,ham\n", 3),
    ("joined.csv", "utf-8", "text,label\r\na,spam\r\n\ufefftext,label\r\nb,ham\r\n", 3),
    ("joined.txt", "utf-8", "\ufeffone\ntwo\n\ufeffthree\n", 3),
    ("joined.jsonl", "utf-8", '\ufeff{"text": "a"}\n\ufeff{"text": "b"}\n', 2),
    ("joined.csv", "utf-16-le", "\ufefftext\nfirst\n\ufefftext\nsecond\n", 3),
    ("joined.csv", "cp1252", "text\ncafé\n", None),  # see below: a UTF-8 BOM in cp1252 bytes
]


@pytest.mark.parametrize("name,codec,content,line", JOINED)
def test_a_bom_starting_a_line_is_refused(project, tmp_path, name, codec, content,
                                          line) -> None:
    data = content.encode(codec)
    if line is None:  # a UTF-8 export joined to a cp1252 one
        data += codecs.BOM_UTF8 + b"text\nmore\n"
        line = 3
    f = tmp_path / name
    f.write_bytes(data)
    _refused(project, f, line, "byte-order mark")


def test_a_bom_inside_a_line_is_a_character(project, tmp_path) -> None:
    import_file(project, write(tmp_path / "zw.csv", "text\nzero\ufeffwidth\n"))
    assert _texts(project) == ["zero\ufeffwidth"]


def test_preview_refuses_a_joined_file_too(tmp_path) -> None:
    f = write(tmp_path / "joined.csv", "text\na\n\ufefftext\nb\n")
    with pytest.raises(InputError, match="byte-order mark"):
        preview_file(f)


# -- texts, ids and labels ----------------------------------------------------------------------

BAD_VALUES = [
    ("zw.csv", "text\nfine\n\u200b\u200d\u2060\n", {}, 3, "nothing visible"),
    ("ctl.csv", "text\nfine\n\x01\x02\x7f\n", {}, 3, "nothing visible"),
    ("bidi.jsonl", '{"text": "ok"}\n{"text": "\\u200e\\u202e\\ufeff\\u3164"}\n', {}, 2,
     "nothing visible"),
    ("nul-id.csv", "id,text\na,fine\nb\x00c,two\n", {}, 3, "NUL byte"),
    ("nul-label.csv", "text,label\nfine,spam\ntwo,ha\x00m\n", {"add_labels": True}, 3,
     "NUL byte"),
    ("ctl-label.jsonl", '{"text": "a", "label": "sp\\u001bam"}\n', {"add_labels": True}, 1,
     "control character U+001B"),
    ("zw-label.jsonl", '{"text": "a", "label": "\\u200b"}\n', {"add_labels": True}, 1,
     "no visible character"),
    ("nul-id.jsonl", '{"text": "a", "id": "x\\u0000"}\n', {}, 1, "NUL byte"),
    ("surrogate.jsonl", '{"text": "ok"}\n{"text": "bad \\ud800 one"}\n', {}, 2,
     "lone surrogate"),
    ("surrogate-meta.jsonl", '{"text": "ok", "note": "\\udfff"}\n', {}, 1, "lone surrogate"),
    ("surrogate-id.json", '[{"text": "ok", "id": "a\\udc00"}]', {}, 1, "lone surrogate"),
]


@pytest.mark.parametrize("name,content,options,line,problem", BAD_VALUES)
def test_invisible_nul_and_surrogate_values_are_refused(project, tmp_path, name, content,
                                                        options, line, problem) -> None:
    _refused(project, write(tmp_path / name, content), line, problem, **options)


def test_a_surrogate_pair_is_one_character(project, tmp_path) -> None:
    import_file(project, write(tmp_path / "pair.jsonl", '{"text": "smile \\ud83d\\ude00"}\n'))
    assert _texts(project) == ["smile \U0001f600"]


def test_generated_ids_never_collide(project, tmp_path) -> None:
    """Rows without ids get "<import>-<row>"; when a file before gave such ids itself, the
    generated ones take another prefix instead of refusing a valid file, the same each time."""
    import_file(project, write(tmp_path / "a.csv", "id,text\n2-1,given\n2-2,given too\n"))
    report = import_file(project, write(tmp_path / "b.csv", "text\nfirst\nsecond\n"))
    assert report.rows == 2
    ids = [project.item(i).ext_id for i in project.item_ids()]
    assert ids == ["2-1", "2-2", "2~2-1", "2~2-2"]
    assert len(set(ids)) == 4


def test_a_given_id_that_a_generated_one_took_is_refused_with_its_line(project,
                                                                       tmp_path) -> None:
    import_file(project, write(tmp_path / "a.csv", "text\nfirst\n"))  # generated: 1-1
    f = write(tmp_path / "b.csv", "id,text\nx,one\n1-1,two\n")
    _refused(project, f, 3, "'1-1' is already in the project")


def test_a_file_name_that_is_not_utf8_imports(project, tmp_path) -> None:
    """Linux names are bytes: Python reads b"caf\\xe9.csv" as "caf\\udce9.csv", which SQLite
    cannot store as it is. The import goes ahead, its file remembered with the byte as \\xe9."""
    f = write(tmp_path / os.fsdecode(b"caf\xe9.csv"), "text\nfine\n")
    assert import_file(project, f).rows == 1
    (name,) = project._conn.execute("SELECT path FROM imports").fetchone()
    assert name.endswith("caf\\xe9.csv")
    bad = write(tmp_path / os.fsdecode(b"caf\xe9-bad.csv"), "text\n\u200b\n")
    _refused(project, bad, 2, "nothing visible")
