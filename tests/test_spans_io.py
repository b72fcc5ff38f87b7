"""Import and export of span projects (issue 18): CoNLL in BIO, BIOES and IOB1, span JSONL
(byte for byte), raw text; every bad input refused with file and line, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alapp.cli import main
from alapp.core.errors import InputError
from alapp.core.spans import Span, tokenize
from alapp.core.types import ItemId, Split
from alapp.store.export import export_labels
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from alapp.store.span_readers import read_spans
from alapp.store.spans import span_items, tokens_of
from tests.conftest import write

CONLL_BIO = (
    "EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n. O\n\n"
    "Peter B-PER\nBlackburn I-PER\n😀👍🏽 O\ne\u0301te\u0301 B-LOC\n\n"
    "北 B-LOC\n京 I-LOC\n欢 O\n迎 O\n你 O\n\n"
)


def _project(tmp_path: Path, labels=("PER", "ORG", "LOC", "MISC"), **settings) -> Project:
    return Project.create(tmp_path / "p.alapp", list(labels), task="spans", **settings)


def _surfaces(project: Project) -> list[list[tuple[str, str]]]:
    return [[(s.label, item.text[s.start:s.end]) for s in item.spans or []]
            for item in span_items(project, labeled=None)]


def _nothing_written(project: Project) -> None:
    counts = [project._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("items", "imports", "label_events", "item_tokens", "event_spans")]
    assert counts == [0, 0, 0, 0, 0]


def test_conll_in_bio_reads_and_writes_back_byte_for_byte(tmp_path) -> None:
    data = write(tmp_path / "in.conll", CONLL_BIO)
    with _project(tmp_path) as project:
        report = import_file(project, data, ImportSpec())
        assert (report.format, report.rows, report.labeled) == ("conll", 3, 3)
        assert _surfaces(project) == [[("ORG", "EU"), ("MISC", "German")],
                                      [("PER", "Peter Blackburn"), ("LOC", "e\u0301te\u0301")],
                                      [("LOC", "北 京")]]
        item = project.item(ItemId(2))
        assert item.text == "Peter Blackburn 😀👍🏽 e\u0301te\u0301"  # tokens joined by spaces
        assert tokens_of(project, [ItemId(2)])[0] == [(0, 5), (6, 15), (16, 19), (20, 25)]
        out = tmp_path / "out.conll"
        assert export_labels(project, out) == 3
        assert out.read_bytes() == data.read_bytes()
        export_labels(project, tmp_path / "out.bioes", scheme="bioes")
        export_labels(project, tmp_path / "out.iob1", "conll", scheme="iob1")
    bioes = (tmp_path / "out.bioes").read_text("utf-8").split("\n")
    assert bioes[:9] == ["EU S-ORG", "rejects O", "German S-MISC", "call O", ". O", "",
                         "Peter B-PER", "Blackburn E-PER", "😀👍🏽 O"]
    iob1 = (tmp_path / "out.iob1").read_text("utf-8")
    assert iob1.startswith("EU I-ORG\nrejects O\nGerman I-MISC\n")
    # each export reads back to the same spans in its own scheme
    for name, scheme in (("out.bioes", "bioes"), ("out.iob1", "iob1")):
        path = tmp_path / name
        with open(path, encoding="utf-8", newline="") as stream:
            got = [[(s.label, r.text[s.start:s.end]) for s in r.spans or []]
                   for r in read_spans(path, stream, "conll", scheme, 10**6)]
        assert got[1] == [("PER", "Peter Blackburn"), ("LOC", "e\u0301te\u0301")]


def test_conll_with_four_columns_docstart_tabs_and_crlf(tmp_path) -> None:
    text = ("-DOCSTART- -X- -X- O\r\n\r\n"
            "EU\tNNP\tB-NP\tI-ORG\r\nrejects\tVBZ\tB-VP\tO\r\n\r\n"
            "-DOCSTART- -X- -X- O\r\n"
            "Anna\tNNP\tB-NP\tI-PER\r\nBob\tNNP\tI-NP\tB-PER\r\nParis\tNNP\tI-NP\tI-LOC\r\n")
    data = write(tmp_path / "train.txt", text)  # .txt of token lines: read as CoNLL
    with _project(tmp_path) as project:
        report = import_file(project, data, ImportSpec(scheme="iob1"))
        assert report.format == "conll" and report.rows == 2
        assert _surfaces(project) == [[("ORG", "EU")],
                                      [("PER", "Anna"), ("PER", "Bob"), ("LOC", "Paris")]]
        assert project.item(ItemId(2)).text == "Anna Bob Paris"


def test_jsonl_round_trips_byte_for_byte(tmp_path) -> None:
    texts = [
        "  Anna moved to Zürich (NFD: Zu\u0308rich)\r\n",
        "\u200fשלום\u200f Tel\tAviv 😀 👨\u200d👩\u200d👧 end ",
        "我爱北京天安门",
    ]
    records = []
    for k, text in enumerate(texts):
        tokens = tokenize(text)
        first, last = tokens[1], tokens[3]
        record = {"id": f"r{k}", "text": text}
        if k == 1:  # tokens given by the file, in Prodigy's form
            record["tokens"] = [{"text": text[a:b], "start": a, "end": b, "id": j,
                                 "ws": text[b:b + 1].isspace()} for j, (a, b) in enumerate(tokens)]
        record["spans"] = [{"start": first[0], "end": last[1], "label": "LOC"}]
        record["meta"] = {"source": "test", "n": k}
        records.append(record)
    records.append({"id": "empty", "text": "No entities here.", "spans": []})
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    data = write(tmp_path / "in.jsonl", body)
    with _project(tmp_path) as project:
        report = import_file(project, data, ImportSpec())
        assert (report.format, report.rows, report.labeled) == ("jsonl", 4, 4)
        assert project.item(ItemId(1)).text == texts[0]  # kept exactly, outer spaces too
        assert _surfaces(project)[0] == [("LOC", "moved to Zürich")]
        assert _surfaces(project)[2] == [("LOC", "爱北京")]
        out = tmp_path / "out.jsonl"
        assert export_labels(project, out) == 4
        assert out.read_bytes() == data.read_bytes()


def test_jsonl_without_spans_is_unlabeled_and_raw_text_is_tokenized(tmp_path) -> None:
    data = write(tmp_path / "in.jsonl", '{"text": "Anna in Paris"}\n"Bob in Rome"\n')
    raw = write(tmp_path / "raw.txt", "Путин в Москве\r\n\r\n  Кое-что ещё  \r\n")
    with _project(tmp_path) as project:
        assert import_file(project, data, ImportSpec()).labeled == 0
        report = import_file(project, raw, ImportSpec(split=Split.TEST))
        assert (report.format, report.rows, report.by_split) == ("txt", 2, {"test": 2})
        assert project.item(ItemId(4)).text == "  Кое-что ещё  "
        (tokens,) = tokens_of(project, [ItemId(4)])
        assert [project.item(ItemId(4)).text[a:b] for a, b in tokens] == ["Кое-что", "ещё"]
        assert [i.item_id for i in span_items(project, labeled=False)] == [1, 2, 3, 4]
        project.label_item(ItemId(3), '[[0,5,"PER"],[8,14,"LOC"]]', "ann")
        assert [i.spans for i in span_items(project, Split.TEST)] == [
            [Span(0, 5, "PER"), Span(8, 14, "LOC")]]
        out = tmp_path / "out.conll"
        assert export_labels(project, out) == 1
        assert out.read_text("utf-8") == "Путин B-PER\nв O\nМоскве B-LOC\n\n"


BAD_CONLL = [
    ("Anna B-PER\nin O\nParis B-CITY\n", 3, "entity type 'CITY' is not in the project"),
    ("Anna B-PER\nin O\nParis E-LOC\n", 3, "tag 'E-LOC' is not a BIO tag"),
    ("Anna B-PER\nin O\n\nParis I-LOC\n", 4, "I-LOC without B-LOC"),
    ("Anna B-PER\nin O\nParis NNP B-LOC\n", 3, "3 columns, but line 1 has 2"),
    ("Anna B-PER\nin\n", 2, "1 columns, but line 1 has 2"),
    ("Anna\nin O\n", 1, "a token without a tag"),
    ("Anna B-PER\nin Ok\n", 2, "tag 'Ok' is not a BIO tag"),
]


@pytest.mark.parametrize("body,line,problem", BAD_CONLL)
def test_bad_conll_is_refused_with_its_line_and_nothing_written(tmp_path, body, line,
                                                                 problem) -> None:
    data = write(tmp_path / "bad.conll", body)
    with _project(tmp_path) as project:
        with pytest.raises(InputError) as e:
            import_file(project, data, ImportSpec())
        assert str(e.value).startswith(f"{data}, line {line}: ") and problem in str(e.value)
        _nothing_written(project)


def test_bioes_and_iob1_errors_name_their_lines(tmp_path) -> None:
    data = write(tmp_path / "bad.conll", "Anna B-PER\nSmith O\n")
    with _project(tmp_path) as project:
        with pytest.raises(InputError, match=r"line 2: O before the PER entity begun"):
            import_file(project, data, ImportSpec(scheme="bioes"))
        _nothing_written(project)
        assert import_file(project, data, ImportSpec(scheme="iob1")).labeled == 1


BAD_JSONL = [
    ('{"text": "Anna in Paris", "spans": [{"start": 0, "end": 40, "label": "PER"}]}',
     "out of range"),
    ('{"text": "Anna in Paris", "spans": [{"start": 0, "end": 3, "label": "PER"}]}',
     "does not end at a token boundary"),
    ('{"text": "Anna in Paris", "spans": [{"start": 1, "end": 4, "label": "PER"}]}',
     "does not start at a token boundary"),
    ('{"text": "Anna in Paris", "spans": [{"start": 0, "end": 4, "label": "PER"}, '
     '{"start": 0, "end": 7, "label": "LOC"}]}', "overlap"),
    ('{"text": "Anna in Paris", "spans": [{"start": 0, "end": 4, "label": "CITY"}]}',
     "entity type 'CITY' is not in the project"),
    ('{"text": "Anna in Paris", "spans": [{"start": 0, "end": 4}]}', "\"label\""),
    ('{"text": "Anna in Paris", "tokens": [[0, 4], [3, 7]], "spans": []}', "overlaps"),
    ('{"text": "Anna in Paris", "tokens": [{"text": "Ann", "start": 0, "end": 4}]}',
     "is not the text at (0, 4)"),
    ('{"text": "   ", "spans": []}', "empty text"),
    ('{"spans": []}', "no \"text\""),
    ('{"text": "Bob", "id": "a"}\n{"text": "Anna", "spans": [], "id": "a"}',
     "duplicate id 'a' (first on line 2)"),
]


@pytest.mark.parametrize("body,problem", BAD_JSONL)
def test_bad_jsonl_is_refused_with_its_line_and_nothing_written(tmp_path, body,
                                                                problem) -> None:
    data = write(tmp_path / "bad.jsonl", '{"text": "fine", "spans": []}\n' + body + "\n")
    with _project(tmp_path) as project:
        with pytest.raises(InputError) as e:
            import_file(project, data, ImportSpec())
        line = 3 if "duplicate" in problem else 2
        assert str(e.value).startswith(f"{data}, line {line}: ") and problem in str(e.value)
        _nothing_written(project)


def test_empty_files_are_refused(tmp_path) -> None:
    with _project(tmp_path) as project:
        for name in ("empty.conll", "empty.jsonl", "empty.txt"):
            data = write(tmp_path / name, "\n \n-DOCSTART- -X- O\n" if "conll" in name else "")
            with pytest.raises(InputError, match="no texts found"):
                import_file(project, data, ImportSpec())
        _nothing_written(project)


def test_add_labels_adds_the_files_types(tmp_path) -> None:
    data = write(tmp_path / "in.conll", "Anna B-PER\nin O\nParis B-CITY\n")
    with _project(tmp_path, labels=("PER",)) as project:
        report = import_file(project, data, ImportSpec(add_labels=True))
        assert report.new_labels == ["CITY"] and project.labels() == ["PER", "CITY"]


def test_cli_init_import_export(tmp_path, capsys) -> None:
    project = tmp_path / "p.alapp"
    assert main(["init", str(project), "--task", "spans", "--labels", "PER,ORG,LOC,MISC"]) == 0
    assert "entity types: PER, ORG, LOC, MISC" in capsys.readouterr().out
    data = write(tmp_path / "in.conll", CONLL_BIO)
    assert main(["import", str(project), str(data)]) == 0
    assert "imported 3 items (3 labeled)" in capsys.readouterr().out
    out = tmp_path / "out.conll"
    assert main(["export", str(project), str(out), "--scheme", "bioes"]) == 0
    assert out.read_text("utf-8").startswith("EU S-ORG\n")
    bad = write(tmp_path / "bad.conll", "Anna I-PER\n")
    assert main(["import", str(project), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}, line 1: I-PER without B-PER" in err and "Traceback" not in err
    assert main(["import", str(project), str(bad), "--scheme", "iob1"]) == 0


SHARED = [("conll2003_en/train.txt", "bio", 14_041, 23_499),
          ("conll2003_en/valid.txt", "bio", 3_250, 5_942),
          ("conll2003_en/test.txt", "bio", 3_453, 5_648),
          ("wnut17/wnut17train.conll", "bio", 3_394, 1_975),
          ("wnut17/emerging.dev.conll", "iob1", 1_009, 836),  # one stray I- on line 1674
          ("wnut17/emerging.test.annotated", "bio", 1_287, 1_079),
          ("factrueval2016/dev_bio.txt", "bio", 1_769, 2_420),
          ("factrueval2016/test_bio.txt", "bio", 3_138, 4_582)]


@pytest.mark.parametrize("name,scheme,sentences,entities", SHARED)
def test_the_shared_ner_files_read_whole(shared_data, name, scheme, sentences,
                                         entities) -> None:
    path = shared_data / name
    with open(path, encoding="utf-8", newline="") as stream:
        records = list(read_spans(path, stream, "conll", scheme, 10**6))
    assert len(records) == sentences
    assert sum(len(r.spans or []) for r in records) == entities


def test_a_shared_file_imports_and_exports_back(shared_data, tmp_path) -> None:
    source = shared_data / "factrueval2016" / "dev_bio.txt"
    with _project(tmp_path, labels=("PER", "ORG", "LOC")) as project:
        report = import_file(project, source, ImportSpec())
        assert (report.rows, report.labeled) == (1_769, 1_769)
        out = tmp_path / "out.conll"
        export_labels(project, out)
    with open(source, encoding="utf-8", newline="") as a, open(out, encoding="utf-8") as b:
        original = [r.spans for r in read_spans(source, a, "conll", "bio", 10**6)]
        again = [r.spans for r in read_spans(out, b, "conll", "bio", 10**6)]
    assert again == original
