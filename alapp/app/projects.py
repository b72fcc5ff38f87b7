"""Project-level commands the command line and the start screen run: create, import, export,
statistics. Each opens the file for as long as the command needs it and no longer; commands
that only read open it read-only and never write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alapp.app.writer import on_writer_thread
from alapp.core.errors import AlappError
from alapp.core.featurizer import FeaturizerSpec, PartKind
from alapp.core.location import Location, ServerAddress, project_location
from alapp.core.settings import (
    ProjectSettings,
    SettingWarning,
    check_setting,
    parse_setting,
    setting_names,
)
from alapp.ml import embedders
from alapp.store import backup, demo, export, importer, preview, readers, vectors
from alapp.store.project import MAX_DESCRIPTION, Project

# The types and names the command line and the import wizard show, from their one home.
ImportSpec = importer.ImportSpec
ImportReport = importer.ImportReport
Preview = preview.Preview
preview_file = preview.preview_file
IMPORT_FORMATS = readers.FORMATS
EXPORT_FORMATS = export.EXPORT_FORMATS
DEMO_LABELS = demo.DEMO_LABELS
demo_data_path = demo.demo_data_path
Backup = backup.Backup
check_model_folder = embedders.check_model_folder


def create_project(path: Path, labels: list[str], name: str | None = None,
                   **settings: Any) -> Path:
    on_writer_thread(lambda: Project.create(path, labels, name=name, **settings).close())
    return path


def create_demo(path: Path) -> Path:
    """A fresh demo project: a labeled held-out test set and an unlabeled pool."""
    on_writer_thread(lambda: demo.create_demo_project(path).close())
    return path


def import_into(path: Path, file: Path, spec: importer.ImportSpec,
                progress: Callable[[int, int], bool] | None = None) -> importer.ImportReport:
    with Project.open(path) as project:
        return importer.import_file(project, file, spec, progress=progress, parallel=None)


def import_vectors(path: Path, name: str, matrix: Path, ids: Path | None) -> int:
    """``matrix``: an .npy file (rows aligned by ``ids``), or a folder of vector shards that
    ``alapp embed`` wrote (it names its own ids)."""
    if Path(matrix).is_dir():
        if ids is not None:
            raise AlappError(f"{matrix}: a shard folder names its own ids; leave out --ids")
        from alapp.store.vector_shards import import_shards

        with Project.open(path) as project:
            return import_shards(project, name, Path(matrix))
    with Project.open(path) as project:
        return vectors.import_npy(project, name, matrix, ids)


def export_labels(path: Path, out: Path, fmt: str | None = None,
                  overwrite: bool = False, scheme: str = "bio", annotators: bool = False) -> int:
    """``scheme``: the tag scheme of a span project's CoNLL export (issue 18); ``annotators``:
    each annotator's label beside the final one (issue 19)."""
    with Project.open(path, read_only=True) as project:
        return export.export_labels(project, out, fmt, overwrite=overwrite, scheme=scheme,
                                    annotators=annotators)


def export_model(path: Path, out: Path, overwrite: bool = False) -> dict[str, Any]:
    from alapp.app.export_model import export_model as write_model

    with Project.open(path, read_only=True) as project:
        return write_model(project, out, overwrite=overwrite)


def stats(path: Path) -> dict[str, Any]:
    with Project.open(path, read_only=True) as project:
        return project.stats()


def _file_only(path: Location, what: str) -> Path:
    """A file project's path; a server project (issue 20) has no file-level ``what``."""
    place = project_location(path)
    if isinstance(place, ServerAddress):
        raise AlappError(f"{place}: a server project has no {what}: the server keeps and "
                         "checks its data (pg_dump, its backups); for a snapshot file: "
                         f"alapp copy {place} SNAPSHOT.alapp")
    return place


def check_project(path: Location) -> list[str]:
    """SQLite's integrity and foreign-key checks, read-only: the problems (none: sound)."""
    return backup.check_project(_file_only(path, "file checks"))


def list_backups(path: Location) -> list[backup.Backup]:
    """The project's automatic backups (``<project>.backups/``), newest first."""
    return backup.list_backups(_file_only(path, "backups of alapp's"))


def backup_now(path: Location) -> Path:
    """A backup now, as the one writer (refused while the project is open elsewhere)."""
    with Project.open(_file_only(path, "backups of alapp's"), backup=False) as project:
        return backup.backup_now(project)


def restore_backup(path: Location, source: Path) -> Path | None:
    """Put a backup (a path, or a name ``list_backups`` shows) in place of the project; returns
    where the replaced file was kept."""
    return backup.restore(_file_only(path, "backups of alapp's"), source)


def configure(path: Path, changes: list[str]) -> tuple[ProjectSettings, list[str]]:
    """Apply ``KEY=VALUE`` changes (none: just read) after checking each one's type, range and
    choices and that a model folder is one; returns the settings and warnings about stored
    values an older alapp accepted that now fall back to their defaults."""
    import warnings

    from alapp.al.needs import FROM_GOLD
    from alapp.al.registry import STRATEGIES
    from alapp.al.sequence import SEQUENCE_STRATEGIES

    parsed: dict[str, Any] = {}
    for change in changes:
        key, sep, raw = change.partition("=")
        key = key.strip()
        if not sep or key not in setting_names():
            raise AlappError(f"{change!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(setting_names())}")
        value = parse_setting(key, raw)  # the type: "budget_amount=lots" is refused here
        # the range or the choices; a strategy of the other task kind is refused by the
        # project's own check (issue 18: a span project takes sequence strategies only)
        problem = check_setting(key, value, [*STRATEGIES, *SEQUENCE_STRATEGIES])
        if problem:
            raise AlappError(problem)
        if key == "strategy" and value in STRATEGIES and STRATEGIES[value].all_needs & FROM_GOLD:
            raise AlappError(f"strategy={value!r} reads the true labels of unlabeled items, "
                             "which only `alapp simulate` knows; choose another strategy")
        parsed[key] = value
    folders = [part.value for part in FeaturizerSpec.parse(parsed["featurizer"]).parts
               if part.kind is PartKind.FOLDER] if "featurizer" in parsed else []
    if parsed.get("model_folder"):
        folders.append(parsed["model_folder"])
    for folder in folders:
        check_model_folder(Path(folder))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SettingWarning)
        with Project.open(path, read_only=not parsed) as project:
            settings = project.update_settings(**parsed) if parsed else project.settings()
    stale = list(dict.fromkeys(str(w.message) for w in caught
                               if issubclass(w.category, SettingWarning)))
    for w in caught:
        if not issubclass(w.category, SettingWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return settings, stale


def describe_labels(path: Path, changes: list[list[str]]) -> list[tuple[str, str]]:
    """Set label descriptions (``[name, text]`` pairs, all or none), then every label with
    its description (issue 17)."""
    with Project.open(path, read_only=not changes) as project:
        known = project.labels()
        for name, text in changes:  # check every change before writing any
            if name not in known:
                raise AlappError(f"no label {name!r} in {project_location(path).name}; labels are "
                                 f"{', '.join(known)}")
            if len(" ".join(text.split())) > MAX_DESCRIPTION:
                raise AlappError(f"the description of {name!r} is longer than "
                                 f"{MAX_DESCRIPTION} characters")
        for name, text in changes:
            project.describe_label(name, text)
        descriptions = project.label_descriptions()
        return [(name, descriptions.get(name, "")) for name in known]
