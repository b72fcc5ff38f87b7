"""``alapp embed``: a large file of texts to a folder of vector shards, resumably.

The rows are cut by position into shards of ``shard_rows``; each finished shard is written
atomically beside a manifest (store/vector_shards.py) that records the model, the input and
each shard's checksum. A rerun with the same input, model and shard size skips every shard
whose file is in place and hashes to its checksum, and computes the rest (missing, damaged,
never finished): a driver that died costs only the shards it had not written. A folder that
holds anything else (another model's or another input's shards, files alapp did not write) is
refused: a job never overwrites what it did not create.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError
from alapp.ml import cluster_embed, embedders
from alapp.store import embed_input, vector_shards

DEFAULT_SHARD_ROWS = 10_000


@dataclass
class EmbedOptions:
    shard_rows: int = DEFAULT_SHARD_ROWS
    batch_size: int = 64
    max_length: int = 256
    id_field: str = "id"
    text_field: str = "text"
    cluster: str | None = None  # ray://host:port or auto; None: this machine
    use_ray: bool | None = None  # None: Ray's local mode if Ray is installed, else in-process
    workers: int | None = None  # Ray actors (default: every GPU, else every CPU)
    cpus: int | None = None  # Ray's local mode: cores to use (default: all)
    device: str = "auto"


@dataclass
class ShardDone:
    index: int
    rows: int
    finished: int  # shards finished now, of ``total``
    total: int
    rows_done: int  # rows computed in this run so far
    seconds: float  # since this run started computing


@dataclass
class EmbedReport:
    out: Path
    rows: int
    shards: int
    dimension: int
    engine: str
    computed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    seconds: float = 0.0


def weights_sha256(folder: Path) -> str:
    """The model's weights and config, hashed (folder_fingerprint only looks at sizes)."""
    digest = hashlib.sha256()
    for path in [*sorted(folder.glob("*.safetensors")), folder / "config.json"]:
        digest.update(path.name.encode())
        digest.update(embed_input.file_sha256(path).encode())
    return digest.hexdigest()


def _plan(facts: embed_input.InputFacts, model: dict[str, Any], options: EmbedOptions
          ) -> dict[str, Any]:
    shards = [{"file": vector_shards.shard_file(i), "start": start,
               "stop": min(start + options.shard_rows, facts.rows),
               "rows": min(options.shard_rows, facts.rows - start), "sha256": None}
              for i, start in enumerate(range(0, facts.rows, options.shard_rows))]
    return {
        "format": vector_shards.FORMAT, "version": vector_shards.VERSION,
        "model": model, "dimension": None,
        "input": {"file": facts.path, "size": facts.size, "sha256": facts.sha256,
                  "rows": facts.rows, "format": facts.format,
                  "id_field": options.id_field, "text_field": options.text_field},
        "shard_rows": options.shard_rows, "rows": facts.rows, "shards": shards,
        "finished": 0, "complete": False}


def _same_job(old: dict[str, Any], new: dict[str, Any], out: Path) -> None:
    """Refuse to continue another job's folder, saying what differs."""
    keys = {"model": ("fingerprint", "weights_sha256", "max_length"),
            "input": ("size", "sha256", "id_field", "text_field")}
    for part, names in keys.items():
        before, now = old.get(part) or {}, new[part]
        for name in names:
            if before.get(name) != now[name]:
                what = {"model": "model folder", "input": "input file"}[part]
                raise AlappError(
                    f"{out} holds shards of another {what} ({part} {name} "
                    f"{before.get(name)!r}, now {now[name]!r}); choose an empty folder, or "
                    f"rerun with the {what} it was made from")
    if old.get("shard_rows") != new["shard_rows"]:
        raise AlappError(f"{out} was cut into shards of {old.get('shard_rows')} rows; rerun with "
                         f"--shard-rows {old.get('shard_rows')} or choose an empty folder")


def _folder_manifest(out: Path, plan: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The manifest to continue and whether the folder is new: the folder's own when it is
    this job's, else ``plan`` for a new or empty folder. Reads only."""
    if out.exists() and not out.is_dir():
        raise AlappError(f"{out}: not a folder")
    old = vector_shards.read_manifest(out) if out.is_dir() else None
    if old is None:
        if out.is_dir():
            others = sorted(p.name for p in out.iterdir() if not vector_shards.is_temporary(p.name))
            if others:
                raise AlappError(f"{out} is not empty and holds no alapp manifest ({others[0]}"
                                 f"{f' and {len(others) - 1} more' if len(others) > 1 else ''});"
                                 " alapp embed writes only into a new or empty folder")
        return plan, True
    _same_job(old, plan, out)
    if [(s["start"], s["stop"]) for s in old["shards"]] != \
            [(s["start"], s["stop"]) for s in plan["shards"]]:
        raise AlappError(f"{out}/manifest.json: its shard ranges do not match the input")
    old["model"]["folder"] = plan["model"]["folder"]  # the same files, perhaps moved
    old["input"]["file"] = plan["input"]["file"]
    return old, False


def _input_facts(path: Path, out: Path, options: EmbedOptions) -> embed_input.InputFacts:
    """The input checked row by row, or, when ``out`` was made from these very bytes (the
    same size and SHA-256) and fields, the facts its manifest recorded then."""
    try:
        old = vector_shards.read_manifest(out) if out.is_dir() else None
    except AlappError:
        old = None  # _folder_manifest says what is wrong with it
    before = (old or {}).get("input") or {}
    fmt = embed_input.input_format(path)
    if (before.get("size") == path.stat().st_size and type(before.get("rows")) is int
            and before.get("id_field") == options.id_field
            and before.get("text_field") == options.text_field
            and before.get("sha256") == embed_input.file_sha256(path)):
        return embed_input.InputFacts(str(path.resolve()), before["size"], before["sha256"],
                                      before["rows"], fmt)
    return embed_input.scan(path, options.id_field, options.text_field)


def _clean_temporaries(out: Path) -> None:
    for path in out.iterdir():
        if vector_shards.is_temporary(path.name):
            path.unlink(missing_ok=True)  # a killed run's half-written file, ours by its name


def embed_file(path: Path, model_folder: Path, out: Path, options: EmbedOptions | None = None,
               progress: Callable[[ShardDone], None] | None = None) -> EmbedReport:
    """Embed the texts of ``path`` into shards in ``out`` (see the module's docstring)."""
    options = options or EmbedOptions()
    if options.shard_rows < 1 or options.batch_size < 1 or options.max_length < 2:
        raise AlappError("--shard-rows and --batch-size must be at least 1, --max-length 2")
    use_ray = options.use_ray
    if options.cluster and use_ray is False:
        raise AlappError("--cluster runs on Ray; leave out --no-ray")
    if use_ray is None:
        use_ray = bool(options.cluster) or cluster_embed.ray_available()
    if use_ray and not cluster_embed.ray_available():
        raise AlappError("Ray is not installed: pip install 'alapp[cluster]', or use --no-ray")
    embed_input._pyarrow_parquet()  # the shards are Parquet: say so before reading the input
    model_folder = Path(model_folder).resolve()
    embedders.check_model_folder(model_folder)
    fingerprint = embedders.folder_fingerprint(model_folder)
    model = {"folder": str(model_folder), "fingerprint": fingerprint,
             "weights_sha256": weights_sha256(model_folder),
             "name": f"hf:{model_folder.name}:{fingerprint}",
             "max_length": options.max_length}
    out = Path(out)
    facts = _input_facts(Path(path), out, options)
    manifest, new = _folder_manifest(out, _plan(facts, model, options))
    entries = manifest["shards"]
    skipped = [] if new else [i for i, e in enumerate(entries)
                              if vector_shards.shard_problem(out, e) is None]
    todo = [i for i in range(len(entries)) if i not in set(skipped)]
    engine = ("in-process" if not use_ray else
              f"Ray cluster {options.cluster}" if options.cluster else "Ray local mode")
    report = EmbedReport(out, facts.rows, len(entries), manifest.get("dimension") or 0, engine,
                         skipped=skipped)
    if not todo:
        return report
    # Ray first: a cluster that cannot be reached leaves no folder behind
    started = use_ray and cluster_embed.start_ray(options.cluster, options.cpus)
    try:
        if new:
            try:
                out.mkdir(exist_ok=True)
            except OSError as e:
                raise AlappError(f"{out}: cannot create the folder ({e.strerror})") from None
        _clean_temporaries(out)
        for i in todo:
            entries[i]["sha256"] = None
        manifest["finished"] = len(skipped)
        manifest["complete"] = False
        vector_shards.write_manifest(out, manifest)
        _run(Path(path), out, manifest, todo, model_folder, fingerprint, options, use_ray,
             report, progress)
    finally:
        if started:
            cluster_embed.stop_ray()
    return report


def _run(path: Path, out: Path, manifest: dict[str, Any], todo: list[int], model_folder: Path,
         fingerprint: str, options: EmbedOptions, use_ray: bool, report: EmbedReport,
         progress: Callable[[ShardDone], None] | None) -> None:
    entries = manifest["shards"]
    spec = cluster_embed.ModelSpec(str(model_folder), fingerprint, options.batch_size,
                                   options.max_length, options.device)
    ids_of: dict[int, list[str]] = {}

    def pending() -> Iterator[cluster_embed.Shard]:
        wanted = set(todo)
        for index, chunk in enumerate(embed_input.read_chunks(path, options.id_field,
                                                              options.text_field,
                                                              options.shard_rows)):
            if index in wanted:
                ids_of[index] = chunk.ids
                yield index, chunk.texts

    results = (cluster_embed.embed_on_ray(spec, pending(), options.cluster, options.workers)
               if use_ray
               else cluster_embed.embed_in_process(spec, pending()))
    started = time.perf_counter()
    rows_done = 0
    for index, vectors in results:
        ids = ids_of.pop(index)
        if manifest.get("dimension") is None:
            manifest["dimension"] = int(vectors.shape[1])
        elif vectors.shape[1] != manifest["dimension"]:
            raise AlappError(f"the model gave {vectors.shape[1]}-d vectors; {out} holds "
                             f"{manifest['dimension']}-d ones")
        entries[index]["sha256"] = vector_shards.write_shard(out, index, ids, vectors)
        manifest["finished"] += 1
        manifest["complete"] = manifest["finished"] == len(entries)
        vector_shards.write_manifest(out, manifest)
        rows_done += len(ids)
        report.computed.append(index)
        if progress:
            progress(ShardDone(index, len(ids), manifest["finished"], len(entries), rows_done,
                               time.perf_counter() - started))
    report.seconds = time.perf_counter() - started
    report.dimension = manifest["dimension"]
    if not manifest["complete"]:
        raise AlappError(f"{out}: the job ended with {len(entries) - manifest['finished']} "
                         "shards unfinished; rerun the same command to finish them")
