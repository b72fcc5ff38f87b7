"""`alapp simulate` on a labeled file or a project's labeled items: load, split, embed once,
replay every strategy and seed, write JSON and an SVG plot.

A project is only read: its cached embeddings are used, the missing ones are computed in memory
and never saved, so simulating never changes the file an annotator may open next.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from alapp.core.errors import AlappError, ProjectLockedError
from alapp.core.featurizer import FeaturizerSpec, PartKind
from alapp.core.progress import Progress
from alapp.core.settings import parse_setting, setting_names
from alapp.core.types import ItemId, Split
from alapp.loop.embedding import MemoryVectors, ensure_embeddings
from alapp.loop.simulate import SimulationConfig, SimulationProgress, check_config, simulate
from alapp.ml.embedders import make_embedder
from alapp.store.importer import ImportSpec, import_file
from alapp.store.lock import ProjectLock
from alapp.store.project import Project
from alapp.store.stream import meta_values
from alapp.store.vectors import cached_ids, load_vectors

__all__ = ["SimulationConfig", "check_config", "labeled_arrays", "open_to_simulate",
           "parse_settings", "simulate_file", "simulate_project", "stratified_split"]


def parse_settings(changes: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` project settings for every simulated run (``--set``), typed; their
    ranges are checked with the rest of the configuration (``check_config``)."""
    out: dict[str, Any] = {}
    for change in changes:
        key, sep, raw = change.partition("=")
        key = key.strip()
        if not sep or key not in setting_names():
            raise AlappError(f"--set {change!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(setting_names())}")
        out[key] = parse_setting(key, raw)
    return out


def stratified_split(y: np.ndarray, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Test rows drawn per class in proportion, with a seed; the rest is the pool."""
    rng = np.random.default_rng(seed)
    test: list[int] = []
    classes, counts = np.unique(y, return_counts=True)
    share = test_size / len(y)
    for c, n in zip(classes, counts, strict=True):
        rows = rng.permutation(np.flatnonzero(y == c))
        test.extend(rows[: round(n * share)].tolist())
    test_rows = np.array(sorted(test))
    return np.setdiff1d(np.arange(len(y)), test_rows), test_rows


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]


def labeled_arrays(project: Project, featurizer: str,
                   progress: SimulationProgress | None = None) -> Arrays:
    """Embeddings, label indices and splits of every labeled item. Vectors the project has
    cached are read; the rest are computed into memory only (the project may be read-only)."""
    labels = project.labels()
    current = project.current_labels()
    ids = sorted(current)
    if not ids:
        raise AlappError(f"{project.path}: no labeled items to simulate on")
    y = np.array([labels.index(current[i]) for i in ids])
    split_of = project.splits()
    splits = np.array([split_of[i] for i in ids])
    if FeaturizerSpec.parse(featurizer).parts[0].kind is PartKind.VECTORS:
        missing = len(set(ids) - cached_ids(project, featurizer))
        if missing:
            raise AlappError(f"{project.path}: {featurizer} is missing for {missing:,} "
                             "labeled item(s); import their vectors or choose an embedder")
        return load_vectors(project, featurizer, ids), y, splits, labels
    texts = project.texts(ids)
    embedder = make_embedder(featurizer, texts)
    memory = MemoryVectors(dict(zip(ids, texts, strict=True)))
    cached = sorted(cached_ids(project, embedder.name) & set(ids))
    if cached:
        memory.put(embedder.name, cached, load_vectors(project, embedder.name, cached))
    ensure_embeddings(memory, embedder, Progress(lambda stage, fraction: progress(fraction, stage))
                      if progress else None)
    return memory.load(embedder.name, ids), y, splits, labels


def open_to_simulate(path: Path, refuse_locked: bool = True) -> Project:
    """The project read-only, and (``refuse_locked``) only when no other process has it open
    for writing: its labels would keep changing under the replay. The window's own comparison
    passes False: it holds the lock itself and replays a moment's labels."""
    if not refuse_locked:
        return Project.open(path, read_only=True)
    try:
        lock = ProjectLock(path)
        lock.acquire()
        lock.release()
    except ProjectLockedError:
        raise AlappError(f"{path}: open in another alapp process; close it there to simulate "
                         "on its labels") from None
    except OSError:
        pass  # no lock file can be made here (a read-only folder): nobody can write it either
    return Project.open(path, read_only=True)


def simulate_file(path: Path, spec: ImportSpec, cfg: SimulationConfig, featurizer: str,
                  test_file: Path | None, test_size: int, split_seed: int,
                  progress: SimulationProgress | None = None) -> dict[str, Any]:
    check_config(cfg)  # before the import and the embedding, which take a while
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alapp-sim-") as tmp:
        project = Project.create(Path(tmp) / "sim.alapp", ["_"], name="simulation")
        try:
            spec.add_labels = True
            import_file(project, path, spec, parallel=None)
            if test_file is not None:
                test_spec = ImportSpec(**{**spec.__dict__, "split": Split.TEST})
                import_file(project, test_file, test_spec, parallel=None)
            result = simulate_project(project, cfg, featurizer, test_size, split_seed, progress)
        finally:
            project.close()
    result["data"] = {"file": str(path), "test_file": str(test_file) if test_file else None,
                      **result.get("data", {})}
    result["seconds_total"] = round(time.perf_counter() - started, 1)
    return result


def item_seconds(project: Project, column: str, ids: list[ItemId]) -> np.ndarray:
    """Each item's labeling time from its ``column`` metadata: a number of seconds above 0,
    or a one-line error naming the item."""
    seconds = np.empty(len(ids))
    for row, (ext_id, value) in enumerate(meta_values(project, column, ids)):
        try:
            number = (float(value) if isinstance(value, (int, float, str))
                      and not isinstance(value, bool) else None)
        except (TypeError, ValueError):
            number = None
        if number is None or not np.isfinite(number) or number <= 0:
            shown = "missing" if value is None else repr(value)
            raise AlappError(f"item {ext_id}: the cost column {column!r} is {shown}; it must "
                             "be a number of seconds above 0")
        seconds[row] = number
    return seconds


def _refuse_own_encoder(project: Project, featurizer: str) -> None:
    """A replay of a project's labels on an encoder fine-tuned on them (issue 17) would test
    on items its features learned from: refused, naming the base to use instead."""
    from alapp.app.encoder import encoder_info, encoders_folder

    info = encoder_info(featurizer)
    if info is None:
        return
    if Path(featurizer).resolve().parent == encoders_folder(project.path).resolve():
        raise AlappError(f"--featurizer {featurizer}: this encoder was fine-tuned on this "
                         "project's labels, so a replay on it would be tested on items it "
                         f"learned from; simulate with its base, "
                         f"{info.get('base_featurizer') or 'minilm'}")


def simulate_project(project: Project, cfg: SimulationConfig, featurizer: str,
                     test_size: int, split_seed: int,
                     progress: SimulationProgress | None = None) -> dict[str, Any]:
    check_config(cfg)
    if project.multi_label:  # issue 21: sets, through the multi-label round
        from alapp.app.simulate_multilabel import simulate_multilabel_project

        return simulate_multilabel_project(project, cfg, test_size, split_seed, progress)
    _refuse_own_encoder(project, featurizer)
    x, y, splits, labels = labeled_arrays(project, featurizer, progress)
    seconds = (item_seconds(project, cfg.cost_column, sorted(project.current_labels()))
               if cfg.cost_column else None)  # in the rows of ``x``
    test_size = test_size or len(y) // 5
    if (splits == Split.TEST.value).any():
        pool_rows = np.flatnonzero(splits != Split.TEST.value)
        test_rows = np.flatnonzero(splits == Split.TEST.value)
    else:
        if not 0 < test_size < len(y):
            raise AlappError(f"--test-size must be between 1 and {len(y) - 1}")
        pool_rows, test_rows = stratified_split(y, test_size, split_seed)
    # Labels absent from the data (the placeholder of a temporary project) are dropped.
    used = sorted(set(y.tolist()))
    remap = {old: new for new, old in enumerate(used)}
    y = np.array([remap[v] for v in y])
    costs = None if seconds is None else seconds[pool_rows]
    texts = None
    if cfg.classifier == "finetune":  # fine-tuning reads the texts (pairs joined), in row order
        every = project.texts(sorted(project.current_labels()))
        texts = [every[r] for r in (*pool_rows, *test_rows)]
    result = simulate(x[pool_rows], y[pool_rows], x[test_rows], y[test_rows], cfg,
                      costs=costs, progress=progress, texts=texts)
    result["data"] = {"pool": len(pool_rows), "test": len(test_rows),
                      "classes": [labels[i] for i in used], "featurizer": featurizer,
                      "dim": int(x.shape[1])}
    return result
