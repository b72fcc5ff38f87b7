"""What a team lead asks of a project (issue 19): how the annotators agree (the team report),
what needs a reviewer (the review queue: ties, disagreements, flagged items and labels the
model suspects), and the reviewer's decision (adjudication, through the writer thread).

Every figure is computed here from the store's standing votes (``store/team.py``) with the
statistics of ``al/agreement.py``, ``al/span_agreement.py``, ``al/noisy.py`` and
``al/consensus.py``; the window and the command line only show them. How each is computed:
``docs/teams.md`` and ``docs/agreement.md``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alapp.al import agreement as agr
from alapp.al.consensus import annotator_reliability
from alapp.al.noisy import find_label_issues
from alapp.al.span_agreement import pair_counts, span_agreement
from alapp.core.errors import AlappError
from alapp.core.progress import Progress
from alapp.core.spans import Span, decode_spans
from alapp.core.types import ItemId
from alapp.store import team
from alapp.store.project import Project

MIN_SHARED = 5  # items two annotators (or an annotator and the reviewer) share for a kappa
BOOT = 1000  # bootstrap resamples behind each interval
FOLDS = 5  # out-of-fold predictions for the label check
NOT_ENOUGH = "not enough overlap yet"

# Why an item is in the review queue, in the queue's order.
TIE = "tie"  # the annotators disagree and the rule cannot decide: no training label
DISAGREEMENT = "disagreement"  # decided by the rule, against someone's vote
FLAGGED = "flagged"  # someone asked for a second look
SUSPECT = "suspect"  # the model confidently disagrees with the training label
REASONS = (TIE, DISAGREEMENT, FLAGGED, SUSPECT)
ADJUDICATED = "adjudicated"  # decided by a reviewer: listed only when asked (to withdraw)


# -- the team report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    """One statistic with its 95% interval (bootstrap over items); None where undefined."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n_items: int = 0

    @classmethod
    def of(cls, estimate: agr.Estimate) -> Figure:
        return cls(_num(estimate.value), _num(estimate.low), _num(estimate.high),
                   estimate.n_items)

    def text(self, digits: int = 2) -> str:
        if self.value is None:
            return "—"
        interval = (f" ({self.low:.{digits}f} to {self.high:.{digits}f})"
                    if self.low is not None and self.high is not None else "")
        return f"{self.value:.{digits}f}{interval}"


def _num(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class Statistic:
    """A statistic over the team, overall and per label, on ``items`` items; ``note`` says
    which items it uses, or why it is missing (``overall.value`` None)."""

    name: str
    overall: Figure
    per_label: dict[str, Figure]
    note: str = ""


@dataclass(frozen=True)
class AnnotatorStats:
    name: str
    items: int  # items with their standing label
    shared: int  # of those, items someone else labeled too
    timed_labels: int
    labels_per_hour: float | None
    median_seconds: float | None
    with_others: float | None  # mean pairwise kappa (span projects: entity F1)
    with_others_items: int  # shared items behind that mean, over its pairs
    with_others_pairs: int
    adjudicated_items: int  # their items a reviewer decided
    adjudicated_share: float | None  # share of those where they gave the reviewer's label
    adjudicated_agreement: float | None  # kappa with the reviewer (spans: F1), enough items
    reliability: float | None  # Dawid-Skene accuracy (al/consensus.py)
    reliability_items: int


@dataclass(frozen=True)
class PairStats:
    first: str
    second: str
    shared: int
    value: Figure  # Cohen's kappa (span projects: entity F1, no interval)


@dataclass
class TeamReport:
    kind: str  # classification | multi-label | spans
    measure: str  # "Cohen's kappa" | "entity F1"
    rule: str  # the training-label rule
    annotators: list[AnnotatorStats]
    pairs: list[PairStats]
    items_labeled: int  # items with at least one person's label
    items_single: int  # labeled by one annotator only: counted, not used for agreement
    items_overlap: int  # labeled by two or more
    disputed: int  # ties: no training label until a reviewer decides
    adjudicated: int
    fleiss: Statistic | None = None  # classification
    alpha: Statistic | None = None  # classification
    span_f1: Statistic | None = None  # spans
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _people(project: Project) -> dict[ItemId, dict[str, str]]:
    """Each item's standing labels by annotator, without the import's pseudo-annotator."""
    imported = team.import_annotators(project)
    out: dict[ItemId, dict[str, str]] = {}
    for item, votes in team.item_votes(project).items():
        given = {v.annotator: v.label for v in votes if v.annotator not in imported}
        if given:
            out[item] = given
    return out


def team_report(project: Project, boot: int = BOOT, seed: int = 0) -> TeamReport:
    """Everything the team view shows (read-only; a project open read-only is enough)."""
    settings = project.settings()
    votes = _people(project)
    decided = {i: a.label for i, a in team.adjudications(project).items()}
    names = sorted({a for given in votes.values() for a in given})
    kind = project_kind(project)
    overlap = [i for i, given in votes.items() if len(given) >= 2]
    trained = team.training_labels(project)
    report = TeamReport(
        kind, "entity F1" if kind == "spans" else "Cohen's kappa",
        settings.training_label_rule, [], [], len(votes), len(votes) - len(overlap),
        len(overlap), sum(1 for t in trained.values() if t.label is None), len(decided))
    if kind == "spans":
        pair_values, with_reviewer = _span_figures(votes, decided, report)
    else:
        pair_values, with_reviewer = _categorical_figures(project, votes, decided, report,
                                                          boot, seed)
    if len(overlap) < 2:
        report.notes.append(f"{NOT_ENOUGH}: {len(overlap)} item(s) labeled by two or more "
                            "annotators; agreement needs overlapping items")
    reliability = annotator_reliability(
        {int(i): dict(given) for i, given in votes.items()},
        {int(i): decided[i] for i in decided if i in votes})
    timed = team.timed_labels(project)
    for name in names:
        mine = [i for i, given in votes.items() if name in given]
        pairs = [(n, v) for (a, b), (n, v) in pair_values.items() if name in (a, b)]
        defined = [v for _, v in pairs if v is not None]
        ms = timed.get(name, [])
        reviewed = [i for i in mine if i in decided]
        agree = sum(1 for i in reviewed if votes[i][name] == decided[i])
        rel = reliability.get(name)
        report.annotators.append(AnnotatorStats(
            name=name, items=len(mine), shared=sum(1 for i in mine if len(votes[i]) >= 2),
            timed_labels=len(ms),
            labels_per_hour=len(ms) / (sum(ms) / 3_600_000) if ms else None,
            median_seconds=statistics.median(ms) / 1000 if ms else None,
            with_others=sum(defined) / len(defined) if defined else None,
            with_others_items=sum(n for n, v in pairs if v is not None),
            with_others_pairs=len(defined),
            adjudicated_items=len(reviewed),
            adjudicated_share=agree / len(reviewed) if reviewed else None,
            adjudicated_agreement=with_reviewer.get(name),
            reliability=rel.score if rel is not None and rel.items else None,
            reliability_items=rel.items if rel is not None else 0))
    return report


def _categorical_figures(project: Project, votes: Mapping[ItemId, Mapping[str, str]],
                         decided: Mapping[ItemId, str], report: TeamReport, boot: int,
                         seed: int) -> tuple[dict[tuple[str, str], tuple[int, float | None]],
                                         dict[str, float | None]]:
    """Fleiss, Krippendorff and the pairs' kappas into ``report``; returns each pair's
    (shared items, kappa) and each annotator's kappa with the reviewer."""
    labels = project.labels()
    if report.kind == "multi-label":  # a decision is a set: agreement on the whole set
        labels = sorted({v for given in votes.values() for v in given.values()}
                        | set(decided.values()))
        report.notes.append("multi-label: two decisions agree when they are the same set "
                            "of labels; each set is one category")
    triples = [(int(i), a, v) for i, given in votes.items() for a, v in given.items()]
    if not triples:
        report.notes.append("no labels yet")
        return {}, {}
    ratings = agr.ratings_from_triples(triples, labels)
    counts = ratings.counts().sum(axis=1)
    report.alpha = _statistic("Krippendorff's alpha (nominal)",
                              agr.krippendorff_alpha(ratings, boot=boot, seed=seed)
                              if (counts >= 2).any() else None,
                              f"every item with 2 or more labels ({int((counts >= 2).sum())})")
    per_count = Counter(int(c) for c in counts if c >= 2)
    if per_count:
        m = max(per_count, key=lambda c: (per_count[c], c))  # the most items; more raters
        left = sum(n for c, n in per_count.items() if c != m)
        note = f"the {per_count[m]} items with {m} labels each" + (
            f"; {left} item(s) with another number of labels are left out (alpha uses them)"
            if left else "")
        report.fleiss = _statistic("Fleiss' kappa",
                                   agr.fleiss_kappa(ratings, ratings_per_item=m, boot=boot,
                                                    seed=seed), note)
    else:
        report.fleiss = _statistic("Fleiss' kappa", None, "")
    pairs: dict[tuple[str, str], tuple[int, float | None]] = {}
    rated = ratings.codes >= 0
    row = {a: r for r, a in enumerate(ratings.annotators)}
    for a, b in _name_pairs(ratings.annotators):
        shared = int((rated[row[a]] & rated[row[b]]).sum())
        if not shared:
            continue
        if shared < MIN_SHARED:
            figure = Figure(None, n_items=shared)
        else:
            figure = Figure.of(agr.cohen_kappa(ratings, row[a], row[b], boot=boot,
                                               seed=seed).overall)
        report.pairs.append(PairStats(a, b, shared, figure))
        pairs[a, b] = (shared, figure.value)
    with_reviewer: dict[str, float | None] = {}
    for name in ratings.annotators:
        items = [i for i, given in votes.items() if name in given and i in decided]
        if len(items) < MIN_SHARED:
            with_reviewer[name] = None
            continue
        where = {v: k for k, v in enumerate(labels)}
        table = np.zeros((len(labels), len(labels)))
        for i in items:
            table[where[votes[i][name]], where[decided[i]]] += 1
        with_reviewer[name] = _num(agr.cohen_kappa_table(table, labels, boot=0).overall.value)
    return pairs, with_reviewer


def _name_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    return [(a, b) for k, a in enumerate(names) for b in names[k + 1:]]


def _statistic(name: str, result: agr.Agreement | None, note: str) -> Statistic:
    if result is None or result.overall.n_items == 0:
        return Statistic(name, Figure(None), {}, f"{NOT_ENOUGH}: no item has two or more "
                                                 "labels")
    return Statistic(name, Figure.of(result.overall),
                     {label: Figure.of(e) for label, e in result.per_label.items()}, note)


def _span_figures(votes: Mapping[ItemId, Mapping[str, str]], decided: Mapping[ItemId, str],
                  report: TeamReport) -> tuple[dict[tuple[str, str], tuple[int, float | None]],
                                               dict[str, float | None]]:
    annotations: dict[str, dict[int | str, Sequence[Span]]] = {}
    for item, given in votes.items():
        for name, stored in given.items():
            annotations.setdefault(name, {})[int(item)] = decode_spans(stored)
    result = span_agreement(annotations)
    report.span_f1 = Statistic(
        "pairwise entity F1", Figure(_num(result.micro), n_items=report.items_overlap),
        {t: Figure(_num(v)) for t, v in result.per_type.items()},
        "exact (start, end, type) matches on the items two annotators share, averaged over "
        "the pairs" if result.pairs else f"{NOT_ENOUGH}: no item has two annotators")
    pairs: dict[tuple[str, str], tuple[int, float | None]] = {}
    for (a, b), pair in result.pairs.items():
        value = _num(pair.f1()) if pair.items >= MIN_SHARED else None
        report.pairs.append(PairStats(a, b, pair.items, Figure(value, n_items=pair.items)))
        pairs[a, b] = (pair.items, value)
    reviewer: dict[int | str, Sequence[Span]] = {int(i): decode_spans(v)
                                                 for i, v in decided.items()}
    with_reviewer: dict[str, float | None] = {}
    for name, mine in annotations.items():
        agreed = pair_counts(mine, reviewer)
        with_reviewer[name] = _num(agreed.f1()) if agreed.items >= MIN_SHARED else None
    return pairs, with_reviewer


def team_report_of(path: Path, boot: int = BOOT) -> TeamReport:
    with Project.open(path, read_only=True) as project:
        return team_report(project, boot=boot)


# -- noisy labels ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Guess:
    """The model's view of an item: its likeliest label and probability, and the
    probability it gives the training label (None: no training label)."""

    label: str
    probability: float
    given_probability: float | None = None


@dataclass
class LabelScan:
    """Confident learning on out-of-fold probabilities: the suspects (item, suggested label,
    label quality: lower is more suspicious), most suspicious first, and the model's guess
    for every item it saw. ``note`` says what was used, or why nothing was checked."""

    suspects: list[tuple[ItemId, str, float]]
    guesses: dict[ItemId, Guess]
    note: str
    estimated_errors: float | None = None
    ready: bool = False


def scan_labels(reader: Project, write: Callable[[Callable[[Project], Any]], Any],
                folds: int = FOLDS, progress: Progress | None = None) -> LabelScan:
    """Out-of-fold predictions of the project's classifier (``loop/label_check.py``) and the
    items confident learning suspects (``al/noisy.py``). ``write`` saves embeddings the
    featurizer computes (the writer thread's ``call``). A span project is not checked."""
    from alapp.app.rounds import read_snapshot
    from alapp.loop.label_check import out_of_fold

    if reader.spans:
        return LabelScan([], {}, "a span project: the label check is for classification")
    extra = sorted(set(team.flags(reader)) | reader.disputed())
    oof = out_of_fold(read_snapshot(reader, write), folds, extra, progress)
    guesses = {i: Guess(oof.classes[int(p.argmax())], float(p.max()))
               for i, p in oof.extra.items()}
    if not oof.ready:
        return LabelScan([], guesses, oof.note)
    code = {name: k for k, name in enumerate(oof.classes)}
    y = np.array([code[g] for g in oof.given], dtype=np.int64)
    issues = find_label_issues(y, oof.probs)
    for row, item in enumerate(oof.ids):
        p = oof.probs[row]
        guesses[item] = Guess(oof.classes[int(p.argmax())], float(p.max()), float(p[y[row]]))
    suspects = [(oof.ids[int(r)], oof.classes[int(s)], float(q))
                for r, s, q in zip(issues.indices, issues.suggested, issues.scores, strict=True)]
    return LabelScan(suspects, guesses, oof.note, issues.estimated_errors, True)


# -- the review queue -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewVote:
    annotator: str
    label: str
    submitted_at: float
    workstation: str


@dataclass(frozen=True)
class ReviewEntry:
    item_id: ItemId
    ext_id: str
    text: str
    reasons: tuple[str, ...]  # why it is here, the first deciding its place
    votes: tuple[ReviewVote, ...]
    flags: tuple[team.Flag, ...]
    training_label: str | None
    how: str  # single | unanimous | majority | reliable | adjudicated | tie | "" (unlabeled)
    guess: Guess | None
    suggested: str | None = None  # a suspect's likely label (confident learning)
    quality: float | None = None  # a suspect's label quality (lower: more likely wrong)
    decision: team.Adjudication | None = None  # the reviewer's standing decision

    @property
    def reason(self) -> str:
        return self.reasons[0]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def review_queue(reader: Project, scan: LabelScan | None = None,
                 predicted: Mapping[ItemId, tuple[str, float]] | None = None,
                 show: Sequence[str] = REASONS, limit: int | None = None) -> list[ReviewEntry]:
    """The items a reviewer should look at, in order: ties, then items decided against
    someone's vote (the most divided first), then flagged items (oldest flag first), then
    the model's suspects (lowest label quality first). An item a reviewer decided leaves the
    queue, unless flagged again after the decision; ``show`` with ``ADJUDICATED`` lists the
    decided items too (the latest decision first), to withdraw one. ``predicted`` (the latest
    round's pool predictions) gives the model's guess where the scan has none."""
    unknown = [r for r in show if r not in (*REASONS, ADJUDICATED)]
    if unknown:
        raise AlappError(f"unknown review filter {unknown[0]!r}; choose from "
                         f"{', '.join((*REASONS, ADJUDICATED))}")
    decided = team.adjudications(reader)
    flagged = team.flags(reader)
    suspects = scan.suspects if scan is not None else []
    wanted = sorted({*team.items_with_several_voters(reader), *flagged, *decided,
                     *(item for item, _, _ in suspects)})
    votes = team.item_votes(reader, wanted)
    trained = team.training_labels(reader, wanted)
    reasons: dict[ItemId, list[str]] = {}
    order: dict[str, list[tuple[Any, ItemId]]] = {r: [] for r in (*REASONS, ADJUDICATED)}

    def add(item: ItemId, reason: str, key: Any) -> None:
        reasons.setdefault(item, []).append(reason)
        order[reason].append((key, item))

    for item, given in votes.items():
        if item in decided:
            continue
        labels = Counter(v.label for v in given)
        if len(labels) < 2:
            continue
        if trained.get(item) is not None and trained[item].label is None:
            add(item, TIE, int(item))
        else:
            add(item, DISAGREEMENT, (labels.most_common(1)[0][1] / len(given), int(item)))
    for item, marks in flagged.items():
        if item in decided and decided[item].submitted_at >= marks[-1].submitted_at:
            continue
        add(item, FLAGGED, (marks[0].submitted_at, int(item)))
    for rank, (item, _, _) in enumerate(suspects):
        if item not in decided:
            add(item, SUSPECT, rank)
    if ADJUDICATED in show:
        for item, decision in decided.items():
            add(item, ADJUDICATED, (-decision.submitted_at, int(item)))
    placed: list[ItemId] = []
    seen: set[ItemId] = set()
    for reason in (*REASONS, ADJUDICATED):
        for _, item in sorted(order[reason], key=lambda pair: pair[0]):
            if item not in seen:
                seen.add(item)
                placed.append(item)
    chosen = [i for i in placed if any(r in show for r in reasons[i])]
    if limit is not None:
        chosen = chosen[:limit]
    texts = dict(zip(chosen, reader.texts(chosen), strict=True))
    ext = team.ext_ids(reader, chosen)
    suspect = {i: (s, q) for i, s, q in suspects}
    entries = []
    for item in chosen:
        guess = scan.guesses.get(item) if scan is not None else None
        if guess is None and predicted and item in predicted:
            guess = Guess(predicted[item][0], float(predicted[item][1]))
        t = trained.get(item)
        entries.append(ReviewEntry(
            item, ext[item], texts[item], tuple(reasons[item]),
            tuple(ReviewVote(v.annotator, v.label, v.submitted_at, v.workstation)
                  for v in votes.get(item, [])),
            tuple(flagged.get(item, [])), t.label if t is not None else None,
            t.how if t is not None else "", guess,
            suspect[item][0] if item in suspect else None,
            suspect[item][1] if item in suspect else None, decided.get(item)))
    return entries


# -- adjudication ---------------------------------------------------------------------------------

def adjudicate(session: Any, item_id: ItemId, label: str | None, note: str = "") -> int:
    """The session's annotator decides the item (``label`` None withdraws the decision),
    through the session's writer thread; returns the event's id."""
    name = session.annotator
    return int(session.writer.call(lambda p: team.adjudicate(p, item_id, label, name, note)))


def set_training_rule(session: Any, rule: str) -> None:
    """Change the training-label rule (every item is resolved again), through the writer."""
    session.update_settings(training_label_rule=rule)


@dataclass(frozen=True)
class Decided:
    item_id: ItemId
    ext_id: str
    label: str | None  # the training label now
    how: str


def adjudicate_file(path: Path, ext_id: str, label: str | None, reviewer: str,
                    note: str = "") -> Decided:
    """The command line's adjudication: one transaction as the project's one writer."""
    with Project.open(path) as project:
        item = team.item_by_ext_id(project, ext_id)
        if label is not None and not project.multi_label and not project.spans \
                and label not in project.labels():
            raise AlappError(f"unknown label {label!r}; labels are "
                             f"{', '.join(project.labels())}")
        reviewer = team.check_name(reviewer)
        team.adjudicate(project, item, label, reviewer, note)
        now = team.training_labels(project, [item]).get(item)
        return Decided(item, ext_id, now.label if now else None, now.how if now else "")


def review_file(path: Path, folds: int = FOLDS, check_labels: bool = True,
                show: Sequence[str] = REASONS, limit: int | None = None
                ) -> tuple[list[ReviewEntry], LabelScan | None]:
    """The command line's review queue. Embeddings the label check needs and the project
    lacks are computed and saved (the project is then opened for writing, briefly)."""
    def write(fn: Callable[[Project], Any]) -> Any:
        with Project.open(path) as project:
            return fn(project)

    with Project.open(path, read_only=True) as reader:
        scan = scan_labels(reader, write, folds) if check_labels else None
        return review_queue(reader, scan, None, show, limit), scan


def annotators_of(path: Path, add: str | None = None) -> list[dict[str, Any]]:
    """The project's annotators with what each did (``add`` registers one first)."""
    if add is not None:
        with Project.open(path) as project:
            team.add_annotator(project, add)
    with Project.open(path, read_only=True) as project:
        votes = _people(project)
        decided = team.adjudications(project)
        out = []
        for info in team.annotator_info(project):
            out.append({"name": info.name, "how": info.how,
                        "items": sum(1 for given in votes.values() if info.name in given),
                        "events": info.events,
                        "adjudications": sum(1 for a in decided.values()
                                             if a.reviewer == info.name)})
        return out


def scan_project(path: Path, write: Callable[[Callable[[Project], Any]], Any],
                 folds: int = FOLDS, progress: Progress | None = None) -> LabelScan:
    """The label check as a background job: its own read-only connection, embeddings saved
    through ``write`` (the window's writer thread)."""
    with Project.open(path, read_only=True) as reader:
        return scan_labels(reader, write, folds, progress)


def decision_choices(reader: Project, entry: ReviewEntry) -> list[tuple[str, str]]:
    """What a reviewer can decide for ``entry``, as (caption, label value): each label of a
    single-label project; in a multi-label or span project, each distinct decision an
    annotator made (a set of labels or of spans is taken whole, not typed)."""
    if not reader.multi_label and not reader.spans:
        return [(name, name) for name in reader.labels()]
    out: dict[str, list[str]] = {}
    for vote in entry.votes:
        out.setdefault(vote.label, []).append(vote.annotator)
    if entry.training_label is not None:
        out.setdefault(entry.training_label, [])
    return [(f"as {', '.join(names)}" if names else "the training label", value)
            for value, names in out.items()]


def decision_text(kind: str, text: str, value: str | None) -> str:
    """A decision in words: a label; a multi-label set ("billing, delivery"); a span
    decision as its entities with their text ("Москва (LOC); Путин (PER)")."""
    if value is None:
        return "—"
    if kind == "spans":
        spans = decode_spans(value)
        return "; ".join(f"{text[s.start:s.end]} ({s.label})" for s in spans) or \
            "(no entities)"
    if kind == "multi-label":
        return ", ".join(value.split("|")) if value else "(none of these)"
    return value


def project_kind(reader: Project) -> str:
    return "spans" if reader.spans else "multi-label" if reader.multi_label else \
        "classification"
