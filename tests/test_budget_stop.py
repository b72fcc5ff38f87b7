"""Stop when the budget is spent (lecture 000): the session refuses new labels once it is, undo
and changing earlier decisions stay allowed (and are counted), extending the budget resumes,
and ``alapp stats --json`` reports the budget."""

from __future__ import annotations

import json
import math

import pytest

from alapp.al import budget
from alapp.app.rounds import save_result, snapshot_of
from alapp.app.session import BudgetSpentError, LabelingSession
from alapp.cli import main
from alapp.core.errors import AlappError
from alapp.loop.round import RoundRunner
from alapp.store.demo import create_demo_project


@pytest.fixture
def session(tmp_path):
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", budget_unit="items", budget_amount=3.0)
    save_result(project, RoundRunner().run(snapshot_of(project)))
    s = LabelingSession.inline(project, "ann")
    yield s
    s.close()
    project.close()


def _label_next(session: LabelingSession, label: str = "billing", ms: int = 20_000) -> None:
    entry = session.current()
    assert entry is not None
    session.label(entry, label, ms, None)


def test_the_budget_signal_and_its_line() -> None:
    now = budget.status("items", 3.0, 3, 0.02, 0.0)
    assert now.exhausted and now.fraction == 1.0
    signal = now.signal()
    assert signal.name == "budget" and signal.reached and signal.value == 1.0
    assert signal.detail == "The budget is spent: 3 of 3 labels"
    money = budget.status("money", 50.0, 10, 1.004, 50.0)  # 1.004 h x 50 = 50.20
    assert money.exhausted and money.fraction == pytest.approx(1.004)
    assert budget.stop_line(money, "EUR") == "The budget is spent: €50.20 of €50"
    hours = budget.status("hours", 2.0, 10, 1.0, 0.0)
    assert not hours.exhausted and hours.fraction == 0.5
    assert budget.stop_line(hours) == "1:00 of 2:00 h active time spent"
    # Floating point: 0.1 + 0.2 hours of a 0.3-hour budget is spent.
    assert budget.status("hours", 0.3, 2, 0.1 + 0.2, 0.0).exhausted
    none = budget.status("items", 0.0, 500, 9.0, 0.0)
    assert not none.exhausted and none.fraction is None and none.signal().value is None


def test_labels_stop_at_the_budget_and_undo_and_relabel_stay_allowed(session) -> None:
    for _ in range(3):
        assert session.budget_stop() is None
        _label_next(session)
    stop = session.budget_stop()
    assert stop is not None and stop.detail == "The budget is spent: 3 of 3 labels"
    waiting = session.current()
    assert waiting is not None  # the queue is kept; only labeling stops
    with pytest.raises(BudgetSpentError) as refused:
        session.label(waiting, "billing", 20_000, None)
    message = str(refused.value)
    assert "the budget is spent: 3 of 3 labels; no new labels" in message
    assert "extend the budget" in message and "\n" not in message
    assert session.budget()["labels"] == 3.0  # nothing was written

    # Changing an earlier decision is allowed and is a decision: it is counted.
    last = session.history(1)[0]
    session.relabel(last.item_id, "praise", active_ms=4_000)
    assert session.reader.current_labels()[last.item_id] == "praise"
    assert session.budget()["spent"] == 4.0 and session.budget()["remaining"] == 0.0
    # Undo is allowed; it refunds nothing (the work was done).
    undone = session.undo()
    assert undone is not None
    assert session.budget()["spent"] == 4.0 and session.budget_stop() is not None

    # Extending: through the writer like any settings change; too little is refused.
    with pytest.raises(AlappError, match=r"budget_amount=4 is not more than what is spent "
                                         r"already \(4 labels\)"):
        session.extend_budget(4.0)
    assert session.settings().budget_amount == 3.0
    session.extend_budget(6.0)
    assert session.settings().budget_amount == 6.0
    assert session.reader.settings().budget_amount == 6.0  # stored
    assert session.budget_stop() is None
    _label_next(session)
    _label_next(session)
    assert session.budget_stop() is not None  # 6 of 6
    with pytest.raises(BudgetSpentError):
        _label_next(session)
    session.extend_budget(0.0)  # 0: no budget at all
    assert session.budget_stop() is None
    _label_next(session)


def test_a_time_budget_stops_after_the_label_that_spends_it(session) -> None:
    session.update_settings(budget_unit="hours", budget_amount=1 / 60)  # one minute
    _label_next(session, ms=40_000)
    assert session.budget_stop() is None  # 40 s of 60
    _label_next(session, ms=30_000)  # crosses it: this label is taken, the next is not
    stop = session.budget_stop()
    assert stop is not None and stop.detail == "The budget is spent: 0:01 of 0:01 h active time"
    with pytest.raises(BudgetSpentError):
        _label_next(session)
    assert session.budget()["spent"] == pytest.approx(70 / 3600)


def test_a_test_set_label_is_refused_too_when_the_budget_is_spent(session) -> None:
    session.update_settings(budget_amount=1.0)
    _label_next(session)
    session.start_test_set(5)
    entry = session.current()
    assert entry is not None
    with pytest.raises(BudgetSpentError):
        session.label(entry, "billing", 10_000, None)


def test_stats_json_reports_the_budget(tmp_path, capsys) -> None:
    project = create_demo_project(tmp_path / "p.alapp")
    project.update_settings(featurizer="tfidf", budget_unit="money", budget_amount=2.0,
                            hourly_rate=60.0, currency="USD")
    save_result(project, RoundRunner().run(snapshot_of(project)))
    s = LabelingSession.inline(project, "ann")
    for ms in (30_000, 30_000, 60_000):  # 2 minutes at 60 an hour: 2.00 spent of 2.00
        _label_next(s, ms=ms)
    s.close()
    project.close()

    assert main(["stats", str(tmp_path / "p.alapp"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["budget"]
    assert report["unit"] == "money" and report["currency"] == "USD"
    assert report["amount"] == 2.0 and report["hourly_rate"] == 60.0
    assert report["spent"] == pytest.approx(2.0) and report["remaining"] == pytest.approx(0.0)
    assert report["fraction"] == pytest.approx(1.0) and report["exhausted"] is True
    assert report["labels_paid"] == 3 and report["active_hours"] == pytest.approx(2 / 60)
    forecast = report["forecast"]
    assert forecast["pace_s_per_label"] == pytest.approx(40.0)
    assert forecast["labels_left_in_budget"] == pytest.approx(0.0)
    assert forecast["target"] is None  # no target accuracy set
    assert set(forecast["stable"]) == {"low", "high", "reached", "credible", "basis", "note"}

    assert main(["stats", str(tmp_path / "p.alapp")]) == 0
    line = next(t for t in capsys.readouterr().out.splitlines() if "budget:" in t)
    assert line.split(": ", 1)[1] == "$2 of $2 spent, $0 left (100%); SPENT: labeling stops; " \
                                     "buys about 0 more labels at this pace"


def test_stats_json_without_a_budget(tmp_path, capsys) -> None:
    project = tmp_path / "p.alapp"
    assert main(["init", str(project), "--labels", "spam,ham"]) == 0
    capsys.readouterr()
    assert main(["stats", str(project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["budget"]
    assert report["amount"] == 0 and report["fraction"] is None
    assert report["remaining"] is None and report["exhausted"] is False
    assert report["spent"] == 0 and report["unit"] == "items"
    assert not math.isnan(report["spent"])
