"""Who else has the project open (issue 20): one row per app session, its heartbeat.

Each window and each ``alapp worker`` writes its row every ~30 s (through its writer) with
what it does ("labeling", "training", "waiting for labels"); a row not seen for
``SHOWN_FOR_S`` is not shown, and rows a day old are deleted by the next heartbeat. Times are
the database's clock (the server's, for a server project), so machines whose clocks disagree
still agree on who was seen when.
"""

from __future__ import annotations

from dataclasses import dataclass

from alapp.store.claims import clock
from alapp.store.project import Project

SHOWN_FOR_S = 120.0  # a session not seen for two minutes has gone (or lost its network)
FORGOTTEN_AFTER_S = 86_400.0  # rows of sessions gone for a day are deleted


@dataclass(frozen=True)
class Presence:
    session: str
    workstation: str
    annotator: str
    host: str
    role: str  # "gui" or "worker"
    activity: str  # "labeling", "training", "waiting for labels"...
    started_at: float
    last_seen: float
    age_s: float  # seconds since its last heartbeat, by the database's clock


def beat(project: Project, session: str, annotator: str, host: str, role: str,
         activity: str) -> float:
    """Write this session's heartbeat (one short transaction); returns its time."""
    now = clock(project)
    with project.transaction() as conn:
        row = conn.execute("SELECT started_at FROM presence WHERE session = ?",
                           (session,)).fetchone()
        conn.execute(
            "INSERT OR REPLACE INTO presence (session, workstation, annotator, host, role, "
            "activity, started_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session, project.workstation, annotator[:100], host[:100], role, activity[:100],
             now if row is None else row[0], now))
        conn.execute("DELETE FROM presence WHERE last_seen < ?", (now - FORGOTTEN_AFTER_S,))
    return now


def leave(project: Project, session: str) -> None:
    """This session closes: its row goes at once rather than after two minutes."""
    with project.transaction() as conn:
        conn.execute("DELETE FROM presence WHERE session = ?", (session,))


def present(project: Project, exclude: str | None = None,
            within_s: float = SHOWN_FOR_S) -> list[Presence]:
    """Sessions seen within ``within_s``, the most recently seen first; ``exclude``: the
    caller's own session."""
    now = clock(project)
    rows = project._conn.execute(
        "SELECT session, workstation, annotator, host, role, activity, started_at, last_seen "
        "FROM presence WHERE last_seen >= ? ORDER BY last_seen DESC, session",
        (now - within_s,)).fetchall()
    return [Presence(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]),
                     float(r[6]), float(r[7]), max(0.0, now - float(r[7])))
            for r in rows if r[0] != exclude]
