"""The built-in demo project: 300 support messages in English, Russian and Chinese."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project

DEMO_LABELS = ["billing", "delivery", "technical", "account", "praise"]


def demo_data_path() -> Path:
    return Path(str(resources.files("alapp") / "data" / "demo.jsonl"))


def create_demo_project(path: str | Path) -> Project:
    """A fresh demo project: a labeled held-out test set of 60 items and an unlabeled pool."""
    project = Project.create(path, DEMO_LABELS, name="Support messages (demo)", batch_size=10)
    spec = ImportSpec(format="jsonl", split_column="split", meta=["lang"])
    import_file(project, demo_data_path(), spec)
    return project
