"""Several annotators at once on one project (issue 20): each session holds a disjoint window
of the queue, a dead session's items are free after its lease, and labels made by several
processes at once all land, none twice. PostgreSQL tests run on a real server (conftest)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alapp.al.batch import Pick
from alapp.app.session import LabelingSession
from alapp.core.errors import AlappError
from alapp.store import claims, queue, rounds
from alapp.store.importer import import_file
from alapp.store.project import Project

ROOT = Path(__file__).resolve().parents[1]


def _make(where, tmp_path: Path, items: int = 30, queued: int | None = None, **settings
          ) -> list[int]:
    """A project of ``items`` unlabeled texts with the first ``queued`` (all) of them queued
    (one round's batch)."""
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "".join(f"message number {i} about things\n"
                                         for i in range(items)), "utf-8")
    with Project.create(where, ["spam", "ham"], **settings) as project:
        import_file(project, source)
        ids = project.item_ids()
        _round(project, ids[:queued])
    return [int(i) for i in ids]


def _round(project: Project, picks) -> None:
    """A round as the app saves one (its model left out): ``picks`` become the new batch."""
    rounds.save_round(project, [Pick(i, 1.0 / (k + 1), False, "uncertainty")
                                for k, i in enumerate(picks)], "uncertainty", 0, None)


def _next_batch(project: Project, ids: list[int], size: int) -> list[int]:
    """The next ``size`` items nobody decided and the queue does not hold: what a strategy
    could pick (it only sees undecided items)."""
    taken = set(_deciders(project)) | {int(e.item_id) for e in queue.entries(project)}
    return [i for i in ids if i not in taken][:size]


def _session(where, annotator: str, workstation: str | None = None
             ) -> tuple[Project, LabelingSession]:
    project = Project.open(where, workstation=workstation)
    return project, LabelingSession.inline(project, annotator)


def _deciders(project: Project) -> dict[int, list[tuple[str, str]]]:
    """Each item's decisions as (annotator, workstation), in order."""
    out: dict[int, list[tuple[str, str]]] = {}
    for e in project.events():
        out.setdefault(int(e["item_id"]), []).append((e["annotator"], e["workstation"]))
    return out


def test_two_sessions_see_disjoint_windows_and_label_without_clash(pg_address, tmp_path):
    ids = _make(pg_address, tmp_path, items=12, claim_window=3)
    pa, anna = _session(pg_address, "anna")
    pb, boris = _session(pg_address, "boris")
    try:
        assert [e.item_id for e in anna.queue()] == ids  # nobody else holds anything yet
        first_b = [e.item_id for e in boris.queue()]
        first_a = [e.item_id for e in anna.queue()]
        # each shows its own window first; the other's window is hidden from it
        assert first_a[:3] == ids[:3] and first_b[:3] == ids[3:6]
        assert first_a == ids[:3] + ids[6:] and first_b == ids[3:]
        held = {c["item_id"]: c["annotator"] for c in claims.live_claims(pa)}
        assert held == {**dict.fromkeys(ids[:3], "anna"), **dict.fromkeys(ids[3:6], "boris")}
        # they take turns; every label lands, no item is shown to both
        shown: list[tuple[str, int]] = []
        for _ in range(6):
            for who in (anna, boris):
                entry = who.current()
                if entry is None:
                    continue
                shown.append((who.annotator, int(entry.item_id)))
                who.label(entry, "spam", 900, None)
        items = [i for _, i in shown]
        assert sorted(items) == ids and len(set(items)) == 12
        assert anna.current() is None and boris.current() is None
        events = pa.events()
        assert len(events) == 12 and {(e["annotator"], e["item_id"]) for e in events} == set(shown)
        assert claims.live_claims(pa) == []  # each label released its claim
    finally:
        anna.close(), boris.close(), pa.close(), pb.close()


def test_an_expired_lease_frees_its_items_and_close_releases_at_once(pg_address, tmp_path):
    ids = _make(pg_address, tmp_path, items=8, claim_window=2, claim_lease_s=1.0)
    pa, anna = _session(pg_address, "anna")
    pb, boris = _session(pg_address, "boris")
    try:
        assert [e.item_id for e in anna.queue()][:2] == ids[:2]  # anna holds 0, 1
        on_annas_screen = anna.current()
        assert [e.item_id for e in boris.queue()][:2] == ids[2:4]
        time.sleep(1.3)  # anna's app stops renewing (a script renews only when it acts)
        # boris's lease ran out too: his look renews his own; anna's two are free again
        seen = [e.item_id for e in boris.queue()]
        assert seen[:2] == ids[2:4] and seen[2:4] == ids[:2]
        assert {c["annotator"] for c in claims.live_claims(pb)} == {"boris"}
        entry = boris.current()
        boris.label(entry, "ham", 700, None)  # the refill takes anna's old items
        assert sorted(c["item_id"] for c in claims.live_claims(pb)) == [ids[0], ids[3]]
        # anna comes back: her first item is boris's now; her decision on it is refused
        with pytest.raises(AlappError, match=r"being labeled by boris on .*nothing was written"):
            anna.label(on_annas_screen, "spam", 9000, None)
        assert len(pa.events()) == 1
        # she gets the free ones in order
        assert [e.item_id for e in anna.queue()] == [ids[1], ids[4], ids[5], ids[6], ids[7]]
        assert [e.item_id for e in boris.queue()] == [ids[0], ids[3], *ids[5:]]
        anna.close()  # closing gives back her window at once, no lease to wait for
        assert {c["annotator"] for c in claims.live_claims(pb)} == {"boris"}
        assert [e.item_id for e in boris.queue()] == [ids[0], ids[3], ids[1], *ids[4:]]
    finally:
        boris.close(), pa.close(), pb.close()


def test_an_open_app_keeps_its_items_beyond_the_lease(pg_address, tmp_path):
    """The app (a session with its writer thread) renews while it is open."""
    ids = _make(pg_address, tmp_path, items=6, claim_window=2, claim_lease_s=1.0)
    app = LabelingSession(pg_address, "anna")
    pb, boris = _session(pg_address, "boris")
    try:
        assert [e.item_id for e in app.queue()][:2] == ids[:2]
        time.sleep(2.5)  # 2.5 leases: only renewals keep them
        assert [e.item_id for e in boris.queue()] == ids[2:]
        entry = app.current()
        assert entry is not None and entry.item_id == ids[0]
        app.label(entry, "spam", 500, None)
        assert [e.item_id for e in app.queue()][:2] == [ids[1], ids[4]]
    finally:
        app.close()
    assert [e.item_id for e in boris.queue()][:4] == [ids[2], ids[3], ids[1], ids[4]]
    boris.close(), pb.close()


def test_undo_brings_the_item_back_to_the_same_session(pg_address, tmp_path):
    ids = _make(pg_address, tmp_path, items=6, claim_window=1)
    pa, anna = _session(pg_address, "anna")
    pb, boris = _session(pg_address, "boris")
    try:
        entry = anna.current()
        assert entry is not None and entry.item_id == ids[0]
        anna.label(entry, "spam", 500, None)
        assert boris.current().item_id == ids[2]  # anna's refill took ids[1]
        anna.undo()
        assert anna.current().item_id == ids[0]
        assert ids[0] not in [e.item_id for e in boris.queue()]
    finally:
        anna.close(), boris.close(), pa.close(), pb.close()


# -- the overlap share: items two annotators decide (claim_overlap) ---------------------------


def _kappa(pairs: list[tuple[str, str]]) -> float:
    """Cohen's kappa of two annotators' labels on the same items, by its definition."""
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    labels = {x for pair in pairs for x in pair}
    expected = sum((sum(a == k for a, _ in pairs) / n) * (sum(b == k for _, b in pairs) / n)
                   for k in labels)
    return (observed - expected) / (1 - expected)


def test_overlap_items_are_labeled_by_two_annotators_and_counted_in_kappa(pg_address,
                                                                           tmp_path):
    """claim_overlap=20: a fifth of the batch, spread through it, stays queued until two
    different annotators decided it; anna on a second workstation is still anna."""
    from alapp.app.team import team_report

    ids = _make(pg_address, tmp_path, items=30, claim_window=2, claim_overlap=20)
    pa, anna = _session(pg_address, "anna", "anna-desk")
    pa2, anna2 = _session(pg_address, "anna", "anna-laptop")
    pb, boris = _session(pg_address, "boris", "boris-desk")
    sessions = (anna, anna2, boris)
    try:
        queued = anna.queue()
        shared = [int(e.item_id) for e in queued if e.overlap]
        assert len(shared) == 6  # 20% of 30, one in each sixth of the batch
        assert [sum(i in shared for i in ids[k:k + 5]) for k in range(0, 30, 5)] == [1] * 6
        flipped = None
        for _ in range(40):  # take turns until nobody is shown anything
            shown = 0
            for who in sessions:
                entry = who.current()
                if entry is None:
                    continue
                shown += 1
                assert entry.decided_by != who.annotator
                label = "spam" if entry.item_id % 2 else "ham"
                if who is boris and entry.decided_by == "anna" and flipped is None:
                    flipped = int(entry.item_id)  # boris disagrees with anna once
                    label = "ham" if label == "spam" else "spam"
                who.label(entry, label, 400, None)
            if not shown:
                break
        assert all(who.current() is None for who in sessions)
        assert not queue.has_entries(pa) and claims.live_claims(pa) == []
        deciders = _deciders(pa)
        assert sorted(deciders) == ids
        for item, made in deciders.items():
            people = [a for a, _ in made]
            # overlap items: two events by two different people; all others: one event
            assert sorted(people) == (["anna", "boris"] if item in shared else people[:1]), item
        assert {w for made in deciders.values() for a, w in made if a == "anna"} == \
            {"anna-desk", "anna-laptop"}  # both of anna's workstations labeled
        # the training label follows the rule for several votes: a tie (majority) is disputed
        assert flipped in shared and pa.disputed() == {flipped}
        labels = pa.current_labels()
        assert all(labels[i] == ("spam" if i % 2 else "ham") for i in shared if i != flipped)
        # the team report sees exactly the overlap items as overlap, and kappa over them
        report = team_report(pa, boot=50)
        assert report.items_overlap == 6 and report.items_single == 24
        (pair,) = report.pairs
        assert (pair.first, pair.second, pair.shared) == ("anna", "boris", 6)
        votes = {(int(e["item_id"]), e["annotator"]): e["label"] for e in pa.events()}
        expected = _kappa([(votes[i, "anna"], votes[i, "boris"]) for i in shared])
        assert pair.value.value == pytest.approx(expected)
    finally:
        for who in sessions:
            who.close()
        pa.close(), pa2.close(), pb.close()


def test_a_second_annotator_keeps_an_overlap_item_the_first_one_changes(pg_address, tmp_path):
    """anna labels an overlap item, boris claims it; anna changing her label (history) is
    still her one decision: the item stays queued and boris keeps his claim on it."""
    ids = _make(pg_address, tmp_path, items=10, claim_window=1, claim_overlap=20)
    pa, anna = _session(pg_address, "anna")
    pb, boris = _session(pg_address, "boris")
    try:
        first = next(e.item_id for e in anna.queue() if e.overlap)
        while (entry := anna.current()).item_id != first:
            anna.label(entry, "ham", 300, None)
        anna.label(entry, "ham", 300, None)
        assert boris.current().item_id == first  # the first free item: waiting for him
        anna.relabel(first, "spam")
        assert [c["annotator"] for c in claims.live_claims(pb) if c["item_id"] == first] == \
            ["boris"]
        assert first not in [e.item_id for e in anna.queue()]
        boris.label(boris.current(), "spam", 300, None)
        assert [a for a, _ in _deciders(pa)[int(first)]] == ["anna", "anna", "boris"]
        assert first not in [e.item_id for e in queue.entries(pa)]
        assert pa.current_labels()[first] == "spam" and len(ids) == 10
    finally:
        anna.close(), boris.close(), pa.close(), pb.close()


def test_an_overlap_item_undone_skipped_forever_or_left_by_one_annotator(tmp_path):
    """On a file (one writer) with claim_overlap: undo gives the annotator their overlap item
    back; "never ask again" takes it off for everyone; a single annotator is never kept waiting
    for a second one: the batch ends for them, and what waits leaves after a few rounds."""
    where = tmp_path / "p.alapp"
    ids = _make(where, tmp_path, items=10, claim_window=2, claim_overlap=20)
    with Project.open(where) as project:
        ana = LabelingSession.inline(project, "ana")
        shared = [e.item_id for e in ana.queue() if e.overlap]
        assert len(shared) == 2
        while (entry := ana.current()) is not None and entry.item_id != shared[0]:
            ana.label(entry, "ham", 300, None)
        ana.label(entry, "spam", 300, None)  # the first overlap item: it waits for another
        assert shared[0] not in [e.item_id for e in ana.queue()]
        assert [e.decided_by for e in queue.entries(project) if e.item_id == shared[0]] == \
            ["ana"]
        ana.undo()  # back at the front, hers to decide again
        assert ana.current().item_id == shared[0]
        ana.label(ana.current(), "ham", 300, None)
        while (entry := ana.current()) is not None:
            if entry.item_id == shared[1]:
                ana.skip(entry, 300, None, forever=True)  # off for everyone
            else:
                ana.label(entry, "ham", 300, None)
        # every item decided once by ana; the batch is done for her and a round is due
        assert sorted(int(i) for i in _deciders(project)) == ids
        assert ana.retrain_due() and queue.has_entries(project)
        waiting = [(e.item_id, e.decided_by) for e in queue.entries(project)]
        assert waiting == [(shared[0], "ana")]
        # a second annotator on the same file gets exactly the item waiting for her
        ana.close()
        bea = LabelingSession.inline(project, "bea")
        assert [e.item_id for e in bea.queue()] == [shared[0]]
        assert not bea.retrain_due()
        # rounds carry it, at the front, through OVERLAP_WAIT_ROUNDS; then it leaves with its
        # one label (nobody holds it): nobody waits for ever
        bea.claims.release()
        for made in range(queue.OVERLAP_WAIT_ROUNDS + 1):
            rounds.save_round(project, [Pick(ids[0], 0.5, False, "uncertainty")],
                              "uncertainty", 0, None)
            carried = made < queue.OVERLAP_WAIT_ROUNDS
            assert [e.item_id for e in queue.entries(project)] == [shared[0]] * carried + \
                [ids[0]]
        bea.close()


@pytest.fixture(params=["file", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path):
    """A project's address: a file, or a new database on the test session's server."""
    if request.param == "file":
        return tmp_path / "p.alapp"
    return request.getfixturevalue("pg_address")


def test_overlap_items_waiting_for_a_second_annotator_outlive_rounds(where, tmp_path):
    """claim_overlap=20 with a round every 10 labels (batches of 10): an overlap item one
    annotator decided is carried into the next batches until the other decides it, so every
    such item ends with two different people's labels, and no one is shown an item twice."""
    ids = _make(where, tmp_path, items=60, queued=10, claim_window=1, claim_overlap=20)
    pa, anna = _session(where, "anna")
    # a file has one writer: both annotators' sessions on it (the same code as two apps)
    pb, boris = (pa, LabelingSession.inline(pa, "boris")) if isinstance(where, Path) else \
        _session(where, "boris")
    shown: dict[str, list[int]] = {"anna": [], "boris": []}
    waited: set[int] = set()  # overlap items seen decided once, at some round
    try:
        for turn in range(200):
            who = (anna, boris)[turn % 3 == 2]  # anna labels twice as fast as boris
            entry = who.current()
            if entry is not None:
                shown[who.annotator].append(int(entry.item_id))
                who.label(entry, "spam" if entry.item_id % 2 else "ham", 400, None)
            labeled_ten = entry is not None and len(pa.events()) % 10 == 0
            if labeled_ten or (anna.current() is None and boris.current() is None):
                waited |= {int(e.item_id) for e in queue.entries(pa) if e.decided_by}
                for session in (anna, boris):  # nobody holds an item at the round: what
                    session.claims.release()  # waits stays by the carry, not by a claim
                _round(pa, _next_batch(pa, ids, 10))
                if not queue.has_entries(pa):
                    break
        assert not queue.has_entries(pa)
        for name, items in shown.items():
            assert len(items) == len(set(items)), name  # nobody sees an item twice
        deciders = _deciders(pa)
        assert sorted(deciders) == ids  # everything labeled
        twice = {i for i, made in deciders.items() if len(made) == 2}
        assert all(len(made) <= 2 for made in deciders.values())
        assert all({a for a, _ in deciders[i]} == {"anna", "boris"} for i in twice)
        # each overlap item decided once got its second label, across rounds; none lost
        assert waited and waited <= twice
    finally:
        anna.close(), boris.close(), pa.close(), pb.close()


def test_one_annotator_alone_with_rounds_is_never_held_up_by_overlap(where, tmp_path):
    """One annotator, claim_overlap=20, a round whenever her batch is done: the items she
    decided wait at most OVERLAP_WAIT_ROUNDS rounds and take the new batches' overlap places,
    so the queue stays within a batch and its share; she never sees an item twice."""
    ids = _make(where, tmp_path, items=60, queued=10, claim_window=2, claim_overlap=20)
    project, ana = _session(where, "ana")
    shown: list[int] = []
    try:
        for _round_made in range(60):
            while (entry := ana.current()) is not None:
                shown.append(int(entry.item_id))
                ana.label(entry, "ham", 300, None)
            assert ana.retrain_due()
            ana.claims.release()
            _round(project, _next_batch(project, ids, 10))
            queued = queue.entries(project)
            waiting = [e for e in queued if e.decided_by]
            assert all(e.decided_by == "ana" for e in waiting)
            assert len(waiting) <= 2 and len(queued) <= 10 + 2  # the share of a batch of 10
            assert sum(e.overlap for e in queued) <= 2
            if not queued:
                break
        assert not queue.has_entries(project)
        assert sorted(shown) == ids  # each item shown once, all of them
        assert sorted(_deciders(project)) == ids and len(project.events()) == 60
    finally:
        ana.close(), project.close()


def test_on_a_file_claims_are_bookkeeping_of_the_one_writer(tmp_path):
    """SQLite: the same code; a claim left by a crashed earlier session hides nothing."""
    where = tmp_path / "p.alapp"
    ids = _make(where, tmp_path, items=5, claim_window=2)
    with Project.open(where) as project:
        session = LabelingSession.inline(project, "anna")
        assert [e.item_id for e in session.queue()] == ids
        session.claims.release = lambda: None  # type: ignore[method-assign]  # a crash
        session.reader.close()
    with Project.open(where) as project:
        session = LabelingSession.inline(project, "anna")
        assert [e.item_id for e in session.queue()] == ids  # the stale claims are dropped
        for _ in ids:
            session.label(session.current(), "ham", 300, None)
        assert session.current() is None and len(project.events()) == 5
        session.close()
        assert claims.live_claims(project) == []
    with Project.open(where, read_only=True) as reader, pytest.raises(AlappError,
                                                                    match="read-only"):
        claims.refill(reader, claims.ClaimRequest(claims.Holder("x", "w", "a"), 2, 10.0))
    with pytest.raises(AlappError, match="window of at least 1"):
        claims.ClaimRequest(claims.Holder("x", "w", "a"), 0, 10.0)


# -- three processes at once (the concurrency test) ----------------------------------

WORKER = textwrap.dedent("""
    import json, os, sys, time
    from alapp.app.session import LabelingSession
    from alapp.core.errors import AlappError
    from alapp.store import queue
    from alapp.store.project import Project

    address, annotator, pause_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    go = sys.argv[4] if len(sys.argv) > 4 else ""
    project = Project.open(address)
    session = LabelingSession.inline(project, annotator)
    if go:  # started and connected: wait for the others, so all begin together
        print(json.dumps({"ready": annotator}), flush=True)
        while not os.path.exists(go):
            time.sleep(0.02)
    made = 0
    while True:
        entry = session.current()
        if entry is None:
            if not queue.has_entries(session.reader, annotator):
                break  # nothing left this annotator may decide: all done
            time.sleep(0.1)  # what is left is held by others: wait for a label or a lease
            continue
        if made == pause_after:  # mid-batch: holds its window, then hangs until killed
            view = session.claims.view
            print(json.dumps({"paused": [int(i) for i in view.mine],
                              "expires_at": view.expires_at}), flush=True)
            time.sleep(600)
        label = "spam" if entry.item_id % 2 else "ham"
        try:
            session.label(entry, label, 100, None)
        except AlappError as e:  # stalled past the lease, and the item went to another
            print(json.dumps({"refused": int(entry.item_id), "why": str(e)}), flush=True)
            continue
        made += 1
        print(json.dumps({"labeled": int(entry.item_id)}), flush=True)
    print(json.dumps({"done": made}), flush=True)
""")


@pytest.mark.parametrize("overlap", [0, 20])
def test_three_processes_label_at_once_and_a_killed_one_frees_its_claims(pg_address, tmp_path,
                                                                        overlap):
    """With ``claim_overlap`` 20, the overlap items are labeled by two different annotators,
    every other item once."""
    ids = _make(pg_address, tmp_path, items=60, claim_window=3, claim_lease_s=2.0,
                claim_overlap=overlap)
    with Project.open(pg_address, read_only=True) as project:
        shared = {int(e.item_id) for e in queue.entries(project) if e.overlap}
    assert len(shared) == 60 * overlap // 100
    script = tmp_path / "annotator.py"
    script.write_text(WORKER, "utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    go = tmp_path / "go"  # the two others start labeling together, once both are connected

    def start(name: str, pause_after: int, wait_for: str = "") -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(script), pg_address, name,
                                 str(pause_after), wait_for], stdout=subprocess.PIPE,
                                text=True, env={**env, "ALAPP_WORKSTATION_ID": f"ws-{name}"})

    victim = start("vera", 4)  # labels four, then hangs holding its window
    paused = json.loads(victim.stdout.readline() if victim.stdout else "{}")
    lines = [paused]
    while "paused" not in lines[-1]:
        lines.append(json.loads(victim.stdout.readline()))  # type: ignore[union-attr]
    held = lines[-1]["paused"]
    paused_at = time.monotonic()  # its lease runs out about 2 s from here (its last renewal)
    assert len(held) == 3
    others = [start("anna", -1, str(go)), start("boris", -1, str(go))]
    # a slow start (imports on a loaded machine) would let one of them label everything
    assert [json.loads(p.stdout.readline()) for p in others  # type: ignore[union-attr]
            ] == [{"ready": "anna"}, {"ready": "boris"}]
    go.write_text("", "utf-8")
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)  # kill -9 mid-batch: no release, no goodbye
    victim.wait()
    outputs = [p.communicate(timeout=120)[0] for p in others]
    took = time.monotonic() - paused_at
    assert all(p.returncode == 0 for p in others), outputs
    made_by_victim = [d["labeled"] for d in lines if "labeled" in d]
    made = made_by_victim[:]
    for out in outputs:
        records = [json.loads(line) for line in out.splitlines()]
        labeled = [r["labeled"] for r in records if "labeled" in r]
        assert records[-1] == {"done": len(labeled)} and labeled
        made += labeled
    # every item labeled once, the overlap items twice: none more, none left; the victim's
    # window included
    assert sorted(made) == sorted(ids + sorted(shared)) and len(made_by_victim) == 4
    assert set(held) <= set(made) - set(made_by_victim)
    assert took >= 2.0 - 0.5  # its window waited for the lease, not for a release
    with Project.open(pg_address, read_only=True) as project:
        events = project.events()
        assert len(events) == len(made) == 60 + len(shared)  # no event lost
        for item, made_on in _deciders(project).items():  # two different people, or one
            assert len({a for a, _ in made_on}) == len(made_on) == 1 + (item in shared)
        assert {e["annotator"] for e in events if e["item_id"] in held} <= {"anna", "boris"}
        # the killed window waited for its lease (one clock: the server runs on this machine)
        assert min(e["submitted_at"] for e in events if e["item_id"] in held) \
            >= lines[-1]["expires_at"] - 0.01
        assert len({(e["workstation"], e["seq"]) for e in events}) == len(events)
        assert claims.live_claims(project) == [] and not queue.has_entries(project)


def test_a_round_keeps_a_claimed_random_share_item_once(tmp_path) -> None:
    """A random-share item another session holds stays in the queue through a round (issue
    20); the round's own random pick carries it rather than adding it a second time."""
    from alapp.al.batch import Pick
    from alapp.store import queue
    from alapp.store.importer import import_file
    from alapp.store.project import Project
    from alapp.store.rounds import save_round

    source = tmp_path / "in.txt"
    source.write_text("".join(f"text {i}\n" for i in range(12)), "utf-8")
    with Project.create(tmp_path / "p.alapp", ["a", "b"]) as project:
        import_file(project, source)
        ids = project.item_ids()
        first = [Pick(ids[0], 0.9, False, "margin"), Pick(ids[5], None, True, "random share")]
        round_id = save_round(project, first, "margin", 0, None)
        with project.transaction() as conn:
            conn.execute("INSERT INTO claims (item_id, holder, workstation, annotator, "
                         "claimed_at, expires_at) VALUES (?, 's2', 'ws2', 'ana', 0, 1e12)",
                         (ids[5],))
        second = [Pick(ids[1], 0.8, False, "margin"), Pick(ids[7], None, True, "random share")]
        with project.transaction() as conn:
            queue.replace_batch(conn, round_id, second, None, keep_claimed=True)
            queued = [r[0] for r in conn.execute("SELECT item_id FROM queue ORDER BY position")]
    assert sorted(queued) == sorted([ids[5], ids[1]])  # the held random item once, the new pick


def test_a_rounds_read_on_a_server_does_not_hold_up_labels(pg_address, tmp_path):
    """A round reads its snapshot in a read-only snapshot transaction without the project's
    writer lock (a million items take seconds to read): a label made meanwhile on another
    workstation lands at once, and the snapshot does not see it."""
    import threading

    from alapp.store.postgres import begin_read

    ids = _make(pg_address, tmp_path, items=8)
    reader = Project.open(pg_address, read_only=True)
    writer = Project.open(pg_address, workstation="ws-2")
    try:
        begin_read(reader._conn)  # what rounds.read_for_round and the vector cache open
        seen_before = len(reader._conn.execute("SELECT * FROM label_events").fetchall())
        done = threading.Event()

        def label() -> None:
            writer.label_item(ids[0], "spam", "boris")
            done.set()

        thread = threading.Thread(target=label, daemon=True)
        thread.start()
        assert done.wait(20), "a label waited for a round's read transaction"
        assert len(reader._conn.execute("SELECT * FROM label_events").fetchall()) == seen_before
        reader._conn.execute("COMMIT")
        assert len(reader._conn.execute("SELECT * FROM label_events").fetchall()) == seen_before + 1
        rows = rounds.read_for_round(reader)  # and a whole round's read still works
        assert len(rows.ids) == 8 and rows.current == {ids[0]: "spam"}
    finally:
        reader.close()
        writer.close()


def test_a_setting_changed_on_another_workstation_reaches_an_open_session(
        pg_address, tmp_path, monkeypatch):
    """On a server another workstation may change the settings (the claims' window, the
    budget, the guidelines): an open session reads them again once they are
    SERVER_SETTINGS_TTL_S old (0 here, so the next call reads them)."""
    from alapp.app import session as session_module

    _make(pg_address, tmp_path, items=8, claim_window=2)
    pa, anna = _session(pg_address, "anna")
    pb, boris = _session(pg_address, "boris", "ws-2")
    try:
        assert boris.settings().claim_window == 2
        anna.update_settings(claim_window=5, budget_amount=3.0)
        assert boris.settings().claim_window == 2  # kept while fresh (the default TTL)
        monkeypatch.setattr(session_module, "SERVER_SETTINGS_TTL_S", 0.0)
        assert boris.settings().claim_window == 5
        assert boris.settings().budget_amount == 3.0
        assert boris.claims.window == 5
    finally:
        anna.close()
        boris.close()
        pa.close()
        pb.close()
