"""A headless check that an installation works, end to end and offline: write and read a
project, load the bundled models, embed English, Russian and Chinese text, train, select a
batch. Every step is timed; any network attempt is recorded (an audit hook) and fails it.

Run by ``alapp --self-check`` in a packaged build, where no Python is installed to debug with.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLES = ["The invoice was charged twice this month.",
           "Курьер не привёз заказ вовремя.",
           "更新之后应用一直闪退。"]
NETWORK_EVENTS = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                  "urllib.Request", "http.client.connect")


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    network_attempts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and not self.network_attempts

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "network_attempts": self.network_attempts,
                "steps": [s.__dict__ for s in self.steps]}

    def text(self) -> str:
        lines = [f"{'ok ' if s.ok else 'FAIL'}  {s.name:<28} {s.seconds:6.2f} s  {s.detail}"
                 for s in self.steps]
        lines.append(f"{'ok ' if not self.network_attempts else 'FAIL'}  "
                     f"{'no network access':<28}          "
                     f"{len(self.network_attempts)} attempts"
                     + (f": {', '.join(self.network_attempts[:3])}"
                        if self.network_attempts else ""))
        lines.append("self-check passed" if self.ok else "self-check FAILED")
        return "\n".join(lines)


_watching: list[list[str]] = []  # audit hooks cannot be removed: one hook, many listeners
_hooked: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _watching and event in NETWORK_EVENTS:
        for seen in _watching:
            seen.append(f"{event}{args[:2]!r}")


def run_self_check(extra: list[tuple[str, Callable[[Path], str]]] | None = None) -> Report:
    """The steps, in order; ``extra`` adds steps (the window's rendering, from the ui layer)."""
    report = Report()
    if not _hooked:
        sys.addaudithook(_audit)
        _hooked.append(True)
    _watching.append(report.network_attempts)
    try:
        with tempfile.TemporaryDirectory(prefix="alapp-self-check-") as tmp:
            folder = Path(tmp)
            steps: list[tuple[str, Callable[[Path], str]]] = [
                ("write and read a project", _project),
                ("English model (MiniLM)", _minilm),
                ("multilingual model (E5)", _e5),
                ("train and select a batch", _round),
                *(extra or []),
            ]
            for name, step in steps:
                started = time.perf_counter()
                try:
                    detail, ok = step(folder), True
                except Exception as e:  # reported, not raised: the report is the product
                    detail, ok = f"{type(e).__name__}: {e}", False
                    traceback.print_exc(file=sys.stderr)
                report.steps.append(Step(name, ok, round(time.perf_counter() - started, 3),
                                         detail))
    finally:
        _watching.remove(report.network_attempts)
    return report


def _project(folder: Path) -> str:
    from alapp.store.demo import create_demo_project
    from alapp.store.project import Project

    path = folder / "check.alapp"
    with create_demo_project(path) as project:
        item = project.item_ids("pool")[0]  # type: ignore[arg-type]
        project.label_item(item, project.labels()[0], "self-check")
        items = sum(project.count_items().values())
    with Project.open(path, read_only=True) as project:
        if project.current_label(item) is None or not project.integrity_ok():
            raise RuntimeError("the label did not survive reopening the project")
    return f"demo project: {items} items, a label written, reopened, integrity ok"


def _embed_check(embedder: Any) -> str:
    import numpy as np

    vectors = np.asarray(embedder.embed(SAMPLES), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    if vectors.shape[0] != len(SAMPLES) or not np.all(np.isfinite(vectors)) \
            or not np.allclose(norms, 1.0, atol=1e-2):
        raise RuntimeError(f"bad embeddings: shape {vectors.shape}, norms {norms.round(3)}")
    return f"{vectors.shape[1]}-d vectors for EN, RU and ZH text"


def _minilm(folder: Path) -> str:
    from alapp.ml.embedders import make_embedder

    return _embed_check(make_embedder("minilm", SAMPLES, "cpu"))


def _e5(folder: Path) -> str:
    from alapp.ml.embedders import make_embedder

    return _embed_check(make_embedder("e5", SAMPLES, "cpu"))


def _round(folder: Path) -> str:
    from alapp.app.rounds import save_result, snapshot_of
    from alapp.loop.round import RoundRunner
    from alapp.store.demo import create_demo_project, demo_data_path
    from alapp.store.queue import entries

    gold = {r["id"]: r["gold"] for r in map(json.loads,
                                              demo_data_path().read_text("utf-8").splitlines())}
    path = folder / "round.alapp"
    with create_demo_project(path) as project:
        project.update_settings(featurizer="e5")
        for item in project.item_ids("pool")[:40]:  # type: ignore[arg-type]
            project.label_item(item, gold[project.item(item).ext_id], "self-check")
        result = RoundRunner().run(snapshot_of(project))
        save_result(project, result)
        queued = len(entries(project))
    accuracy = result.metrics.get("accuracy")
    if not queued or accuracy is None:
        raise RuntimeError("no batch selected or no test accuracy")
    return (f"trained on {result.n_labeled} labels, test accuracy {accuracy:.2f}, "
            f"batch of {queued} by {result.strategy}")
