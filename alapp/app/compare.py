"""Which strategy suits my data? Replay the loop on the project's labels, or on a labeled file,
for a few strategies and seeds: what the window's comparison dialog runs in the background."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alapp.app.encoder import base_featurizer
from alapp.app.plot_svg import learning_curves_svg
from alapp.app.simulate_file import open_to_simulate, simulate_file, simulate_project
from alapp.core.featurizer import FeaturizerSpec, PartKind
from alapp.core.progress import Progress
from alapp.core.settings import ProjectSettings, default_of
from alapp.core.types import Source, Split
from alapp.loop.simulate import CLASSIFIERS, SimulationConfig
from alapp.store import events
from alapp.store.importer import ImportSpec

__all__ = ["COMPARED", "FILE_BUDGET", "Replay", "SimulationConfig", "compare_strategies",
           "comparison_config", "comparison_svg", "describe_replay", "embedding_featurizer"]

COMPARED = ["random", "margin", "entropy", "uncertainty-cluster"]
FILE_BUDGET = 300  # labels replayed from a file: enough to see the curves separate
CARRIED = ("temperature", "freeze_batchnorm", "self_training", "self_training_weight",
           "self_training_quantile", "self_training_cap", "self_training_k",
           "propagation_weight", "propagation_k", "propagation_alpha", "propagation_fade",
           "propagation_max_items")


def embedding_featurizer(name: str, imported_ok: bool = False) -> str:
    """Simulation replays on one set of vectors: a sentence embedder's, or (``imported_ok``:
    a replay of the project's own items, which hold them) the project's imported vectors.
    TF-IDF and several featurizers joined fall back to auto. A fine-tuned encoder (issue 17)
    gives way to its base: it learned from the project's labels, and a replay on it would be
    tested on items its features were trained on."""
    name = base_featurizer(name)
    parts = FeaturizerSpec.parse(name).parts
    if len(parts) == 1 and (parts[0].is_embedder
                            or (imported_ok and parts[0].kind is PartKind.VECTORS)):
        return name
    return "auto"


def comparison_config(settings: ProjectSettings, budget: int) -> SimulationConfig:
    """Five seeds of the compared strategies, with the project's classifier when a replay can
    train it (fine-tuning cannot)."""
    classifier = settings.classifier if settings.classifier in CLASSIFIERS else "logreg"
    # How the project's model scores and trains carries over (not its passive phase: a
    # comparison on a few hundred labels would be all passive), its self-training and
    # propagation blend included (issue 17): the replayed model is the one the project trains.
    carried = {key: getattr(settings, key) for key in CARRIED
               if getattr(settings, key) != default_of(key)}
    return SimulationConfig(COMPARED, batch=10, budget=budget, seeds=5, classifier=classifier,
                            candidate_factor=settings.candidate_factor,
                            diversity_ramp=settings.diversity_ramp, settings=carried)


def compare_strategies(project_path: Path, labeled_file: Path | None = None,
                       config: SimulationConfig | None = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Read-only: the project is never written (embeddings it lacks stay in memory)."""
    progress = progress or Progress()

    def step(fraction: float, what: str) -> None:
        progress.report(what, fraction)  # raises Cancelled when the dialog closes

    with open_to_simulate(project_path, refuse_locked=False) as project:
        settings = project.settings()
        if labeled_file is None:
            # The project's own vectors when it has imported them: the replay then sees what
            # the project's model sees, and loads no sentence embedder.
            featurizer = embedding_featurizer(settings.featurizer, imported_ok=True)
            n = len(project.current_labels())
            cfg = config or comparison_config(settings, max(20, int(n * 0.8) // 10 * 10))
            return simulate_project(project, cfg, featurizer, n // 5, 0, step)
    return simulate_file(labeled_file, ImportSpec(), config or comparison_config(
        settings, FILE_BUDGET), embedding_featurizer(settings.featurizer), None, 0, 0, step)


@dataclass(frozen=True)
class Replay:
    """What a comparison replays, in words, and whether it leans towards one strategy."""

    what: str  # "Replays the loop on the 112 items you have labeled (not the full pool…)"
    bias: str  # why the result may favour the strategy that chose the labels; "" for a file
    biased: bool  # active learning chose some of the replayed labels
    items: int  # labeled items replayed (the project's); 0 for a file
    reference: str  # the dashed line on the chart: a model trained on all replayed items


def describe_replay(project_path: Path, labeled_file: Path | None = None) -> Replay:
    """Say what ``compare_strategies`` replays: a labeled file, or the project's labeled
    items (only those: the strategies choose among them, not among the whole pool), and how
    many of those active learning chose (which biases the replay towards that strategy)."""
    with open_to_simulate(project_path, refuse_locked=False) as project:
        encoder = _encoder_note(project.settings())
        if labeled_file is not None:
            return Replay(f"Replays the loop on {labeled_file.name}: every strategy chooses "
                          f"from its labeled rows, up to {FILE_BUDGET} labels, and is tested "
                          f"on rows held out from it.{encoder}", "", False, 0, "the whole file")
        chosen = events.who_chose(project)
        pool = project.count_items()
        n_test = len(set(project.current_labels()) & set(project.item_ids(Split.TEST)))
    n = sum(chosen.values())
    strategies = sorted({s or "a strategy" for (source, s), k in chosen.items()
                         if source == Source.AL and k})
    by_al = sum(k for (source, _), k in chosen.items() if source == Source.AL)
    total_pool = pool.get("pool", 0) + pool.get("seed", 0)
    tested = (f"and is tested on the {n_test} labeled test items" if n_test
              else "and is tested on a fifth of them, held out")
    what = (f"Replays the loop on the {n:,} items you have labeled, not on the full pool of "
            f"{total_pool:,}: each strategy chooses only among those {n:,}, {tested}."
            f"{encoder}")
    if by_al:
        bias = (f"{by_al:,} of the {n:,} labels were chosen by active learning "
                f"({', '.join(strategies)}), so the replay may favour "
                f"{'that strategy' if len(strategies) == 1 else 'those strategies'}: the "
                "labeled set already holds the items it found informative, and the others "
                "can only choose among them. For an unbiased comparison, use a labeled file "
                "whose items were not chosen by a strategy (a random sample you labeled).")
    else:
        bias = ("None of these labels was chosen by active learning (random, test-set or "
                "imported labels), so the replay does not lean towards one strategy.")
    return Replay(what, bias, bool(by_al), n, f"all {n:,} labeled items")


def _encoder_note(settings: ProjectSettings) -> str:
    """Issue 17: what the replay's features are when the project fine-tunes its encoder."""
    base = base_featurizer(settings.featurizer)
    if base == settings.featurizer and not settings.contrastive_encoder:
        return ""
    return (f" Its features come from the base encoder ({Path(base).name}), not one "
            "fine-tuned on your labels, and fine-tuning is not replayed (minutes each time).")


def comparison_svg(result: dict[str, Any], title: str, replay: Replay) -> str:
    """The comparison's learning curves; the dashed reference line is named for what it is
    (on the project's labels: a model trained on all labeled items, not on the full pool)."""
    svg = learning_curves_svg(result, title)
    return svg.replace(">full pool ", f">{replay.reference} ", 1)
