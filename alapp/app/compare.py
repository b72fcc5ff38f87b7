"""Which strategy suits my data? Replay the loop on the project's labels, or on a labeled file,
for a few strategies and seeds: what the window's comparison dialog runs in the background."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alapp.app.simulate_file import open_to_simulate, simulate_file, simulate_project
from alapp.core.featurizer import FeaturizerSpec
from alapp.core.progress import Progress
from alapp.core.settings import ProjectSettings
from alapp.loop.simulate import CLASSIFIERS, SimulationConfig
from alapp.store.importer import ImportSpec

__all__ = ["COMPARED", "FILE_BUDGET", "SimulationConfig", "compare_strategies",
           "comparison_config", "embedding_featurizer"]

COMPARED = ["random", "margin", "entropy", "uncertainty-cluster"]
FILE_BUDGET = 300  # labels replayed from a file: enough to see the curves separate


def embedding_featurizer(name: str) -> str:
    """Simulation replays on one set of sentence embeddings; TF-IDF, imported vectors and
    several featurizers joined fall back to auto."""
    parts = FeaturizerSpec.parse(name).parts
    return name if len(parts) == 1 and parts[0].is_embedder else "auto"


def comparison_config(settings: ProjectSettings, budget: int) -> SimulationConfig:
    """Five seeds of the compared strategies, with the project's classifier when a replay can
    train it (fine-tuning cannot)."""
    classifier = settings.classifier if settings.classifier in CLASSIFIERS else "logreg"
    return SimulationConfig(COMPARED, batch=10, budget=budget, seeds=5, classifier=classifier)


def compare_strategies(project_path: Path, labeled_file: Path | None = None,
                       config: SimulationConfig | None = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Read-only: the project is never written (embeddings it lacks stay in memory)."""
    progress = progress or Progress()

    def step(fraction: float, what: str) -> None:
        progress.report(what, fraction)  # raises Cancelled when the dialog closes

    with open_to_simulate(project_path, refuse_locked=False) as project:
        settings = project.settings()
        featurizer = embedding_featurizer(settings.featurizer)
        if labeled_file is None:
            n = len(project.current_labels())
            cfg = config or comparison_config(settings, max(20, int(n * 0.8) // 10 * 10))
            return simulate_project(project, cfg, featurizer, n // 5, 0, step)
    return simulate_file(labeled_file, ImportSpec(), config or comparison_config(
        settings, FILE_BUDGET), featurizer, None, 0, 0, step)
