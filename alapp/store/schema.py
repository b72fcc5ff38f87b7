"""Schema of a project file and its forward migrations.

The schema version lives in ``PRAGMA user_version``. Each migration takes a file of version N to
N + 1 inside one transaction, so a crash mid-migration leaves the file at version N.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import uuid
from collections.abc import Sequence

from alapp.store.pg_dialect import COMPAT_FUNCTIONS, Tables, schema_tables, table_ddl
from alapp.store.postgres import PgConnection

APPLICATION_ID = 0x616C6170  # "alap": marks the file as an alapp project


V1_ITEMS_LABELS_EVENTS = """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE labels (
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL
        );
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            format TEXT NOT NULL,
            encoding TEXT NOT NULL,
            rows INTEGER NOT NULL,
            labeled INTEGER NOT NULL,
            finished_at REAL NOT NULL
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            ext_id TEXT NOT NULL UNIQUE,
            text TEXT NOT NULL,
            meta TEXT,
            hash BLOB NOT NULL,  -- blake2b-128 of the case- and space-folded text
            split TEXT NOT NULL CHECK (split IN ('pool', 'test', 'seed')),
            import_id INTEGER REFERENCES imports(id)
        );
        CREATE INDEX items_hash ON items(hash);
        CREATE TABLE label_events (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            action TEXT NOT NULL
                CHECK (action IN ('label', 'undo', 'skip', 'skip_forever', 'flag')),
            label TEXT REFERENCES labels(name),
            annotator TEXT NOT NULL,
            started_at REAL,
            submitted_at REAL NOT NULL,
            active_ms INTEGER,
            undoes INTEGER REFERENCES label_events(id),
            note TEXT
        );
        CREATE INDEX label_events_item ON label_events(item_id, id);
"""


V2_ROUNDS_MODELS_SELECTION = """
        CREATE TABLE rounds (
            id INTEGER PRIMARY KEY,
            started_at REAL NOT NULL,
            strategy TEXT NOT NULL,
            batch_size INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            n_labeled INTEGER NOT NULL,
            model_version INTEGER
        );
        CREATE TABLE models (
            version INTEGER PRIMARY KEY,
            created_at REAL NOT NULL,
            kind TEXT NOT NULL,
            params TEXT NOT NULL,
            n_labeled INTEGER NOT NULL,
            metrics TEXT,
            weights BLOB
        );
        ALTER TABLE label_events ADD COLUMN round_id INTEGER REFERENCES rounds(id);
        ALTER TABLE label_events ADD COLUMN strategy TEXT;
        ALTER TABLE label_events ADD COLUMN score REAL;
        ALTER TABLE label_events ADD COLUMN predicted_cost REAL;
        ALTER TABLE label_events ADD COLUMN is_random_share INTEGER NOT NULL DEFAULT 0;
"""


V3_QUEUE = """
        CREATE TABLE queue (
            position INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL UNIQUE REFERENCES items(id),
            round_id INTEGER REFERENCES rounds(id),
            strategy TEXT NOT NULL,
            score REAL,
            predicted_cost REAL,
            is_random_share INTEGER NOT NULL DEFAULT 0
        );
"""


V4_EMBEDDINGS = """
        CREATE TABLE embeddings (
            item_id INTEGER NOT NULL REFERENCES items(id),
            featurizer TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (featurizer, item_id)
        ) WITHOUT ROWID;
"""

V5_LABEL_COMBINATIONS = """
        ALTER TABLE labels ADD COLUMN combination INTEGER NOT NULL DEFAULT 0;
"""


# Where an item came from was overloaded into ``strategy`` ('test-set', 'undo', 'relabel',
# 'import'); it gets a column of its own and ``strategy`` keeps only strategy names. The queue is
# rebuilt because its ``strategy`` was NOT NULL (SQLite cannot relax a constraint in place).
V6_EVENT_SOURCE = """
        ALTER TABLE label_events ADD COLUMN source TEXT NOT NULL DEFAULT 'unknown';
        UPDATE label_events SET source = CASE
            WHEN action = 'undo' OR strategy = 'undo' THEN 'undo'
            WHEN strategy IN ('test-set', 'relabel', 'import') THEN strategy
            WHEN annotator = 'import' AND strategy IS NULL THEN 'import'
            WHEN is_random_share THEN 'random'
            WHEN strategy IS NOT NULL AND strategy != '' THEN 'al'
            ELSE 'unknown' END;
        UPDATE label_events SET strategy = NULL
            WHERE strategy IN ('test-set', 'undo', 'relabel', 'import', '');
        CREATE TABLE queue_v6 (
            position INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL UNIQUE REFERENCES items(id),
            round_id INTEGER REFERENCES rounds(id),
            source TEXT NOT NULL,
            strategy TEXT,
            score REAL,
            predicted_cost REAL,
            is_random_share INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO queue_v6 SELECT position, item_id, round_id,
            CASE WHEN strategy IN ('test-set', 'undo') THEN strategy
                 WHEN is_random_share THEN 'random' ELSE 'al' END,
            CASE WHEN strategy IN ('test-set', 'undo') THEN NULL ELSE strategy END,
            score, predicted_cost, is_random_share FROM queue;
        DROP TABLE queue;
        ALTER TABLE queue_v6 RENAME TO queue;
        CREATE INDEX label_events_source ON label_events(source, action)
"""

# An item's image (a multimodal post: text, an image, or both), its bytes kept in the file so
# the project stays self-contained; ``format`` is what the first bytes say (png, jpeg, ...).
V7_IMAGES = """
        CREATE TABLE images (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            format TEXT NOT NULL,
            data BLOB NOT NULL
        )
"""

# Stream mode (issue 16): every item the stream has let arrive, asked or passed, with the score
# and the threshold it was held to. A passed item gets no label (a pass is not a decision about
# its class); this row alone keeps the stream from asking it again.
V8_STREAM_SEEN = """
        CREATE TABLE stream_seen (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            round_id INTEGER REFERENCES rounds(id),
            asked INTEGER NOT NULL,  -- 0 passed, 1 asked, 2 asked as the random share
            score REAL,
            threshold REAL
        )
"""

# Sentence pairs (seed 002): the second text of a pair item; NULL for a single text.
V9_PAIR_TEXT = """
        ALTER TABLE items ADD COLUMN text_b TEXT
"""

# A multi-label decision is the set of labels chosen, not one label row per combination (the
# powerset of version 5): ``event_labels`` holds one row per chosen label, with its foreign key;
# ``label_events.label`` keeps the set as readable text ("billing|delivery", "" for an explicit
# "none of these") and so no longer references ``labels``: the table is rebuilt, keeping every
# event and id. Every event of a multi-label project that carries a value gets its set; the
# combination rows go. A strategy that reads the probabilities as one distribution over classes
# becomes the multi-label default (``ml-margin-mean``, see docs/multilabel.md), and the
# classifier logistic regression (the multi-label model is one per label). The undo column
# references the new table by its own name, which the rename carries over, so dropping the old
# table breaks no reference.
V10_LABEL_SETS = """
        CREATE TABLE label_events_v10 (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            action TEXT NOT NULL
                CHECK (action IN ('label', 'undo', 'skip', 'skip_forever', 'flag')),
            label TEXT,
            annotator TEXT NOT NULL,
            started_at REAL,
            submitted_at REAL NOT NULL,
            active_ms INTEGER,
            undoes INTEGER REFERENCES label_events_v10(id),
            note TEXT,
            round_id INTEGER REFERENCES rounds(id),
            strategy TEXT,
            score REAL,
            predicted_cost REAL,
            is_random_share INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'unknown'
        );
        INSERT INTO label_events_v10 (id, item_id, action, label, annotator, started_at,
            submitted_at, active_ms, undoes, note, round_id, strategy, score, predicted_cost,
            is_random_share, source)
            SELECT id, item_id, action, label, annotator, started_at, submitted_at, active_ms,
                undoes, note, round_id, strategy, score, predicted_cost, is_random_share, source
            FROM label_events;
        DROP TABLE label_events;
        ALTER TABLE label_events_v10 RENAME TO label_events;
        CREATE INDEX label_events_item ON label_events(item_id, id);
        CREATE INDEX label_events_source ON label_events(source, action);
        CREATE TABLE event_labels (
            event_id INTEGER NOT NULL REFERENCES label_events(id),
            label TEXT NOT NULL REFERENCES labels(name),
            PRIMARY KEY (event_id, label)
        ) WITHOUT ROWID;
        WITH RECURSIVE parts(event_id, head, rest) AS (
            SELECT id, '', label || '|' FROM label_events
            WHERE label IS NOT NULL
              AND (SELECT value FROM settings WHERE key = 'multi_label') = 'true'
            UNION ALL
            SELECT event_id, substr(rest, 1, instr(rest, '|') - 1),
                   substr(rest, instr(rest, '|') + 1)
            FROM parts WHERE rest != '')
        INSERT OR IGNORE INTO event_labels (event_id, label)
            SELECT event_id, head FROM parts WHERE head != '';
        DELETE FROM labels WHERE combination;
        UPDATE settings SET value = '"ml-margin-mean"'
            WHERE key = 'strategy'
              AND (SELECT value FROM settings WHERE key = 'multi_label') = 'true'
              AND value IN ('"stratified-random"', '"least-confidence"', '"margin"',
                            '"ratio"', '"entropy"', '"uncertainty-cluster"', '"schedule"');
        UPDATE settings SET value = '"logreg"'
            WHERE key = 'classifier'
              AND (SELECT value FROM settings WHERE key = 'multi_label') = 'true'
"""

# Span projects (issue 18): each item's tokens as stored (JSON ``[[start, end], ...]``, code
# points into ``items.text``; ``given``: they came with the file, CoNLL or JSONL "tokens", rather
# than from alapp's tokenizer), and a span decision's parts as rows with their foreign keys, as
# ``event_labels`` holds a multi-label set; ``label_events.label`` keeps the set as canonical
# text (``core.spans.encode_spans``, "[]" for a text with no entities). Nothing else changes.
V11_SPANS = """
        CREATE TABLE item_tokens (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            offsets TEXT NOT NULL,
            given INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE event_spans (
            event_id INTEGER NOT NULL REFERENCES label_events(id),
            start INTEGER NOT NULL CHECK (start >= 0),
            end INTEGER NOT NULL CHECK (end > start),
            label TEXT NOT NULL REFERENCES labels(name),
            PRIMARY KEY (event_id, start)
        ) WITHOUT ROWID
"""

# Teams (issue 19). Every event gets an identity that survives a trip to another machine and
# back: ``uid`` (unique everywhere), the ``workstation`` it was made on and that machine's own
# ``seq`` (events are ordered by it, never by clocks that differ between machines). The action
# ``adjudication`` (a reviewer's final word; the CHECK needs the table rebuilt, keeping every id).
# ``identity`` names the project across its copies and packages; ``annotators`` lists who may
# label it; ``item_labels`` holds each item's training label as the team rule resolves it
# (store/resolution.py keeps it up to date on every write), so that every reader sees one
# answer. Events made before carry the project's id and their own: copies of one file made
# before this version agree on them. The project id of such a file comes from its first import
# (time and first item), the same in every copy of it.
V13_TEAMS = """
        CREATE TABLE identity (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO identity (key, value) VALUES ('project_id', lower(hex(COALESCE(
            (SELECT CAST(CAST(finished_at * 1000 AS INTEGER) AS TEXT) || '/' ||
                    (SELECT hex(hash) FROM items ORDER BY id LIMIT 1)
             FROM imports ORDER BY id LIMIT 1),
            randomblob(16)))));
        CREATE TABLE label_events_v13 (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id),
            action TEXT NOT NULL CHECK (action IN
                ('label', 'undo', 'skip', 'skip_forever', 'flag', 'adjudication')),
            label TEXT,
            annotator TEXT NOT NULL,
            started_at REAL,
            submitted_at REAL NOT NULL,
            active_ms INTEGER,
            undoes INTEGER REFERENCES label_events_v13(id),
            note TEXT,
            round_id INTEGER REFERENCES rounds(id),
            strategy TEXT,
            score REAL,
            predicted_cost REAL,
            is_random_share INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'unknown',
            uid TEXT NOT NULL UNIQUE,
            workstation TEXT NOT NULL,
            seq INTEGER NOT NULL
        );
        INSERT INTO label_events_v13 SELECT id, item_id, action, label, annotator, started_at,
            submitted_at, active_ms, undoes, note, round_id, strategy, score, predicted_cost,
            is_random_share, source,
            (SELECT value FROM identity WHERE key = 'project_id') || ':' || id, 'legacy', id
            FROM label_events;
        DROP TABLE label_events;
        ALTER TABLE label_events_v13 RENAME TO label_events;
        CREATE INDEX label_events_item ON label_events(item_id, id);
        CREATE INDEX label_events_source ON label_events(source, action);
        CREATE UNIQUE INDEX label_events_origin ON label_events(workstation, seq);
        CREATE TABLE annotators (
            name TEXT PRIMARY KEY,
            added_at REAL NOT NULL,
            how TEXT NOT NULL DEFAULT ''
        );
        INSERT INTO annotators (name, added_at, how)
            SELECT annotator, MIN(submitted_at), 'history' FROM label_events GROUP BY annotator;
        CREATE TABLE item_labels (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            event_id INTEGER REFERENCES label_events(id),
            label TEXT,
            how TEXT NOT NULL,
            voters INTEGER NOT NULL
        );
        INSERT INTO item_labels (item_id, event_id, label, how, voters)
            SELECT e.item_id, e.id, e.label, 'single', 1 FROM label_events e
            JOIN (SELECT item_id, MAX(id) AS id FROM label_events
                  WHERE action IN ('label', 'undo') GROUP BY item_id) last ON e.id = last.id
            WHERE e.label IS NOT NULL
"""

# One entry per schema version; never edit a released entry, append a new one.
# Issue 17: a label's description (what it means, in the annotator's words), embedded with
# the label's name as its zero-shot prototype and shown as the label button's tooltip.
V12_LABEL_DESCRIPTIONS = """
        ALTER TABLE labels ADD COLUMN description TEXT NOT NULL DEFAULT ''
"""

# Exchange packages (issue 19): which items were packed for which annotator, in which package,
# and whether as part of the overlap (items given to two or more annotators so that their
# agreement can be measured). An item is packed for a person at most once.
V14_PACKAGE_ASSIGNMENTS = """
        CREATE TABLE assignments (
            item_id INTEGER NOT NULL REFERENCES items(id),
            annotator TEXT NOT NULL,
            package_id TEXT NOT NULL,
            assigned_at REAL NOT NULL,
            overlap INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (item_id, annotator)
        ) WITHOUT ROWID;
        CREATE INDEX assignments_package ON assignments(package_id)
"""

# Issue 20: several annotators at once on a server project. A session claims a small window
# of queued items; the claim lasts until ``expires_at`` (the store's clock, seconds since the
# epoch) unless the session renews it, so a session that dies frees its items after the lease.
# ``holder`` is the session (a new id each time an app opens the project).
V15_CLAIMS = """
        CREATE TABLE claims (
            item_id INTEGER PRIMARY KEY REFERENCES items(id),
            holder TEXT NOT NULL,
            workstation TEXT NOT NULL,
            annotator TEXT NOT NULL,
            claimed_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX claims_holder ON claims(holder);
        CREATE INDEX claims_expires ON claims(expires_at)
"""

# Several machines on one server project (issue 20): who has the project open and what they do
# (each app session's heartbeat, every ~30 s), and which session trained each round, with the
# newest label event it saw, so a worker counts the labels that arrived since.
V16_PRESENCE_AND_ROUND_ORIGINS = """
        CREATE TABLE presence (
            session TEXT PRIMARY KEY,
            workstation TEXT NOT NULL,
            annotator TEXT NOT NULL,
            host TEXT NOT NULL,
            role TEXT NOT NULL,
            activity TEXT NOT NULL DEFAULT '',
            started_at REAL NOT NULL,
            last_seen REAL NOT NULL
        );
        CREATE INDEX presence_seen ON presence(last_seen);
        CREATE TABLE round_origins (
            round_id INTEGER PRIMARY KEY REFERENCES rounds(id),
            trained_by TEXT NOT NULL,
            host TEXT NOT NULL,
            last_event INTEGER NOT NULL
        )
"""

# Issue 20 (large pools): a version per vector set, raised by every write of its vectors, so a
# copy of them in a file beside the project (store/vector_cache.py) knows when it is stale.
V17_VECTOR_VERSIONS = """
        CREATE TABLE vector_versions (
            featurizer TEXT PRIMARY KEY,
            version INTEGER NOT NULL
        ) WITHOUT ROWID
"""

# Issue 20: the overlap share of a server project's batch (setting ``claim_overlap``). A queued
# item with ``overlap`` 1 stays in the queue until two different annotators have decided it;
# ``decided_by`` names the first of them (NULL until then), whom it is never shown again.
V18_QUEUE_OVERLAP = """
        ALTER TABLE queue ADD COLUMN overlap INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE queue ADD COLUMN decided_by TEXT
"""

# Issue 20: the prediction of the round that queued (or last carried) each item: its label and
# confidence, and the two likeliest labels with their probabilities ("why chosen"), so a
# session that takes a round trained elsewhere, or an app that reopens the project, shows them
# without the trainer's memory. NULL where the round had none; span and multi-label projects
# store none (their predictions are span sets and per-label probabilities: kept in memory).
V19_QUEUE_PREDICTIONS = """
        ALTER TABLE queue ADD COLUMN predicted_label TEXT;
        ALTER TABLE queue ADD COLUMN predicted_confidence REAL;
        ALTER TABLE queue ADD COLUMN top_label TEXT;
        ALTER TABLE queue ADD COLUMN top_p REAL;
        ALTER TABLE queue ADD COLUMN second_label TEXT;
        ALTER TABLE queue ADD COLUMN second_p REAL
"""

MIGRATIONS: list[str] = [
    V1_ITEMS_LABELS_EVENTS,
    V2_ROUNDS_MODELS_SELECTION,  # rounds, model versions, why each item was selected
    V3_QUEUE,  # the batch waiting for the annotator survives a restart
    V4_EMBEDDINGS,  # vectors per (item, featurizer): computed once, float16
    # multi-label decisions ("a|b") are label rows too, so events keep their foreign key
    V5_LABEL_COMBINATIONS,
    V6_EVENT_SOURCE,  # a label event's source is its own column, not a strategy name
    V7_IMAGES,  # an item's image, shown next to its text
    V8_STREAM_SEEN,  # what stream mode has let arrive: asked or passed (issue 16)
    V9_PAIR_TEXT,  # the second text of a sentence pair (issue 16)
    V10_LABEL_SETS,  # a multi-label decision is a set of labels (issue 21), not a combination
    V11_SPANS,  # span projects: an item's tokens, a decision's spans as rows (issue 18)
    V12_LABEL_DESCRIPTIONS,  # a label's description: its prototype text and tooltip (issue 17)
    V13_TEAMS,  # event identity and order across machines, annotators, training labels (19)
    V14_PACKAGE_ASSIGNMENTS,  # who each item was packed for, in which package (issue 19)
    V15_CLAIMS,  # which session holds which queued items, until when (issue 20)
    V16_PRESENCE_AND_ROUND_ORIGINS,  # who is connected; who trained each round (issue 20)
    V17_VECTOR_VERSIONS,  # a version per vector set: when a vector cache is stale (issue 20)
    V18_QUEUE_OVERLAP,  # overlap items wait for a second annotator's decision (issue 20)
    V19_QUEUE_PREDICTIONS,  # each queued item's prediction and two likeliest labels (20)
]
SCHEMA_VERSION = len(MIGRATIONS)
TEAMS_VERSION = MIGRATIONS.index(V13_TEAMS) + 1  # events carry identity; item_labels exists


def schema_version(conn: sqlite3.Connection | PgConnection) -> int:
    if isinstance(conn, PgConnection):
        return _server_version(conn)
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection | PgConnection, target: int = SCHEMA_VERSION) -> int:
    """Bring the file up to ``target``; returns the version it had before.

    Foreign keys are off while a migration runs (a rebuilt table is dropped while others still
    point at it: SQLite's own recipe for altering a table) and checked before it commits."""
    if isinstance(conn, PgConnection):
        return _migrate_server(conn, target)
    before = schema_version(conn)
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")  # outside a transaction, or it does nothing
    try:
        for version in range(before, target):
            conn.execute("BEGIN IMMEDIATE")
            try:
                # executescript would COMMIT first; statements one by one keep it atomic.
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                broken = conn.execute("PRAGMA foreign_key_check").fetchone()
                if broken is not None:
                    raise sqlite3.IntegrityError(
                        f"schema {version + 1}: a row of {broken[0]} points at nothing in "
                        f"{broken[2]}")
                conn.execute(f"PRAGMA user_version = {version + 1}")
                if version == 0:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
    finally:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")
    return before


# -- the same schema on a PostgreSQL server (issue 20) -------------------------------------------
#
# A server project is created at the current version from the SQLite schema itself, translated
# (store/pg_dialect.py), so the two cannot drift; later versions translate their migration the
# same way. The version and the application id live in ``alapp_meta`` (no PRAGMA there).


@functools.cache
def sqlite_schema(version: int = SCHEMA_VERSION) -> tuple[tuple[str, str], ...]:
    """``(name, sql)`` of every table and index of a new project file at ``version``, in
    creation order."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn, version)
        return tuple(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                                  "ORDER BY rowid"))
    finally:
        conn.close()


@functools.cache
def server_tables() -> Tables:
    return schema_tables(list(sqlite_schema()))


def _referenced_first(schema: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tables before the tables that reference them (PostgreSQL checks a reference when it is
    declared; SQLite's rebuilt tables come later in its own order); indexes last."""
    tables = {n: s for n, s in schema if s.lstrip().upper().startswith("CREATE TABLE")}
    done: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in done or name in seen or name not in tables:
            return
        for target in re.findall(r'REFERENCES\s+"?(\w+)"?', tables[name], re.IGNORECASE):
            visit(target, seen | {name})
        done.append(name)

    for name in tables:
        visit(name, frozenset())
    return [(n, tables[n]) for n in done] + [(n, s) for n, s in schema if n not in tables]


def _server_version(conn: PgConnection) -> int:
    try:
        row = conn.execute("SELECT value FROM alapp_meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # no such table: not (yet) a project
        conn.rollback()
        return 0
    return int(row[0]) if row else 0


def server_application_id(conn: PgConnection) -> int | None:
    try:
        row = conn.execute("SELECT value FROM alapp_meta WHERE key = 'application_id'").fetchone()
    except sqlite3.OperationalError:
        return None
    return int(row[0]) if row else None


def _migrate_server(conn: PgConnection, target: int) -> int:
    before = _server_version(conn)
    if before >= target:
        return before
    conn.execute("BEGIN IMMEDIATE")
    try:
        if before == 0:
            create_server_schema(conn, target)
        else:  # a server project of an older version: its later migrations, translated
            for version in range(before, target):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        conn.execute(table_ddl(statement))
            conn.execute("UPDATE alapp_meta SET value = ? WHERE key = 'schema_version'",
                         (str(target),))
    except BaseException:
        conn.rollback()
        raise
    conn.execute("COMMIT")
    return before


def create_server_schema(conn: PgConnection, target: int = SCHEMA_VERSION) -> None:
    """A new project's tables at ``target``, inside the caller's transaction (PostgreSQL's DDL
    is transactional: a project is created whole or not at all)."""
    conn.execute("CREATE TABLE alapp_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for statement in COMPAT_FUNCTIONS:
        conn.execute(statement)
    for _name, sql in _referenced_first(sqlite_schema(target)):
        conn.execute(table_ddl(sql))
    conn.execute("INSERT INTO identity (key, value) VALUES ('project_id', ?)",
                 (uuid.uuid4().hex,))
    conn.executemany("INSERT INTO alapp_meta (key, value) VALUES (?, ?)",
                     [("application_id", str(APPLICATION_ID)), ("schema_version", str(target))])
