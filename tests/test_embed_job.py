"""alapp embed without Ray (the in-process loop): shards, manifest, resuming, refusals; and
alapp import-vectors from a shard folder. The Ray engine: tests/test_cluster_embed.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alapp.app.embed_job import EmbedOptions, embed_file
from alapp.cli import main
from alapp.core.errors import AlappError, InputError
from alapp.store import vector_shards
from alapp.store.project import Project
from tests.conftest import write

pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
PLAIN = EmbedOptions(shard_rows=40, use_ray=False)


def rows(n: int) -> list[dict[str, str]]:
    words = ["hello", "world", "abc", "de", "fgh", "ij", "klm"]
    return [{"id": f"r{i}", "text": " ".join(words[(i * k) % 7] for k in range(1, 2 + i % 9))}
            for i in range(n)]


def jsonl(path: Path, records: list[dict[str, str]]) -> Path:
    return write(path, "".join(json.dumps(r) + "\n" for r in records))


def shard_vectors(folder: Path) -> tuple[list[str], np.ndarray]:
    manifest = vector_shards.read_manifest(folder)
    assert manifest is not None
    ids: list[str] = []
    parts = []
    for shard_ids, vectors in vector_shards.finished_shards(folder, manifest):
        ids += shard_ids
        parts.append(vectors)
    return ids, np.concatenate(parts)


def test_shards_manifest_and_the_app_featurizer(tmp_path, tiny_bert) -> None:
    from alapp.ml.embedders import HFEmbedder, folder_fingerprint

    data = rows(100)
    report = embed_file(jsonl(tmp_path / "in.jsonl", data), tiny_bert, tmp_path / "out", PLAIN)
    assert (report.rows, report.shards, report.dimension) == (100, 3, 32)
    assert report.computed == [0, 1, 2] and report.skipped == []
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["manifest.json", "part-00000.parquet", "part-00001.parquet",
                     "part-00002.parquet"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text("utf-8"))
    assert manifest["model"]["fingerprint"] == folder_fingerprint(tiny_bert)
    assert manifest["input"]["rows"] == 100 and manifest["complete"] is True
    assert [(s["start"], s["stop"], s["rows"]) for s in manifest["shards"]] == \
        [(0, 40, 40), (40, 80, 40), (80, 100, 20)]
    ids, vectors = shard_vectors(tmp_path / "out")
    assert ids == [r["id"] for r in data]
    expected = HFEmbedder(tiny_bert).embed([r["text"] for r in data])
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    import pyarrow.parquet as pq

    schema = pq.read_schema(tmp_path / "out" / "part-00000.parquet")
    assert str(schema.field("id").type) == "string"
    assert str(schema.field("vector").type) == "fixed_size_list<element: float>[32]"


def test_rerun_skips_verified_shards_and_redoes_damaged_ones(tmp_path, tiny_bert) -> None:
    data = jsonl(tmp_path / "in.jsonl", rows(100))
    out = tmp_path / "out"
    embed_file(data, tiny_bert, out, PLAIN)
    _, before = shard_vectors(out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    again = embed_file(data, tiny_bert, out, PLAIN)
    assert again.computed == [] and again.skipped == [0, 1, 2]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")} == mtimes
    (out / "part-00000.parquet").unlink()
    damaged = bytearray((out / "part-00002.parquet").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (out / "part-00002.parquet").write_bytes(bytes(damaged))
    (out / ".part-00001.parquet.0badc0de.tmp").write_bytes(b"half")  # a killed run's leftover
    redo = embed_file(data, tiny_bert, out, PLAIN)
    assert redo.computed == [0, 2] and redo.skipped == [1]
    assert (out / "part-00001.parquet").stat().st_mtime_ns == mtimes["part-00001.parquet"]
    assert not (out / ".part-00001.parquet.0badc0de.tmp").exists()
    _, after = shard_vectors(out)
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_another_job_or_a_foreign_folder_is_refused(tmp_path, tiny_bert) -> None:
    data = jsonl(tmp_path / "in.jsonl", rows(100))
    out = tmp_path / "out"
    embed_file(data, tiny_bert, out, PLAIN)
    manifest = (out / "manifest.json").read_bytes()
    other_model = tmp_path / "other-model"
    shutil.copytree(tiny_bert, other_model)
    config = json.loads((other_model / "config.json").read_text("utf-8"))
    config["layer_norm_eps"] = 1e-6
    (other_model / "config.json").write_text(json.dumps(config), "utf-8")
    with pytest.raises(AlappError, match="shards of another model folder"):
        embed_file(data, other_model, out, PLAIN)
    changed = jsonl(tmp_path / "changed.jsonl", rows(101))
    with pytest.raises(AlappError, match="shards of another input file"):
        embed_file(changed, tiny_bert, out, PLAIN)
    with pytest.raises(AlappError, match="--shard-rows 40"):
        embed_file(data, tiny_bert, out, EmbedOptions(shard_rows=50, use_ray=False))
    assert (out / "manifest.json").read_bytes() == manifest  # nothing touched
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", "utf-8")
    with pytest.raises(AlappError, match="not empty and holds no alapp manifest"):
        embed_file(data, tiny_bert, foreign, PLAIN)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(("content", "suffix", "where", "problem"), [
    ('{"id": "a", "text": "ok"}\n{"id": "b", "text": "  "}\n', ".jsonl", "line 2",
     "empty text"),
    ('{"id": "a", "text": "ok"}\n{"id": "a", "text": "again"}\n', ".jsonl", "line 2",
     "the id 'a' appears twice (first on line 1)"),
    ('{"id": "a", "text": "ok"}\n{"text": "no id"}\n', ".jsonl", "line 2", "no 'id' field"),
    ("id,text\n1,fine\n2,\"unterminated\n", ".csv", "line 3", "unexpected end of data"),
    ("id,body\n1,fine\n", ".csv", "line 2", "no 'text' field (--text-field"),
])
def test_bad_input_is_one_line_naming_file_and_line(tmp_path, tiny_bert, capsys, content,
                                                    suffix, where, problem) -> None:
    path = write(tmp_path / f"in{suffix}", content)
    out = tmp_path / "out"
    assert main(["embed", str(path), "--model", str(tiny_bert), "--out", str(out),
                 "--no-ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"alapp: error: {path}, {where}: ") and problem in err, err
    assert "\n" not in err
    assert not out.exists()  # refused before anything was written


def test_parquet_input_and_its_bad_rows(tmp_path, tiny_bert) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "in.parquet"
    pq.write_table(pa.table({"doc": [1, 2, 3], "body": ["a b", " c d ", "e"]}), good)
    report = embed_file(good, tiny_bert, tmp_path / "out",
                        EmbedOptions(use_ray=False, id_field="doc", text_field="body"))
    ids, _ = shard_vectors(tmp_path / "out")
    assert report.rows == 3 and ids == ["1", "2", "3"]  # ids as the import stores them
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["x", "y", "z"], "text": ["fine", None, "ok"]}), bad)
    with pytest.raises(InputError, match=r"bad\.parquet, line 2: no 'text' field"):
        embed_file(bad, tiny_bert, tmp_path / "out2", PLAIN)
    with pytest.raises(InputError, match="no column 'body'"):
        embed_file(bad, tiny_bert, tmp_path / "out3", EmbedOptions(text_field="body"))


def project_with(tmp_path: Path, records: list[dict[str, str]], name: str = "p.alapp") -> Path:
    path = tmp_path / name
    assert main(["init", str(path), "--labels", "a,b"]) == 0
    data = jsonl(tmp_path / f"{name}.jsonl", records)
    assert main(["import", str(path), str(data)]) == 0
    return path


def embeddings_of(path: Path) -> list[tuple[int, str, bytes]]:
    with Project.open(path, read_only=True) as p:
        return sorted(p._conn.execute("SELECT item_id, featurizer, vector FROM embeddings"))


def test_import_vectors_from_a_shard_folder(tmp_path, tiny_bert, capsys) -> None:
    data = rows(100)
    out = tmp_path / "out"
    embed_file(jsonl(tmp_path / "in.jsonl", data), tiny_bert, out, PLAIN)
    project = project_with(tmp_path, list(reversed(data)))  # item order differs from the file
    capsys.readouterr()
    assert main(["import-vectors", str(project), "pool", str(out)]) == 0
    assert "stored 100 vectors as vectors:pool" in capsys.readouterr().out
    _, vectors = shard_vectors(out)
    with Project.open(project, read_only=True) as p:
        known = dict(p._conn.execute("SELECT ext_id, id FROM items"))
        from alapp.store.vectors import load_vectors

        stored = load_vectors(p, "vectors:pool", [known[r["id"]] for r in data])
        from alapp.store.vector_cache import vector_version

        assert vector_version(p._conn, "vectors:pool") == 1  # a vector cache of them is stale
    np.testing.assert_allclose(stored, vectors, atol=2e-3)  # float16 in the project


def test_import_vectors_refusals_leave_the_project_unchanged(tmp_path, tiny_bert,
                                                             capsys) -> None:
    data = rows(100)
    source = jsonl(tmp_path / "in.jsonl", data)
    out = tmp_path / "out"
    embed_file(source, tiny_bert, out, PLAIN)
    project = project_with(tmp_path, data)
    before = embeddings_of(project)

    def refused(folder: Path, message: str, target: Path = project) -> None:
        capsys.readouterr()
        assert main(["import-vectors", str(target), "pool", str(folder)]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert embeddings_of(target) == (before if target == project else [])

    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    blob = bytearray((tampered / "part-00001.parquet").read_bytes())
    blob[-40] ^= 1
    (tampered / "part-00001.parquet").write_bytes(bytes(blob))
    refused(tampered, "part-00001.parquet: its checksum does not match the manifest")

    smaller = project_with(tmp_path, data[:90], "smaller.alapp")
    refused(out, "10 ids in the shards are not items of the project (e.g. 'r90')", smaller)
    larger = project_with(tmp_path, [*data, {"id": "extra", "text": "one more"}],
                          "larger.alapp")
    refused(out, "1 items of the project have no vector (e.g. 'extra')", larger)

    # a manifest from a run of another model, beside these shards
    other_model = tmp_path / "other-model"
    shutil.copytree(tiny_bert, other_model)
    config = json.loads((other_model / "config.json").read_text("utf-8"))
    config["layer_norm_eps"] = 1e-6
    (other_model / "config.json").write_text(json.dumps(config), "utf-8")
    other = tmp_path / "other"
    embed_file(source, other_model, other, PLAIN)
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    shutil.copy(other / "manifest.json", mixed / "manifest.json")
    refused(mixed, "its checksum does not match the manifest")

    unfinished = tmp_path / "unfinished"
    shutil.copytree(out, unfinished)
    manifest = json.loads((unfinished / "manifest.json").read_text("utf-8"))
    manifest["shards"][2]["sha256"] = None
    manifest["complete"] = False
    (unfinished / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    refused(unfinished, "1 of 3 shards are not finished")

    # the same name already holds vectors of another dimension
    assert main(["import-vectors", str(project), "pool", str(out)]) == 0
    before = embeddings_of(project)
    wide = tmp_path / "wide.npy"
    np.save(wide, np.ones((100, 8), dtype=np.float32))
    assert main(["import-vectors", str(project), "wide", str(wide)]) == 0
    before = embeddings_of(project)
    capsys.readouterr()
    assert main(["import-vectors", str(project), "wide", str(out)]) == 2
    assert "32-d vectors, but the project's vectors:wide holds 8-d ones" in \
        capsys.readouterr().err
    assert embeddings_of(project) == before


def test_the_command_line_starts_without_ray_or_pyarrow() -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import alapp.cli"],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
              if line.startswith("import time:")}
    assert "alapp" in loaded
    assert not loaded & {"ray", "pyarrow", "pandas", "torch", "transformers"}
