"""Exchange packages in the store (issue 19): who each item was packed for, the project file an
assignment package carries, the events a results package carries, and their merge.

The file format around these (a zip with a manifest and checksums) is ``app/packages.py``;
this module reads and writes project files only.

A merge checks every event before it writes anything, then inserts the new ones (by ``uid``)
in one transaction and resolves every item's training label again (``resolution.rebuild``):
nothing in it depends on the order packages arrive in, so copies merged in any order hold the
same events and the same training labels.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError
from alapp.core.spans import check_spans, decode_spans, encode_spans
from alapp.core.types import Action, ItemId, Source, join_labels, split_labels
from alapp.store import resolution
from alapp.store.project import Project
from alapp.store.spans import decode_tokens
from alapp.store.team import project_id, register_annotator

_CHUNK = 900  # parameters per statement, under SQLite's old limit of 999
# identity rows of a project file opened from an assignment package
PACKAGE_KEYS = ("package_id", "package_for", "package_source")
ACTIONS = frozenset(a.value for a in Action)
SOURCES = frozenset(s.value for s in Source)
# What a results package says of each event, in this order (``undoes`` is the undone event's
# uid; the item is named by its ext_id and the fingerprint of its texts).
EVENT_FIELDS = ("uid", "item", "item_sha256", "action", "label", "annotator", "workstation",
                "seq", "started_at", "submitted_at", "active_ms", "note", "source", "strategy",
                "score", "predicted_cost", "is_random_share", "undoes")

_FIELD = {name: k for k, name in enumerate(EVENT_FIELDS)}


def fingerprint(text: str, text_b: str | None) -> str:
    """The sha256 of an item's texts exactly as stored: a merge checks it is the same item."""
    digest = hashlib.sha256(text.encode("utf-8"))
    if text_b is not None:
        digest.update(b"\x00" + text_b.encode("utf-8"))
    return digest.hexdigest()


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


# -- assignments ------------------------------------------------------------------------------


def assignments(project: Project) -> dict[ItemId, set[str]]:
    """Every packed item and the annotators it was packed for."""
    found: dict[ItemId, set[str]] = {}
    for item_id, name in project._conn.execute("SELECT item_id, annotator FROM assignments"):
        found.setdefault(ItemId(item_id), set()).add(name)
    return found


def labeled_by(project: Project, annotator: str) -> set[ItemId]:
    """Items ``annotator`` has labeled (in this file: merged packages included)."""
    return {ItemId(r[0]) for r in project._conn.execute(
        "SELECT DISTINCT item_id FROM label_events WHERE annotator = ? AND action = 'label'",
        (annotator,))}


def record_assignments(project: Project, annotator: str, package_id: str,
                       fresh: Sequence[ItemId], overlap: Sequence[ItemId]) -> None:
    """The items of a package, and its annotator as one of the project's (``how='packed'``),
    in one transaction."""
    now = time.time()
    with project.transaction() as conn:
        register_annotator(conn, annotator, "packed")
        conn.executemany(
            "INSERT INTO assignments (item_id, annotator, package_id, assigned_at, overlap) "
            "VALUES (?, ?, ?, ?, ?)",
            [(i, annotator, package_id, now, 0) for i in fresh]
            + [(i, annotator, package_id, now, 1) for i in overlap])


def package_assignments(project: Project) -> list[dict[str, Any]]:
    """One row per package made from this project: its annotator, items and overlap items."""
    return [{"package_id": r[0], "annotator": r[1], "items": r[2], "overlap": r[3],
             "assigned_at": r[4]} for r in project._conn.execute(
        "SELECT package_id, annotator, COUNT(*), SUM(overlap), MIN(assigned_at) "
        "FROM assignments GROUP BY package_id ORDER BY MIN(assigned_at)")]


# -- the project file of an assignment package -------------------------------------------------


@dataclass(frozen=True)
class PackedItem:
    """One item of an assignment, with why it was chosen (its queue entry in the package)."""

    item_id: ItemId
    source: str  # 'al' or 'random'
    strategy: str | None
    score: float | None
    predicted_cost: float | None


def write_package_project(main: Project, dest: Path, annotator: str, package_id: str,
                          packed: Sequence[PackedItem], with_model: bool) -> dict[str, int]:
    """A new project file at ``dest`` holding ``packed`` items of ``main`` (texts, metadata,
    tokens, images), its labels with their descriptions, every setting as stored, its
    identity and the package's, and (``with_model``) its latest model version with weights.
    The items wait in its queue in the given order. Returns what it holds, counted."""
    src = main._conn
    settings = {k: json.loads(v) for k, v in src.execute("SELECT key, value FROM settings")}
    labels = main.labels()
    created = {k: settings[k] for k in ("task", "multi_label") if k in settings}
    package = Project.create(dest, labels, name=str(settings.get("name") or main.path.stem),
                             **created)
    try:
        with package.transaction() as conn:
            conn.execute("DELETE FROM settings")
            conn.executemany("INSERT INTO settings (key, value) VALUES (?, ?)",
                             src.execute("SELECT key, value FROM settings").fetchall())
            conn.executemany("UPDATE labels SET description = ? WHERE name = ?",
                             [(d, n) for n, d in main.label_descriptions().items()])
            identity = {"project_id": project_id(main), "package_id": package_id,
                        "package_for": annotator, "package_source": main.path.name}
            conn.executemany("INSERT OR REPLACE INTO identity (key, value) VALUES (?, ?)",
                             list(identity.items()))
            register_annotator(conn, annotator, "packed")
            ids = [p.item_id for p in packed]
            new_id: dict[int, int] = {}
            images = tokens = 0
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                rows = src.execute(f"SELECT id, ext_id, text, meta, hash, text_b FROM items "
                                   f"WHERE id IN ({marks})", chunk).fetchall()
                for old, ext_id, text, meta, digest, text_b in rows:
                    cursor = conn.execute(
                        "INSERT INTO items (ext_id, text, meta, hash, split, text_b) "
                        "VALUES (?, ?, ?, ?, 'pool', ?)", (ext_id, text, meta, digest, text_b))
                    new_id[old] = int(cursor.lastrowid or 0)
                token_rows = src.execute(f"SELECT item_id, offsets, given FROM item_tokens "
                                         f"WHERE item_id IN ({marks})", chunk).fetchall()
                conn.executemany("INSERT INTO item_tokens (item_id, offsets, given) "
                                 "VALUES (?, ?, ?)",
                                 [(new_id[i], o, g) for i, o, g in token_rows])
                image_rows = src.execute(f"SELECT item_id, format, data FROM images "
                                         f"WHERE item_id IN ({marks})", chunk).fetchall()
                conn.executemany("INSERT INTO images (item_id, format, data) VALUES (?, ?, ?)",
                                 [(new_id[i], f, d) for i, f, d in image_rows])
                tokens += len(token_rows)
                images += len(image_rows)
            missing = [i for i in ids if i not in new_id]
            if missing:
                raise AlappError(f"{main.path}: no item with id {missing[0]}")
            conn.executemany(
                "INSERT INTO queue (position, item_id, source, strategy, score, "
                "predicted_cost, is_random_share) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(k, new_id[p.item_id], p.source, p.strategy, p.score, p.predicted_cost,
                  int(p.source == Source.RANDOM)) for k, p in enumerate(packed)])
            model = 0
            if with_model:
                row = src.execute(
                    "SELECT created_at, kind, params, n_labeled, metrics, weights FROM models "
                    "WHERE weights IS NOT NULL ORDER BY version DESC LIMIT 1").fetchone()
                if row is not None:
                    conn.execute("INSERT INTO models (created_at, kind, params, n_labeled, "
                                 "metrics, weights) VALUES (?, ?, ?, ?, ?, ?)", row)
                    model = 1
    finally:
        package.close()
    return {"items": len(ids), "labels": len(labels), "tokens": tokens, "images": images,
            "model": model}


def package_identity(project: Project) -> dict[str, str]:
    """The project's identity rows (project_id; for an opened package its package_id,
    package_for and package_source)."""
    return {k: v for k, v in project._conn.execute("SELECT key, value FROM identity")
            if k != "reliability"}


# -- the events of a results package -----------------------------------------------------------


def package_events(project: Project) -> list[dict[str, Any]]:
    """Every event of this file as a results package carries it: ``EVENT_FIELDS``, and the
    decision's rows (``labels`` of a multi-label set, ``spans`` of a span decision)."""
    multi, spans = project.multi_label, project.spans
    rows = project._conn.execute(
        "SELECT e.id, e.uid, i.ext_id, i.text, i.text_b, e.action, e.label, e.annotator, "
        "e.workstation, e.seq, e.started_at, e.submitted_at, e.active_ms, e.note, e.source, "
        "e.strategy, e.score, e.predicted_cost, e.is_random_share, u.uid "
        "FROM label_events e JOIN items i ON i.id = e.item_id "
        "LEFT JOIN label_events u ON u.id = e.undoes ORDER BY e.id").fetchall()
    parts: dict[int, list[Any]] = {}
    if multi:
        for event_id, label in project._conn.execute(
                "SELECT s.event_id, s.label FROM event_labels s JOIN labels l ON l.name = s.label "
                "ORDER BY s.event_id, l.position"):
            parts.setdefault(event_id, []).append(label)
    elif spans:
        for event_id, start, end, label in project._conn.execute(
                'SELECT event_id, start, "end", label FROM event_spans ORDER BY event_id, start'):
            parts.setdefault(event_id, []).append([start, end, label])
    out = []
    for row in rows:
        event = dict(zip(EVENT_FIELDS, (row[1], row[2], fingerprint(row[3], row[4]), *row[5:]),
                         strict=True))
        if multi and row[6] is not None:
            event["labels"] = parts.get(row[0], [])
        elif spans and row[6] is not None:
            event["spans"] = parts.get(row[0], [])
        out.append(event)
    return out


# -- merge -------------------------------------------------------------------------------------


@dataclass
class MergeReport:
    new_events: int = 0
    already_present: int = 0
    items: int = 0  # items the new events are about
    annotators: list[str] = field(default_factory=list)  # whose events were new
    per_annotator: dict[str, int] = field(default_factory=dict)
    per_action: dict[str, int] = field(default_factory=dict)


@dataclass
class _Incoming:
    index: int
    values: tuple[Any, ...]  # EVENT_FIELDS, label canonical
    item_id: int
    extra: list[tuple[Any, ...]]  # event_labels (label,) or event_spans (start, end, label)

    @property
    def uid(self) -> str:
        return str(self.values[0])

    def get(self, name: str) -> Any:
        return self.values[_FIELD[name]]


def merge_events(project: Project, events: Any, where: str) -> MergeReport:
    """Check every event, then insert the new ones in one transaction (see the module's
    docstring). ``where`` names the package in messages. An ``AlappError`` of one line, and
    the project unchanged, for anything that does not fit."""
    if not isinstance(events, list):
        raise AlappError(f"{where}: its events are not a list")
    checker = _Checker(project, where)
    checker.preload(events)
    incoming = [checker.event(k, raw) for k, raw in enumerate(events)]
    present, new = checker.split_present(incoming)
    checker.check_new(new, present)
    report = MergeReport(already_present=len(present))
    if not new:
        return report
    with project.transaction() as conn:
        ids: dict[str, int] = {}
        for event in new:
            undoes = event.get("undoes")
            undone = None
            if undoes is not None:
                undone = ids.get(undoes) or checker.local_id(undoes)
            cursor = conn.execute(
                "INSERT INTO label_events (item_id, action, label, annotator, started_at, "
                "submitted_at, active_ms, undoes, note, round_id, source, strategy, score, "
                "predicted_cost, is_random_share, uid, workstation, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.item_id, event.get("action"), event.get("label"), event.get("annotator"),
                 event.get("started_at"), event.get("submitted_at"), event.get("active_ms"),
                 undone, event.get("note"), event.get("source"), event.get("strategy"),
                 event.get("score"), event.get("predicted_cost"), event.get("is_random_share"),
                 event.uid, event.get("workstation"), event.get("seq")))
            ids[event.uid] = int(cursor.lastrowid or 0)
        conn.executemany("INSERT INTO event_labels (event_id, label) VALUES (?, ?)",
                         [(ids[e.uid], *x) for e in new if checker.multi for x in e.extra])
        conn.executemany('INSERT INTO event_spans (event_id, start, "end", label) '
                         "VALUES (?, ?, ?, ?)",
                         [(ids[e.uid], *x) for e in new if checker.spans for x in e.extra])
        resolution.rebuild(conn)
        touched = sorted({e.item_id for e in new})
        for chunk in _chunks(touched):  # decided items leave this copy's queue
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM queue WHERE item_id IN ({marks}) AND item_id IN "
                         f"(SELECT item_id FROM item_labels)", chunk)
    report.new_events = len(new)
    report.items = len({e.item_id for e in new})
    for event in new:
        name, action = event.get("annotator"), event.get("action")
        report.per_annotator[name] = report.per_annotator.get(name, 0) + 1
        report.per_action[action] = report.per_action.get(action, 0) + 1
    report.annotators = sorted(report.per_annotator)
    return report


class _Checker:
    """Reads what the checks need from the project once, and checks events one by one."""

    def __init__(self, project: Project, where: str) -> None:
        self.project, self.where = project, where
        self.conn = project._conn
        self.labels = project.labels()
        self.label_set = set(self.labels)
        self.multi, self.spans = project.multi_label, project.spans
        self.annotators = {r[0] for r in self.conn.execute("SELECT name FROM annotators")}
        self.items: dict[str, tuple[int, str, str | None]] = {}
        self.tokens: dict[int, str | None] = {}

    def fail(self, index: int, raw: Any, problem: str) -> AlappError:
        item = raw.get("item") if isinstance(raw, dict) else None
        about = f" (item {item!r})" if isinstance(item, str) else ""
        return AlappError(f"{self.where}: event {index + 1}{about}: {problem}; "
                          "nothing was merged")

    def _load_items(self, ext_ids: Iterable[str]) -> None:
        wanted = sorted(set(ext_ids) - set(self.items))
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for item_id, ext_id, text, text_b, offsets in self.conn.execute(
                    f"SELECT i.id, i.ext_id, i.text, i.text_b, t.offsets FROM items i "
                    f"LEFT JOIN item_tokens t ON t.item_id = i.id WHERE i.ext_id IN ({marks})",
                    chunk):
                self.items[ext_id] = (int(item_id), text, text_b)
                self.tokens[int(item_id)] = offsets

    def event(self, index: int, raw: Any) -> _Incoming:
        if not isinstance(raw, dict):
            raise self.fail(index, raw, "not an object")
        missing = [f for f in EVENT_FIELDS if f not in raw]
        if missing:
            raise self.fail(index, raw, f"the field {missing[0]!r} is missing")
        values = {f: raw[f] for f in EVENT_FIELDS}
        self._check_types(index, raw, values)
        ext_id = values["item"]
        if ext_id not in self.items:
            self._load_items([ext_id])
        found = self.items.get(ext_id)
        if found is None:
            raise self.fail(index, raw, "the project has no such item (was the package made "
                                        "from another project, or the item deleted?)")
        item_id, text, text_b = found
        if fingerprint(text, text_b) != values["item_sha256"]:
            raise self.fail(index, raw, "the item's text differs from the project's (the "
                                        "item was changed on one side)")
        if values["annotator"] not in self.annotators:
            raise self.fail(index, raw, f"{values['annotator']!r} is not one of the project's "
                                        f"annotators; if they belong to the team, add them: "
                                        f"alapp annotators {self.project.path} --add "
                                        f"{_quoted(values['annotator'])}")
        values["label"], extra = self._decision(index, raw, values, item_id)
        return _Incoming(index, tuple(values[f] for f in EVENT_FIELDS), item_id, extra)

    def preload(self, events: Sequence[Any]) -> None:
        self._load_items(str(e["item"]) for e in events
                         if isinstance(e, dict) and isinstance(e.get("item"), str))

    def _check_types(self, index: int, raw: Any, v: dict[str, Any]) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise self.fail(index, raw, what)

        need(isinstance(v["uid"], str) and 0 < len(v["uid"]) <= 200, "uid is not a text")
        need(isinstance(v["item"], str), "item is not a text")
        need(isinstance(v["item_sha256"], str), "item_sha256 is not a text")
        need(v["action"] in ACTIONS, f"unknown action {v['action']!r}")
        need(v["label"] is None or isinstance(v["label"], str), "label is not a text")
        need(isinstance(v["annotator"], str) and v["annotator"] != "", "no annotator")
        need(isinstance(v["workstation"], str) and v["workstation"] != "", "no workstation")
        need(_is_int(v["seq"]) and v["seq"] > 0, "seq is not a positive whole number")
        need(_is_time(v["started_at"], True), "started_at is not a time")
        need(_is_time(v["submitted_at"], False), "submitted_at is not a time")
        need(v["active_ms"] is None or (_is_int(v["active_ms"]) and v["active_ms"] >= 0),
             "active_ms is not a whole number of milliseconds")
        need(v["note"] is None or isinstance(v["note"], str), "note is not a text")
        need(v["source"] in SOURCES, f"unknown source {v['source']!r}")
        need(v["strategy"] is None or isinstance(v["strategy"], str), "strategy is not a text")
        need(_is_number(v["score"]), "score is not a number")
        need(_is_number(v["predicted_cost"]), "predicted_cost is not a number")
        need(v["is_random_share"] in (0, 1) and not isinstance(v["is_random_share"], float),
             "is_random_share is not 0 or 1")
        need(v["undoes"] is None or isinstance(v["undoes"], str), "undoes is not a uid")

    def _decision(self, index: int, raw: dict[str, Any], v: dict[str, Any],
                  item_id: int) -> tuple[str | None, list[tuple[Any, ...]]]:
        """The label in its canonical form, and its rows; refused when the project does not
        have a label it uses, or a span does not fit the item."""
        label = v["label"]
        if label is None:
            return None, []
        if self.multi:
            names = split_labels(label)
            unknown = [n for n in names if n not in self.label_set]
            if unknown:
                raise self.fail(index, raw, self._unknown(unknown[0]))
            if sorted(raw.get("labels", names)) != sorted(names):
                raise self.fail(index, raw, "its label rows do not match its label")
            return join_labels(names, self.labels), [(n,) for n in names]
        if self.spans:
            offsets = self.tokens.get(item_id)
            if offsets is None:
                raise self.fail(index, raw, "the project's item has no tokens")
            try:
                spans = decode_spans(label)
            except ValueError as e:
                raise self.fail(index, raw, f"its spans cannot be read ({e})") from None
            unknown = [s.label for s in spans if s.label not in self.label_set]
            if unknown:
                raise self.fail(index, raw, self._unknown(unknown[0]))
            try:
                check_spans(self.items[v["item"]][1], decode_tokens(offsets), spans,
                            self.labels)
            except ValueError as e:
                raise self.fail(index, raw, str(e)) from None
            rows = raw.get("spans", [[s.start, s.end, s.label] for s in spans])
            if sorted(map(tuple, rows)) != sorted((s.start, s.end, s.label) for s in spans):
                raise self.fail(index, raw, "its span rows do not match its label")
            return encode_spans(spans), [(s.start, s.end, s.label) for s in spans]
        if label not in self.label_set:
            raise self.fail(index, raw, self._unknown(label))
        return label, []

    def _unknown(self, label: str) -> str:
        return (f"the label {label!r} is not one of the project's labels "
                f"({', '.join(self.labels)}); add it to the project first, or ask for the "
                "package to be made again")

    def _stored(self, uids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        found: dict[str, tuple[Any, ...]] = {}
        for chunk in _chunks(list(uids)):
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                    f"SELECT e.uid, i.ext_id, i.text, i.text_b, e.action, e.label, e.annotator, "
                    f"e.workstation, e.seq, e.started_at, e.submitted_at, e.active_ms, e.note, "
                    f"e.source, e.strategy, e.score, e.predicted_cost, e.is_random_share, u.uid "
                    f"FROM label_events e JOIN items i ON i.id = e.item_id "
                    f"LEFT JOIN label_events u ON u.id = e.undoes WHERE e.uid IN ({marks})",
                    chunk):
                found[row[0]] = (row[0], row[1], fingerprint(row[2], row[3]), *row[4:])
        return found

    def split_present(self, incoming: list[_Incoming]
                      ) -> tuple[list[_Incoming], list[_Incoming]]:
        """(already in the project, new); an event of the same uid with other content is a
        conflict, and so is a uid twice in the package."""
        seen: dict[str, int] = {}
        for event in incoming:
            if event.uid in seen:
                raise self.fail(event.index, {"item": event.get("item")},
                                f"its uid {event.uid} is also event {seen[event.uid] + 1}'s")
            seen[event.uid] = event.index
        stored = self._stored([e.uid for e in incoming])
        present, new = [], []
        for event in incoming:
            known = stored.get(event.uid)
            if known is None:
                new.append(event)
            elif known == event.values:
                present.append(event)
            else:
                differs = next(f for f, a, b in zip(EVENT_FIELDS, known, event.values,
                                                    strict=True) if a != b)
                raise self.fail(event.index, {"item": event.get("item")},
                                f"conflict: the project holds event {event.uid} with another "
                                f"{differs} ({known[EVENT_FIELDS.index(differs)]!r}, the package "
                                f"says {event.get(differs)!r}); events are never overwritten")
        return present, new

    def check_new(self, new: list[_Incoming], present: list[_Incoming]) -> None:
        """Each new event's (workstation, seq) is free, and what it undoes exists."""
        by_station: dict[str, dict[int, str]] = {}
        for event in new:
            station = str(event.get("workstation"))
            if station not in by_station:
                by_station[station] = {int(s): u for s, u in self.conn.execute(
                    "SELECT seq, uid FROM label_events WHERE workstation = ?", (station,))}
            taken = by_station[station]
            seq = int(event.get("seq"))
            if taken.get(seq, event.uid) != event.uid:
                raise self.fail(event.index, {"item": event.get("item")},
                                f"conflict: workstation {station} sequence {seq} is already "
                                f"event {taken[seq]} in the project")
            taken[seq] = event.uid
        known = {e.uid for e in new} | {e.uid for e in present}
        undone = [str(e.get("undoes")) for e in new if e.get("undoes") is not None]
        local = {u for u in undone if u not in known}
        self._local = {u: i for i, u in self._ids(sorted(local))}
        for event in new:
            target = event.get("undoes")
            if target is not None and target not in known and target not in self._local:
                raise self.fail(event.index, {"item": event.get("item")},
                                f"it undoes event {target}, which is neither in the package "
                                "nor in the project")

    def _ids(self, uids: Sequence[str]) -> Iterator[tuple[int, str]]:
        for chunk in _chunks(list(uids)):
            marks = ",".join("?" * len(chunk))
            yield from self.conn.execute(
                f"SELECT id, uid FROM label_events WHERE uid IN ({marks})", chunk)

    def local_id(self, uid: str) -> int:
        found = self._local.get(uid)
        if found is None:
            found = next(iter(i for i, _ in self._ids([uid])))
        return int(found)


def _quoted(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").isalnum() else json.dumps(name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool)
                             and math.isfinite(value))


def _is_time(value: Any, optional: bool) -> bool:
    if value is None:
        return optional
    return _is_number(value)


def table_dump(project: Project) -> list[str]:
    """The whole file as SQL statements (tests compare it before and after a refused merge)."""
    return list(_dump(project._conn))


def _dump(conn: sqlite3.Connection) -> Iterator[str]:
    yield from conn.iterdump()
