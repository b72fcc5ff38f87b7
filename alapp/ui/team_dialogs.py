"""The team view (annotators side by side, agreement, the training-label rule) and the review
dialog (the review queue; a reviewer's decision by button or number key). Every number comes
from ``app/team.py``; decisions go through the session's writer thread (issue 19)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from alapp.app import team
from alapp.app.session import LabelingSession
from alapp.core.errors import AlappError
from alapp.ui.background import Background
from alapp.ui.label_view import button_text, literal, plain_label

RULES = {"majority": "Majority: the label most annotators gave; a tie waits for a reviewer",
         "reliable": "Most reliable annotator: the label of the annotator most often right "
                     "(Dawid-Skene); a tie between equally reliable ones waits for a reviewer"}
FILTERS = [("Everything to review", team.REASONS),
           ("Disagreements (ties first)", (team.TIE, team.DISAGREEMENT)),
           ("Flagged", (team.FLAGGED,)),
           ("Suspected label errors", (team.SUSPECT,)),
           ("Decided by a reviewer", (team.ADJUDICATED,))]
REASON_TEXT = {team.TIE: "tie", team.DISAGREEMENT: "disagreement", team.FLAGGED: "flagged",
               team.SUSPECT: "suspect", team.ADJUDICATED: "decided"}


def _table(headers: list[str], stretch: bool = True) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().hide()
    table.horizontalHeader().setSectionResizeMode(
        QHeaderView.ResizeMode.Stretch if stretch else QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list[str]], tips: list[list[str]] | None = None,
          left: tuple[int, ...] = (0,)) -> None:
    """Plain-text cells; the columns in ``left`` aligned left, the others centred."""
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)  # a table cell is plain text
            item.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
                                  if c in left else Qt.AlignmentFlag.AlignCenter)
            if tips and tips[r][c]:
                item.setToolTip(literal(tips[r][c]))
            table.setItem(r, c, item)


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


class TeamDialog(QDialog):
    """Annotators side by side, the team's agreement with intervals, per label, and the
    training-label rule (changed through the writer thread)."""

    review_requested = Signal()
    rule_changed = Signal()

    def __init__(self, session: LabelingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Team and agreement")
        self.resize(1100, 680)
        self.report: team.TeamReport | None = None
        self.summary = plain_label("Computing the team's agreement…")
        self.summary.setWordWrap(True)
        self.people = _table(["Annotator", "Items", "Shared", "Labels/hour", "Median s/label",
                              "With the others", "With the reviewer", "Reliability"])
        self.overall = plain_label()
        self.overall.setWordWrap(True)
        self.per_label = _table(["Label", "Fleiss' kappa (95% CI)",
                                 "Krippendorff's alpha (95% CI)"])
        self.pairs = _table(["Pair", "Shared items", "Agreement (95% CI)"])
        self.notes = plain_label()
        self.notes.setWordWrap(True)
        self.rule = QComboBox()
        for name, text in RULES.items():
            self.rule.addItem(text, name)
        self.rule.setToolTip("Which label an item trains on when its annotators disagree; an "
                             "adjudicated label always wins. Changing it resolves every item "
                             "again.")
        self.rule.setCurrentIndex(max(0, self.rule.findData(
            session.settings().training_label_rule)))
        self.rule.currentIndexChanged.connect(self._rule_chosen)
        if session.read_only:
            self.rule.setEnabled(False)
            self.rule.setToolTip(f"Read-only: {session.read_only}")
        review = QPushButton("Review and adjudicate…")
        review.clicked.connect(self.review_requested.emit)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.close)

        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        box = QGroupBox("Annotators")
        QVBoxLayout(box).addWidget(self.people)
        layout.addWidget(box, 3)
        lower = QHBoxLayout()
        agreement = QGroupBox("Agreement of the team")
        inner = QVBoxLayout(agreement)
        inner.addWidget(self.overall)
        inner.addWidget(self.per_label)
        lower.addWidget(agreement, 3)
        pairs = QGroupBox("Pairs of annotators")
        QVBoxLayout(pairs).addWidget(self.pairs)
        lower.addWidget(pairs, 2)
        layout.addLayout(lower, 3)
        layout.addWidget(self.notes)
        rule_row = QHBoxLayout()
        rule_row.addWidget(plain_label("Training label:"))
        rule_row.addWidget(self.rule, 1)
        rule_row.addWidget(review)
        rule_row.addWidget(refresh)
        rule_row.addWidget(close)
        layout.addLayout(rule_row)
        self.work = Background("alapp-team", self)
        self.work.done.connect(self.show_report)
        self.work.failed.connect(lambda e: self.summary.setText(f"Could not compute: {e}"))
        self.refresh()

    def refresh(self) -> None:
        path = self.session.path
        self.work.submit(lambda _progress: team.team_report_of(path))

    @property
    def busy(self) -> bool:
        return self.work.busy

    def show_report(self, report: team.TeamReport) -> None:
        self.report = report
        self.summary.setText(
            f"{report.items_labeled} items labeled: {report.items_overlap} by two or more "
            f"annotators, {report.items_single} by one only (counted, not used for "
            f"agreement). {report.disputed} disputed (tied, waiting for a reviewer), "
            f"{report.adjudicated} adjudicated.")
        spans = report.kind == "spans"
        measure = "F1" if spans else "κ"
        rows, tips = [], []
        for a in report.annotators:
            others = (f"{a.with_others:.2f} {measure} (n={a.with_others_items})"
                      if a.with_others is not None else team.NOT_ENOUGH)
            reviewer = (f"{a.adjudicated_share:.0%} of {a.adjudicated_items}"
                        + (f", {measure} {a.adjudicated_agreement:.2f}"
                           if a.adjudicated_agreement is not None else "")
                        if a.adjudicated_items else "nothing adjudicated")
            rows.append([a.name, str(a.items), str(a.shared), _num(a.labels_per_hour, ".0f"),
                         _num(a.median_seconds, ".1f"), others, reviewer,
                         _num(a.reliability, ".2f")])
            tips.append(["", "", "items someone else labeled too",
                         f"from {a.timed_labels} timed labels", "",
                         f"mean pairwise {report.measure} over {a.with_others_pairs} "
                         f"pair(s) with {team.MIN_SHARED}+ shared items", "",
                         f"Dawid-Skene accuracy on {a.reliability_items} items"])
        _fill(self.people, rows, tips)
        self.per_label.setHorizontalHeaderLabels(
            ["Entity type", "Pairwise F1", ""] if spans else
            ["Label", "Fleiss' kappa (95% CI)", "Krippendorff's alpha (95% CI)"])
        self.per_label.setColumnHidden(2, spans)
        if spans and report.span_f1 is not None:
            f1 = report.span_f1
            self.overall.setText(f"{f1.name}: {f1.overall.text()}\n{f1.note}")
            _fill(self.per_label, [[t, fig.text(), ""] for t, fig in f1.per_label.items()])
        elif report.fleiss is not None and report.alpha is not None:
            fleiss, alpha = report.fleiss, report.alpha
            self.overall.setText(f"{fleiss.name}: {fleiss.overall.text()} — {fleiss.note}\n"
                                 f"{alpha.name}: {alpha.overall.text()} — {alpha.note}")
            names = list(dict.fromkeys([*fleiss.per_label, *alpha.per_label]))
            _fill(self.per_label, [[name, fleiss.per_label.get(name, team.Figure(None)).text(),
                                    alpha.per_label.get(name, team.Figure(None)).text()]
                                   for name in names])
        else:
            self.overall.setText("No labels yet")
            _fill(self.per_label, [])
        _fill(self.pairs, [[f"{p.first} / {p.second}", str(p.shared),
                            p.value.text() if p.value.value is not None else
                            f"{team.NOT_ENOUGH} ({team.MIN_SHARED} shared items needed)"]
                           for p in report.pairs])
        self.notes.setText("\n".join(report.notes))

    def _rule_chosen(self) -> None:
        rule = str(self.rule.currentData())
        if rule == self.session.settings().training_label_rule:
            return
        try:
            team.set_training_rule(self.session, rule)
        except AlappError as e:
            self.notes.setText(str(e))
            return
        self.rule_changed.emit()
        self.refresh()

    def closeEvent(self, event: Any) -> None:
        self.work.close()
        super().closeEvent(event)


class ReviewDialog(QDialog):
    """The review queue: pick an item, see every annotator's label, time and comment, the
    training label and how it was reached and the model's guess; decide with a button or its
    number key (or withdraw a decision). The model's label check runs in the background."""

    decided = Signal()

    def __init__(self, session: LabelingSession, parent: QWidget | None = None,
                 check_labels: bool = True) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Review and adjudicate")
        self.resize(1200, 700)
        self.kind = team.project_kind(session.reader)
        self.scan: team.LabelScan | None = None
        self.entries: list[team.ReviewEntry] = []
        self.choices: list[tuple[str, str]] = []
        self.filter = QComboBox()
        for caption, _ in FILTERS:
            self.filter.addItem(caption)
        self.filter.currentIndexChanged.connect(lambda _: self.refresh())
        self.check_state = plain_label("Checking the labels with the model…" if check_labels
                                       else "")
        self.check_state.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(200)
        self.bar.setVisible(check_labels)
        self.queue = _table(["Why", "Item", "Text", "Final label"], stretch=False)
        self.queue.setColumnWidth(0, 110)
        self.queue.setColumnWidth(1, 70)
        self.queue.setColumnWidth(2, 330)
        self.queue.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.queue.itemSelectionChanged.connect(self._show_selected)
        self.count = plain_label()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.votes = _table(["Annotator", "Label", "When", "Workstation"])
        self.comments = plain_label()
        self.comments.setWordWrap(True)
        self.final = plain_label()
        self.final.setWordWrap(True)
        self.guess = plain_label()
        self.guess.setWordWrap(True)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Your note with the decision (optional)")
        self.note.setMaxLength(200)
        self.buttons_box = QGroupBox(f"Decide as {session.annotator} (number keys)")
        self.buttons_layout = QGridLayout(self.buttons_box)
        self.decision_buttons: list[QPushButton] = []
        self.withdraw = QPushButton("Withdraw the decision")
        self.withdraw.setToolTip("Take back a reviewer's decision: the training-label rule "
                                 "decides again")
        self.withdraw.clicked.connect(lambda: self.decide(None))
        self.message = plain_label()
        self.message.setWordWrap(True)

        refresh = QPushButton("Refresh")
        refresh.setToolTip("Read the queue again (labels made meanwhile)")
        refresh.clicked.connect(lambda: self.refresh())
        self.check_again = QPushButton("Check the labels again")
        self.check_again.setToolTip("Run the model's label check on the current labels")
        self.check_again.clicked.connect(self.check_labels)
        top = QHBoxLayout()
        top.addWidget(plain_label("Show:"))
        top.addWidget(self.filter)
        top.addWidget(self.check_state, 1)
        top.addWidget(self.bar)
        top.addWidget(refresh)
        top.addWidget(self.check_again)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.queue)
        left_layout.addWidget(self.count)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.text, 2)
        right_layout.addWidget(self.votes, 2)
        for widget in (self.comments, self.final, self.guess):
            right_layout.addWidget(widget)
        right_layout.addWidget(self.note)
        right_layout.addWidget(self.buttons_box)
        right_layout.addWidget(self.withdraw)
        right_layout.addWidget(self.message)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.shortcuts = []
        for k in range(9):
            shortcut = QShortcut(QKeySequence(str(k + 1)), self)
            shortcut.activated.connect(partial(self._key, k))
            self.shortcuts.append(shortcut)
        self.work = Background("alapp-label-check", self)
        self.work.done.connect(self._scanned)
        self.work.failed.connect(self._scan_failed)
        self.work.progress.connect(self._progress)
        self.refresh()
        if check_labels:
            self.check_labels()

    def check_labels(self) -> None:
        """The model's label check, in the background (the queue shows meanwhile)."""
        path, write = self.session.path, self.session.writer.call
        self.check_state.setText("Checking the labels with the model…")
        self.bar.setValue(0)
        self.bar.setVisible(True)
        self.check_again.setEnabled(False)
        self.work.submit(lambda progress: team.scan_project(path, write, progress=progress))

    @property
    def busy(self) -> bool:
        return self.work.busy

    def _progress(self, what: str, fraction: float) -> None:
        self.bar.setValue(int(100 * fraction))
        self.bar.setFormat(f"%p%  {what}")

    def _scanned(self, scan: team.LabelScan) -> None:
        self.scan = scan
        self.bar.setVisible(False)
        self.check_again.setEnabled(True)
        found = (f"{len(scan.suspects)} suspected label error(s)" +
                 (f" (about {scan.estimated_errors:.0f} wrong labels estimated)"
                  if scan.estimated_errors is not None else "") + "; "
                 if scan.ready else "No label check: ")
        self.check_state.setText(found + scan.note)
        self.refresh()

    def _scan_failed(self, error: BaseException) -> None:
        self.bar.setVisible(False)
        self.check_again.setEnabled(True)
        self.check_state.setText(f"The label check failed: {error}")

    def refresh(self, keep: int | None = None) -> None:
        """Read the queue again; select the row ``keep`` (default: the current one)."""
        row = self.queue.currentRow() if keep is None else keep
        show = FILTERS[self.filter.currentIndex()][1]
        self.entries = team.review_queue(self.session.reader, self.scan,
                                         self.session.predicted, show)
        _fill(self.queue, [[", ".join(REASON_TEXT[r] for r in e.reasons), e.ext_id,
                            " ".join(e.text.split())[:200],
                            team.decision_text(self.kind, e.text, e.training_label)
                            if e.training_label is not None else e.how or "—"]
                           for e in self.entries],
              [["", "", e.text[:2000], ""] for e in self.entries], left=(0, 1, 2))
        self.count.setText(f"{len(self.entries)} item(s) to review")
        if self.entries:
            self.queue.selectRow(min(max(row, 0), len(self.entries) - 1))
        self._show_selected()

    def selected(self) -> team.ReviewEntry | None:
        row = self.queue.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _show_selected(self) -> None:
        entry = self.selected()
        for button in self.decision_buttons:
            button.setParent(None)
            button.deleteLater()
        self.decision_buttons = []
        self.choices = []
        if entry is None:
            self.text.setPlainText("")
            _fill(self.votes, [])
            for widget in (self.comments, self.final, self.guess):
                widget.setText("")
            self.withdraw.setEnabled(False)
            return
        self.text.setPlainText(entry.text)
        _fill(self.votes, [[v.annotator, team.decision_text(self.kind, entry.text, v.label),
                            datetime.fromtimestamp(v.submitted_at).strftime("%Y-%m-%d %H:%M"),
                            v.workstation] for v in entry.votes], left=(0, 1, 3))
        self.comments.setText("\n".join(f"Flag by {f.annotator}: {f.note or '(no comment)'}"
                                        for f in entry.flags) or "No comments")
        final = (team.decision_text(self.kind, entry.text, entry.training_label)
                 if entry.training_label is not None else "none")
        decision = entry.decision
        self.final.setText(f"Training label: {final} ({entry.how or 'unlabeled'}"
                           + (f" by {decision.reviewer}" + (f": {decision.note}"
                                                            if decision.note else "")
                              if decision is not None and entry.how == "adjudicated" else "")
                           + ")")
        guess = entry.guess
        self.guess.setText(
            "Model: no guess" if guess is None else
            f"Model: {guess.label} ({guess.probability:.0%})"
            + (f"; gives the training label {guess.given_probability:.0%}"
               if guess.given_probability is not None else "")
            + (f"; likely {entry.suggested} (label quality {entry.quality:.2f})"
               if entry.suggested is not None and entry.quality is not None else ""))
        self.choices = team.decision_choices(self.session.reader, entry)
        for k, (caption, value) in enumerate(self.choices):
            shown = caption if self.kind == "classification" else \
                f"{caption}: {team.decision_text(self.kind, entry.text, value)}"
            button = QPushButton(f"{k + 1}  {button_text(shown)}" if k < 9
                                 else button_text(shown))
            button.clicked.connect(partial(self.decide, value))
            button.setEnabled(not self.session.read_only)
            self.buttons_layout.addWidget(button, k // 4, k % 4)
            self.decision_buttons.append(button)
        self.withdraw.setEnabled(not self.session.read_only and entry.how == "adjudicated")

    def _key(self, k: int) -> None:
        if k < len(self.choices) and not self.session.read_only:
            self.decide(self.choices[k][1])

    def decide(self, label: str | None) -> None:
        entry = self.selected()
        if entry is None:
            return
        try:
            team.adjudicate(self.session, entry.item_id, label, self.note.text())
        except AlappError as e:
            self.message.setText(str(e))
            return
        self.note.clear()
        self.message.setText(f"{entry.ext_id}: " + (
            f"decided {team.decision_text(self.kind, entry.text, label)}" if label is not None
            else "decision withdrawn"))
        self.decided.emit()
        self.refresh(keep=self.queue.currentRow())

    def closeEvent(self, event: Any) -> None:
        self.work.close()
        super().closeEvent(event)
