"""Issue 20: one trainer at a time on a server project (the trainer lock), ``alapp worker``
and who else is connected (presence), on a real PostgreSQL server."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from alapp import cli
from alapp.app.presence import Heartbeat, also_labeling
from alapp.app.rounds import RoundJob, pick_up, save_result
from alapp.app.session import LabelingSession
from alapp.core.progress import Progress
from alapp.loop.round import RoundResult
from alapp.store import presence, trainer
from alapp.store.importer import import_file
from alapp.store.project import Project
from alapp.store.queue import QueueEntry, entries
from alapp.store.rounds import latest_model
from alapp.store.trainer import RoundOrigin, TrainerLock


def _labeled_project(where: object, tmp_path: Path, rows: int = 30, labeled: int = 10) -> None:
    source = tmp_path / "in.csv"
    lines = ["text,label"] + [
        f"{'refund my card payment' if i % 2 else 'lunch menu for friday'} number {i},"
        f"{('money' if i % 2 else 'food') if i < labeled else ''}" for i in range(rows)]
    source.write_text("\n".join(lines) + "\n", "utf-8")
    with Project.create(where, ["money", "food"], featurizer="tfidf", batch_size=5) as project:
        import_file(project, source)


def test_the_trainer_lock_excludes_a_second_trainer(pg_address) -> None:
    with Project.create(pg_address, ["a", "b"]):
        pass
    with Project.open(pg_address) as one, Project.open(pg_address) as two:
        first, second = TrainerLock(one), TrainerLock(two)
        try:
            assert not trainer.someone_trains(one)
            assert first.try_take() and first.try_take()  # held: taking it again is a no-op
            assert not second.try_take()
            assert trainer.someone_trains(two)
            first.release()
            assert not trainer.someone_trains(two)
            assert second.try_take() and not first.try_take()
            second.close()  # a trainer whose connection ends (a crash) lets go of it
            assert first.try_take()
        finally:
            first.close()
            second.close()


def test_a_project_file_needs_no_trainer_lock(tmp_path) -> None:
    with Project.create(tmp_path / "p.alapp", ["a", "b"]) as project, \
            TrainerLock(project) as lock:
        assert lock.try_take() and not trainer.someone_trains(project)


def test_worker_once_saves_a_model_version_another_session_sees(pg_address, tmp_path,
                                                                  capsys) -> None:
    _labeled_project(pg_address, tmp_path)
    assert cli.main(["worker", pg_address, "--once", "--min-new-labels", "5"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("round 1: 10 labels (10 new)")
    assert "batch of 5 by" in out[0]
    with Project.open(pg_address, read_only=True) as other:  # another machine's view
        model = latest_model(other)
        assert model is not None and model.n_labeled == 10 and model.weights
        newest = trainer.newest_round(other)
        assert newest is not None and newest.model_version == model.version
        assert newest.origin is not None and newest.origin.trained_by == "worker"
        assert newest.origin.last_event == trainer.last_event(other) == 10
        assert len(entries(other)) == 5
        assert trainer.new_labels(other) == 0
        assert presence.present(other) == []  # the worker left: its row went with it
        queued = entries(other)[0].item_id
    # no new labels: nothing to do, no round
    assert cli.main(["worker", pg_address, "--once", "--min-new-labels", "1"]) == 0
    assert "0 new labels since the last round" in capsys.readouterr().out
    with Project.open(pg_address) as annotator:
        annotator.label_item(queued, "food", "ana")
        assert trainer.new_labels(annotator) == 1
    assert cli.main(["worker", pg_address, "--once", "--min-new-labels", "1"]) == 0
    assert capsys.readouterr().out.startswith("round 2: 11 labels (1 new)")
    with Project.open(pg_address, read_only=True) as other:
        assert latest_model(other).n_labeled == 11  # type: ignore[union-attr]


def test_worker_on_a_file_a_window_holds_is_refused(tmp_path, capsys) -> None:
    path = tmp_path / "p.alapp"
    _labeled_project(path, tmp_path)
    with Project.open(path):  # a window has it open
        assert cli.main(["worker", str(path), "--once"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "p.alapp" in err
    assert cli.main(["worker", str(path), "--once", "--min-new-labels", "3"]) == 0
    assert capsys.readouterr().out.startswith("round 1: 10 labels (10 new)")


def test_worker_stops_between_steps(pg_address, tmp_path) -> None:
    """Stopped while it waits for labels, it returns at once, writing nothing more."""
    from alapp.app.worker import Worker, WorkerOptions

    _labeled_project(pg_address, tmp_path, labeled=2)
    lines: list[str] = []
    worker = Worker(pg_address, WorkerOptions(min_new_labels=50, poll_s=30), say=lines.append)
    thread = threading.Thread(target=worker.run, daemon=True)
    started = time.perf_counter()
    thread.start()
    try:
        with Project.open(pg_address, read_only=True) as other:
            deadline = time.time() + 20
            while not presence.present(other) and time.time() < deadline:
                time.sleep(0.05)
            seen = presence.present(other)
            assert [(p.annotator, p.role, p.activity) for p in seen] == [
                ("worker", "worker", "waiting for labels")]
            worker.stop()
            thread.join(10)
            assert not thread.is_alive() and time.perf_counter() - started < 15
            assert worker.rounds == 0 and lines == [] and trainer.newest_round(other) is None
            assert presence.present(other) == []
    finally:
        worker.stop()
        thread.join(10)


def test_worker_options_are_checked(pg_address, capsys) -> None:
    assert cli.main(["worker", pg_address, "--min-new-labels", "0"]) == 2
    assert "--min-new-labels 0" in capsys.readouterr().err


def test_a_session_waits_for_the_trainers_round_and_takes_it(pg_address, tmp_path) -> None:
    """The window's round on a server project where the worker holds the trainer lock: it
    trains nothing, waits, and shows the worker's model version when it is saved."""
    _labeled_project(pg_address, tmp_path)
    other = Project.open(pg_address)
    lock = TrainerLock(other)
    assert lock.try_take()
    session = LabelingSession(pg_address, "ana")
    try:
        job = RoundJob(session)
        stages: list[str] = []
        out: list[RoundResult] = []
        thread = threading.Thread(target=lambda: out.append(job(Progress(
            lambda stage, _: stages.append(stage)))))
        thread.start()
        time.sleep(1.5)
        assert thread.is_alive() and not out  # waiting, not training
        assert stages and stages[0].endswith("is training; its model is used when it is saved")
        from alapp.app.rounds import snapshot_of
        from alapp.loop.round import RoundRunner

        result = RoundRunner().run(snapshot_of(other))
        save_result(other, result, origin=RoundOrigin("gpu-worker", "gpu-box", 10))
        lock.release()
        thread.join(30)
        assert out and out[0].n_labeled == 10 and out[0].notes == [
            "trained by gpu-worker on gpu-box"]
        assert out[0].model_kind == result.model_kind and out[0].metrics == \
            result.stored_metrics()
        assert trainer.newest_round(session.reader).round_id == 1  # type: ignore[union-attr]
        # free again: the window's next round trains itself
        mine = job(Progress())
        assert mine.model_kind and trainer.newest_round(session.reader).origin == \
            RoundOrigin("ana", trainer_host(), 10)  # type: ignore[union-attr]
    finally:
        session.close()
        lock.close()
        other.close()


def trainer_host() -> str:
    from alapp.app.presence import host_name

    return host_name()


def test_presence_rows_appear_and_expire(pg_address) -> None:
    with Project.create(pg_address, ["a", "b"]):
        pass
    with Project.open(pg_address) as one, Project.open(pg_address) as two:
        presence.beat(one, "s1", "Ana", "laptop-1", "gui", "labeling")
        presence.beat(two, "s2", "worker", "gpu-box", "worker", "training")
        seen = presence.present(two, exclude="s2")
        assert [(p.annotator, p.host, p.role) for p in seen] == [("Ana", "laptop-1", "gui")]
        assert 0 <= seen[0].age_s < 5
        assert also_labeling(presence.present(one, exclude="s1")) == \
            "Also labeling: worker on gpu-box (training)"
        with two.transaction() as conn:  # Ana's app was last seen three minutes ago
            conn.execute("UPDATE presence SET last_seen = last_seen - 180 WHERE session = 's1'")
        assert [p.session for p in presence.present(two)] == ["s2"]
        assert presence.present(two, within_s=600)[1].age_s == pytest.approx(180, abs=5)
        presence.beat(one, "s1", "Ana", "laptop-1", "gui", "labeling")  # back again
        assert {p.session for p in presence.present(two)} == {"s1", "s2"}
        presence.leave(two, "s2")
        assert [p.session for p in presence.present(one)] == ["s1"]
        with one.transaction() as conn:  # gone for over a day: the next heartbeat deletes it
            conn.execute("UPDATE presence SET last_seen = last_seen - 90000")
        presence.beat(two, "s3", "Bo", "laptop-2", "gui", "labeling")
        assert [p.session for p in presence.present(one, within_s=10**6)] == ["s3"]


def test_the_status_line_wording() -> None:
    def row(name: str, host: str, role: str, activity: str, age: float) -> presence.Presence:
        return presence.Presence(name, "ws", name, host, role, activity, 0.0, 0.0, age)

    assert also_labeling([]) == ""
    assert also_labeling([row("Ana", "l1", "gui", "labeling", 100),
                          row("worker", "gpu-box", "worker", "training", 3)]) == \
        "Also labeling: Ana (2 min ago), worker on gpu-box (training)"
    assert also_labeling([row("Ana", "l1", "gui", "labeling", 10),
                          row("Ana", "l2", "gui", "labeling", 50)]) == \
        "Also labeling: Ana on l1 (now), Ana on l2 (1 min ago)"


def test_each_session_beats_and_leaves(pg_address, tmp_path) -> None:
    """Two app sessions on one server project see each other; a closed one is gone."""
    _labeled_project(pg_address, tmp_path)
    ana = LabelingSession(pg_address, "Ana")
    bo = LabelingSession(pg_address, "Bo")
    try:
        assert isinstance(ana.presence, Heartbeat) and isinstance(bo.presence, Heartbeat)
        deadline = time.time() + 10
        while not (ana.presence.line() and bo.presence.line()) and time.time() < deadline:
            time.sleep(0.05)
        assert ana.presence.line() == "Also labeling: Bo (now)"
        assert bo.presence.line() == "Also labeling: Ana (now)"
    finally:
        bo.close()
    try:
        assert ana.presence.line() == ""
    finally:
        ana.close()


def test_sigterm_stops_the_worker_process_cleanly(pg_address, tmp_path) -> None:
    """``alapp worker`` as its own process, waiting for labels: SIGTERM ends it at once with
    exit 0, its presence row gone; a round then finds the project as it was."""
    import os
    import signal
    import subprocess
    import sys

    _labeled_project(pg_address, tmp_path, labeled=2)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [sys.executable, "-m", "alapp", "worker", pg_address, "--min-new-labels", "50",
         "--poll", "30"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        with Project.open(pg_address, read_only=True) as other:
            deadline = time.time() + 60
            while not presence.present(other) and time.time() < deadline:
                assert process.poll() is None, process.communicate()
                time.sleep(0.1)
            assert [p.role for p in presence.present(other)] == ["worker"]
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
            assert process.returncode == 0, err
            assert err.strip().splitlines()[-1] == "alapp worker: stopping (SIGTERM)"
            assert out == "" and presence.present(other) == []
            assert trainer.newest_round(other) is None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_worker_outlives_a_server_that_refuses_it_for_a_while(pg_address, tmp_path) -> None:
    """The server ends the worker's connections and refuses new ones for a while (a restart,
    an administrator): the worker says so in one line, tries again every poll, and once the
    database takes connections again it goes on and trains the labels that arrive."""
    from urllib.parse import urlsplit

    import psycopg

    from alapp.app.worker import Worker, WorkerOptions

    _labeled_project(pg_address, tmp_path, labeled=2)
    database = urlsplit(pg_address).path.lstrip("/")
    server = pg_address.replace(f"/{database}?", "/postgres?")
    lines: list[str] = []
    worker = Worker(pg_address, WorkerOptions(min_new_labels=3, poll_s=0.3), say=lines.append)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        with Project.open(pg_address, read_only=True) as other:
            deadline = time.time() + 30
            while not presence.present(other) and time.time() < deadline:
                time.sleep(0.05)
            assert presence.present(other)
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
            ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = %s", (database,)).fetchall()
            assert len(ended) >= 2  # the worker's reader and writer, at least
            deadline = time.time() + 30
            while not any("trying again" in line for line in lines) and \
                    time.time() < deadline:
                time.sleep(0.05)
            admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
        refused = [line for line in lines if "trying again" in line]
        assert refused and refused[0].endswith("; trying again in 0.3 s")
        assert database in refused[0] and "\n" not in refused[0]
        assert thread.is_alive()
        with Project.open(pg_address) as annotator:
            for item in annotator.item_ids()[2:5]:
                annotator.label_item(item, "money", "ana")
            deadline = time.time() + 60
            while trainer.newest_round(annotator) is None and time.time() < deadline:
                time.sleep(0.1)
            newest = trainer.newest_round(annotator)
            assert newest is not None and newest.origin is not None
            assert (newest.origin.trained_by, newest.n_labeled) == ("worker", 5)
            assert [p.activity for p in presence.present(annotator)
                    if p.role == "worker"][:1] in (["waiting for labels"], ["training"])
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive() and worker.rounds == 1
    assert any(line.startswith("round 1: 5 labels (5 new)") for line in lines), lines


def _trainers_view(trainer_session: LabelingSession, entry: QueueEntry) -> QueueEntry:
    """``entry`` as the trainer's session shows it from its round in memory alone."""
    bare = replace(entry, predicted=trainer_session.predicted.get(entry.item_id), top_two=None)
    return trainer_session._with_model_view(bare)


def test_a_session_shows_the_predictions_of_a_round_trained_elsewhere(pg_address,
                                                                       tmp_path) -> None:
    """A window that takes a round another session trained (``pick_up``: no predictions in
    its memory) shows each queued item's predicted label, confidence and reason as the
    trainer's session does: they are stored with the queue (issue 20)."""
    _labeled_project(pg_address, tmp_path)
    bob = LabelingSession(pg_address, "bob")
    ana = LabelingSession(pg_address, "ana")
    try:
        result = RoundJob(bob)(Progress())
        bob.apply_round(result)
        taken = pick_up(ana.reader, Progress(), None)
        assert taken is not None and taken.predicted == {}
        ana.apply_round(taken)
        first = ana.current()
        assert first is not None and first.source == "al"
        theirs = _trainers_view(bob, first)
        assert first.predicted is not None and first.predicted == theirs.predicted == \
            result.predicted[first.item_id]
        assert first.top_two is not None and first.top_two == result.top_two[first.item_id]
        assert " saw " in first.reason and first.reason == theirs.reason
        own = bob.current()  # the trainer's own first item: stored and memory agree
        assert own is not None and own.item_id != first.item_id  # each holds its own items
        assert (own.predicted, own.reason) == (_trainers_view(bob, own).predicted,
                                               _trainers_view(bob, own).reason)
    finally:
        ana.close()
        bob.close()


def test_a_session_shows_the_workers_predictions(pg_address, tmp_path) -> None:
    """After ``alapp worker`` trained the round, a window opened since (no round of its own)
    shows the first item's prediction and the two likeliest labels in its reason."""
    _labeled_project(pg_address, tmp_path)
    assert cli.main(["worker", pg_address, "--once", "--min-new-labels", "5"]) == 0
    ana = LabelingSession(pg_address, "ana")
    try:
        first = ana.current()
        assert first is not None and first.predicted is not None and first.top_two is not None
        label, confidence = first.predicted
        assert label in ("money", "food") and 0.5 <= confidence <= 1.0
        (top, p1), (second, p2) = first.top_two
        assert {top, second} == {"money", "food"} and p1 >= p2
        assert f"saw {top} {p1:.0%} vs {second} {p2:.0%}" in first.reason
    finally:
        ana.close()


def test_a_reopened_file_project_shows_its_predictions_at_once(tmp_path) -> None:
    """The restart case: the queue keeps the last round's predictions, so a project opened
    again shows the first item's prediction and reason before any new round."""
    path = tmp_path / "p.alapp"
    _labeled_project(path, tmp_path)
    session = LabelingSession(path, "ana")
    try:
        result = RoundJob(session)(Progress())
        session.apply_round(result)
        before = session.current()
    finally:
        session.close()
    assert before is not None and before.predicted == result.predicted[before.item_id]
    reopened = LabelingSession(path, "ana")
    try:
        assert reopened.last_result is None and reopened.predicted == {}
        after = reopened.current()
        assert after is not None and after.item_id == before.item_id
        assert after.predicted == before.predicted and after.top_two == before.top_two
        assert " saw " in after.reason and after.reason == before.reason
    finally:
        reopened.close()


def test_carried_items_keep_or_renew_their_stored_prediction(tmp_path) -> None:
    """A new round stores its predictions with its new items; an item it carries (the one on
    screen, a waiting random pick) takes the new round's label and confidence, and keeps the
    two likeliest labels of the round that chose it when the new round has none for it."""
    from alapp.al.batch import Pick
    from alapp.store.queue import RoundPredictions
    from alapp.store.rounds import save_round

    path = tmp_path / "p.alapp"
    _labeled_project(path, tmp_path, rows=12, labeled=0)
    first_two = (("money", 0.6), ("food", 0.4))
    with Project.open(path) as project:
        ids = [int(i) for i in project.item_ids()]
        save_round(project, [Pick(ids[0], 0.9, False, "margin"),
                             Pick(ids[1], 0.8, False, "margin"),
                             Pick(ids[2], None, True, "random share")], "margin", 0, None,
                   predictions=RoundPredictions(
                       {i: ("money", 0.6) for i in ids[:3]},
                       {i: first_two for i in ids[:3]}))
        second_two = (("food", 0.55), ("money", 0.45))
        save_round(project, [Pick(ids[4], 0.7, False, "margin"),
                             Pick(ids[5], None, True, "random share")], "margin", 0, None,
                   keep=ids[0], predictions=RoundPredictions(
                       {ids[0]: ("food", 0.8), ids[2]: ("food", 0.51), ids[4]: ("food", 0.55)},
                       {ids[4]: second_two}))
        queued = {int(e.item_id): (e.predicted, e.top_two) for e in entries(project)}
    assert queued == {
        ids[0]: (("food", 0.8), first_two),  # on screen: new label, the old round's reason
        ids[4]: (("food", 0.55), second_two),  # new
        ids[2]: (("food", 0.51), first_two),  # the waiting random pick, carried likewise
    }
    assert ids[1] not in queued  # replaced, with its stored prediction
