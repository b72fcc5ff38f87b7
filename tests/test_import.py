from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from alapp.core.errors import InputError
from alapp.core.types import Split
from alapp.store.encoding import detect_encoding
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from tests.conftest import write

RU = "Привет это сообщение на русском языке о доставке заказа"
ZH = "你好，这是一条关于订单配送的中文消息"


def _dump(project: Project) -> list:
    """Everything stored, to prove a failed import changed nothing."""
    tables = ["items", "labels", "label_events", "imports", "settings"]
    return [list(project._conn.execute(f"SELECT * FROM {t} ORDER BY 1")) for t in tables]


def _texts(project: Project) -> list[str]:
    return project.texts(project.item_ids())


def test_csv_with_mapping_labels_meta_and_split(project, tmp_path) -> None:
    f = write(tmp_path / "a.csv", 'key,body,tag,lang\nk1,"hello, world",spam,en\n'
                                  'k2,"multi\nline",ham,en\nk3,third,,ru\n')
    report = import_file(project, f, ImportSpec(text=["body"], id="key", label="tag",
                                                split=Split.TEST))
    assert (report.rows, report.labeled, report.format) == (3, 2, "csv")
    assert _texts(project) == ["hello, world", "multi\nline", "third"]
    assert project.count_items()["test"] == 3
    item = project.item(project.item_ids()[0])
    assert (item.ext_id, json.loads(item.meta or "{}")) == ("k1", {"lang": "en"})
    assert sorted(project.current_labels().values()) == ["ham", "spam"]


def test_columns_by_number_without_header_and_joined_text(project, tmp_path) -> None:
    f = write(tmp_path / "n.csv", '"2","Title one","Body one"\n"1","Title two","Body two"\n')
    import_file(project, f, ImportSpec(header=False, text=["2", "3"], label="1",
                                       label_names=["spam", "ham"], label_base=1))
    assert _texts(project) == ["Title one\nBody one", "Title two\nBody two"]
    assert list(project.current_labels().values()) == ["ham", "spam"]


@pytest.mark.parametrize("fmt,content", [
    ("tsv", 'text\tlabel\nsays "hi\tspam\nbye\tham\n'),
    ("jsonl", '{"text": "says \\"hi", "label": "spam"}\n\n{"text": "bye", "label": "ham"}\n'),
    ("json", '[\n {"text": "says \\"hi", "label": "spam"},\n {"text": "bye", "label": "ham"}\n]'),
    ("labeled-txt", "spam says \"hi\n__label__ham bye\n"),
])
def test_formats(project, tmp_path, fmt, content) -> None:
    f = write(tmp_path / f"in.{fmt}", content)
    import_file(project, f, ImportSpec(format=fmt))
    assert _texts(project) == ['says "hi', "bye"]
    assert list(project.current_labels().values()) == ["spam", "ham"]


def test_plain_text_one_item_per_line(project, tmp_path) -> None:
    f = write(tmp_path / "in.txt", "first\n\nsecond\n")
    import_file(project, f)
    assert _texts(project) == ["first", "second"]


def test_json_array_streams_across_read_chunks(project, tmp_path) -> None:
    rows = [{"text": f"item {i} " + "x" * 200, "n": i} for i in range(2000)]
    f = write(tmp_path / "big.json", json.dumps(rows))
    assert import_file(project, f).rows == 2000


@pytest.mark.parametrize("encoding,expected", [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("utf-16", "utf-16"),
    ("utf-16-le", "utf-16-le"), ("cp1251", "cp1251"), ("gb18030", "gb18030"),
])
def test_encodings_are_detected(project, tmp_path, encoding, expected) -> None:
    text = f"text\n{RU}\n{ZH}\n" if encoding not in ("cp1251",) else f"text\n{RU}\nещё\n"
    if encoding == "gb18030":
        text = f"text\n{ZH}\n中文标题新闻\n"
    f = write(tmp_path / "enc.csv", text, encoding)
    assert detect_encoding(f) == expected
    report = import_file(project, f)
    assert report.encoding.replace("_", "-") in (expected, "utf-16-le", "utf-8-sig")
    assert _texts(project) == text.splitlines()[1:]


def test_latin1_is_not_mistaken_for_cp1251(tmp_path) -> None:
    f = write(tmp_path / "l.txt", "What is the café's name ?\nWho was Pelé ?\n" * 20, "latin-1")
    assert detect_encoding(f) in ("cp1252", "latin-1")


def test_encoding_can_be_chosen(project, tmp_path) -> None:
    f = write(tmp_path / "ru.csv", f"text\n{RU}\n", "cp1251")
    import_file(project, f, ImportSpec(encoding="windows-1251"))
    assert _texts(project) == [RU]


BAD_INPUTS = [
    ("ragged.csv", "text,label\nfine,spam\ntoo,many,fields\n", {}, 3, "3 fields, but the header"),
    ("missing.csv", "body\nhello\n", {}, 1, "no column 'text'"),
    ("empty.csv", "text,label\nfine,spam\n  ,ham\n", {}, 3, "empty text"),
    ("label.csv", "text,label\nfine,spam\nbad,eggs\n", {}, 3, "unknown label 'eggs'"),
    ("dup.csv", "id,text\na,one\nb,two\na,three\n", {}, 4, "duplicate id 'a' (first on line 2)"),
    ("nul.csv", "text\nfine\nbro\x00ken\n", {}, 3, "NUL byte"),
    ("nul.jsonl", '{"text": "ok"}\n{"text": "a\\u0000b"}\n', {}, 2, "NUL byte"),
    ("bad.jsonl", '{"text": "ok"}\n{"text": oops}\n', {}, 2, "invalid JSON"),
    ("quote.csv", 'text\nfine\n"never closed\n', {}, 3, "unexpected end of data"),
    ("empty.txt", "", {}, None, "no items found"),
    ("map.csv", "text,label\nfine,7\n", {"label_names": ["spam"]}, 2, "no name in the label map"),
    ("split.csv", "text,s\nfine,train\n", {"split_column": "s"}, 2, "not one of pool, test"),
]


@pytest.mark.parametrize("name,content,options,line,problem", BAD_INPUTS)
def test_bad_input_names_file_line_problem_and_changes_nothing(
        project, tmp_path, name, content, options, line, problem) -> None:
    import_file(project, write(tmp_path / "ok.csv", "id,text,label\nkeep,already here,ham\n"))
    before = _dump(project)
    f = write(tmp_path / name, content)
    with pytest.raises(InputError) as caught:
        import_file(project, f, ImportSpec(**options))
    error = caught.value
    assert (error.path, error.line) == (str(f), line)
    assert problem in str(error)
    assert str(error).startswith(str(f))
    assert _dump(project) == before


def test_undecodable_bytes_name_the_line(project, tmp_path) -> None:
    f = tmp_path / "bad.csv"
    f.write_bytes(b"text\n" + b"good line\n" * 5000 + b"caf\xe9 au lait\n" + b"more\n")
    with pytest.raises(InputError) as caught:
        import_file(project, f, ImportSpec(encoding="utf-8"))
    assert caught.value.line == 5002
    assert "e9" in caught.value.problem and "cp1251" in caught.value.problem
    assert project.count_items()["pool"] == 0


def test_huge_field_is_refused(project, tmp_path) -> None:
    f = write(tmp_path / "huge.csv", "text\nsmall\n" + '"' + "x" * 10_000_000 + '"\n')
    with pytest.raises(InputError, match="longer than the limit") as caught:
        import_file(project, f)
    assert caught.value.line == 3
    huge_jsonl = write(tmp_path / "huge.jsonl", json.dumps({"text": "y" * 10_000_000}) + "\n")
    with pytest.raises(InputError, match="longer than the limit"):
        import_file(project, huge_jsonl)
    assert project.count_items()["pool"] == 0


def test_id_already_in_project_is_refused(project, tmp_path) -> None:
    import_file(project, write(tmp_path / "a.csv", "id,text\nx1,first\n"))
    with pytest.raises(InputError, match="'x1' is already in the project") as caught:
        import_file(project, write(tmp_path / "b.csv", "id,text\nx2,second\nx1,again\n"))
    assert caught.value.line == 3
    assert project.count_items()["pool"] == 1


def test_duplicate_id_across_chunks(project, tmp_path, monkeypatch) -> None:
    from alapp.store import parsing

    monkeypatch.setattr(parsing, "CHUNK", 10)
    rows = "".join(f"{i},text {i}\n" for i in range(25)) + "3,again\n"
    with pytest.raises(InputError, match="duplicate id '3'") as caught:
        import_file(project, write(tmp_path / "d.csv", "id,text\n" + rows))
    assert caught.value.line == 27


def test_duplicate_texts_are_reported_not_refused(project, tmp_path) -> None:
    import_file(project, write(tmp_path / "a.csv", "text\nBuy cheap pills\n"))
    report = import_file(project, write(tmp_path / "b.csv",
                                        "text\nbuy  CHEAP pills\nhello\nhello\n"))
    assert report.rows == 3
    assert report.duplicate_texts_in_file == 1
    assert report.duplicate_texts_in_project == 1


def test_add_labels_extends_the_label_set(project, tmp_path) -> None:
    report = import_file(project, write(tmp_path / "a.csv", "text,label\nx,eggs\n"),
                         ImportSpec(add_labels=True))
    assert report.new_labels == ["eggs"]
    assert project.labels() == ["spam", "ham", "eggs"]


def test_cancel_rolls_back(project, tmp_path, monkeypatch) -> None:
    from alapp.core.errors import Cancelled
    from alapp.store import parsing

    monkeypatch.setattr(parsing, "CHUNK", 100)
    f = write(tmp_path / "a.csv", "text\n" + "".join(f"row {i}\n" for i in range(1000)))
    with pytest.raises(Cancelled):
        import_file(project, f, progress=lambda done, total: False)
    assert project.count_items()["pool"] == 0


def _peak_import_memory(project: Project, path: Path, rows: int) -> int:
    with open(path, "w", encoding="utf-8") as out:
        out.write("id,text,label\n")
        for i in range(rows):
            out.write(f"r{i},this is message number {i} about some topic {i % 97},"
                      f"{'spam' if i % 3 else 'ham'}\n")
    tracemalloc.start()
    report = import_file(project, path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.rows == rows
    return peak


def test_import_memory_does_not_grow_with_the_file(tmp_path, monkeypatch) -> None:
    """A file three times larger needs no more memory: rows are streamed in chunks.

    Everything is scaled down tenfold to keep it quick under tracemalloc: the files (6,000 and
    18,000 rows), the rows per chunk, the encoding sample and the size above which an import is
    bulk (the big file still is, the small one is not). Relative to the chunks the files are as
    large as unscaled; keeping every chunk alive makes the big file's peak 3x the small one's."""
    from alapp.store import encoding, importer, parsing

    monkeypatch.setattr(parsing, "CHUNK", parsing.CHUNK // 10)
    monkeypatch.setattr(encoding, "SAMPLE_BYTES", encoding.SAMPLE_BYTES // 10)
    monkeypatch.setattr(importer, "BULK_BYTES", importer.BULK_BYTES // 10)
    with Project.create(tmp_path / "a.alapp", ["spam", "ham"]) as small_project:
        small = _peak_import_memory(small_project, tmp_path / "small.csv", 6_000)
    with Project.create(tmp_path / "b.alapp", ["spam", "ham"]) as big_project:
        big = _peak_import_memory(big_project, tmp_path / "big.csv", 18_000)
    assert (tmp_path / "small.csv").stat().st_size < importer.BULK_BYTES
    assert (tmp_path / "big.csv").stat().st_size > importer.BULK_BYTES
    assert big < 1.3 * small, f"peak {big / 1e6:.1f} MB vs {small / 1e6:.1f} MB"


def test_parallel_parser_gives_the_same_project(tmp_path) -> None:
    """The child-process parser (used for big files) stores exactly what the in-process one does,
    and its errors arrive with file and line."""
    content = "id,text,label\n" + "".join(f"r{i},text number {i},{('spam', 'ham')[i % 2]}\n"
                                          for i in range(12_000))
    f = write(tmp_path / "p.csv", content)
    dumps = []
    for parallel in (False, True):
        with Project.create(tmp_path / f"{parallel}.alapp", ["spam", "ham"]) as project:
            report = import_file(project, f, parallel=parallel)
            assert (report.rows, report.labeled) == (12_000, 12_000)
            dumps.append((_dump(project)[:2], project.current_labels()))
    assert dumps[0] == dumps[1]
    bad = write(tmp_path / "bad.csv", content + "r1,again,spam\n")
    with Project.create(tmp_path / "bad.alapp", ["spam", "ham"]) as project, \
            pytest.raises(InputError, match="duplicate id 'r1'") as caught:
        import_file(project, bad, parallel=True)
    assert caught.value.line == 12_002
    unknown = write(tmp_path / "unknown.csv", "text,label\nfine,spam\nbad,eggs\n")
    with Project.create(tmp_path / "u.alapp", ["spam", "ham"]) as project, \
            pytest.raises(InputError, match="unknown label") as caught:
        import_file(project, unknown, parallel=True)
    assert (caught.value.path, caught.value.line) == (str(unknown), 3)
