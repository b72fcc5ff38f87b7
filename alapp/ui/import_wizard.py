"""Import a file: preview it with the chosen encoding and columns, check the whole file
(every error found before anything is written), then import with progress and cancel."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from alapp.app.projects import IMPORT_FORMATS as FORMATS
from alapp.app.projects import ImportReport, ImportSpec, Preview, preview_file
from alapp.app.session import LabelingSession
from alapp.core.errors import AlappError
from alapp.core.progress import Progress
from alapp.core.types import Split
from alapp.ui.background import Background

AUTO = "(detect)"
NONE = "(none)"
ENCODINGS = [AUTO, "utf-8", "utf-8-sig", "utf-16", "cp1251", "gb18030", "latin-1"]
DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "\t", "pipe": "|"}
DELIMITER_NAMES = {v: k for k, v in DELIMITERS.items()}
LABEL_NAMES = ("label", "labels", "category", "class", "target", "intent", "sentiment", "метка",
               "标签")
# Columns taken for a pair's second text when a file names one so (GLUE: sentence2, MRPC's
# "#2 String"); the first text's column is never taken.
PAIR_NAMES = ("text_b", "text2", "sentence2", "sentence_b", "#2 string")
PAIR_FIRST = ("text_a", "text1", "sentence1", "sentence_a", "#1 string")  # then the text


class ImportWizard(QDialog):
    def __init__(self, session: LabelingSession, parent: QWidget | None = None,
                 file: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import items")
        self.setModal(True)  # the window's labeling waits while the project is written
        self.resize(900, 620)
        self.session = session
        self.preview: Preview | None = None
        self.checked_spec: ImportSpec | None = None  # the options the last clean check used
        self.report: ImportReport | None = None

        self.file = QLineEdit()
        self.file.setReadOnly(True)
        choose = QPushButton("Choose file…")
        choose.clicked.connect(self.choose_file)
        self.format = _combo([AUTO, *FORMATS])
        self.encoding = _combo(ENCODINGS)
        self.delimiter = _combo([AUTO, *DELIMITERS])
        self.header = QCheckBox("First row is a header")
        self.header.setChecked(True)
        self.text_column, self.label_column, self.id_column = _combo([]), _combo([]), _combo([])
        # A post's image: a path (relative to the file) or base64 bytes, shown next to the text.
        self.image_column = _combo([])
        self.image_column.setToolTip("A column with each item's image: a file path (relative "
                                     "to the imported file's folder) or base64 bytes. URLs "
                                     "are not downloaded.")
        self.split = _combo(["pool: items to label", "test: held-out evaluation items"])
        self.add_labels = QCheckBox("Add labels the project does not have yet")
        self._guess_header = False  # set the header box from the next preview's guess
        for widget in (self.format, self.encoding, self.delimiter):
            widget.currentIndexChanged.connect(self.refresh_preview)
        self.header.toggled.connect(self.refresh_preview)
        for widget in (self.text_column, self.label_column, self.id_column, self.image_column,
                       self.split):
            widget.currentIndexChanged.connect(self._options_changed)
        self.add_labels.toggled.connect(self._options_changed)
        # Sentence pairs (issue 16, seed 002): a second text per item, classified with the first
        self.text_b_column = _combo([NONE])
        self.text_b_column.setToolTip("For pairs (e.g. two sentences: paraphrase or not): the "
                                      "column of each item's second text")
        self.text_b_column.currentIndexChanged.connect(self._options_changed)
        self.label_column.currentIndexChanged.connect(self._check_new_labels)

        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.message = QLabel("Choose a file to see its first rows.")
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # file names, labels, errors
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.check = QPushButton("Check the whole file")
        self.run = QPushButton("Import")
        self.cancel = QPushButton("Cancel")
        self.check.clicked.connect(lambda: self._start(dry_run=True))
        self.run.clicked.connect(lambda: self._start(dry_run=False))
        self.cancel.clicked.connect(self._cancel)
        self.check.setEnabled(False)
        self.run.setEnabled(False)

        top = QHBoxLayout()
        top.addWidget(self.file, 1)
        top.addWidget(choose)
        form = QFormLayout()
        form.addRow("File", top)
        reading = QHBoxLayout()
        for label, widget in (("Format", self.format), ("Encoding", self.encoding),
                              ("Separator", self.delimiter)):
            reading.addWidget(QLabel(label))
            reading.addWidget(widget)
        reading.addWidget(self.header)
        reading.addStretch(1)
        form.addRow("", reading)
        columns = QHBoxLayout()
        for label, widget in (("Text", self.text_column), ("Label", self.label_column),
                              ("Id", self.id_column), ("Image", self.image_column)):
            columns.addWidget(QLabel(label))
            columns.addWidget(widget, 1)
        form.addRow("Columns", columns)
        form.addRow("Second text (pair)", self.text_b_column)
        form.addRow("Items go to", self.split)
        form.addRow("", self.add_labels)
        buttons = QHBoxLayout()
        buttons.addWidget(self.bar, 1)
        buttons.addWidget(self.check)
        buttons.addWidget(self.run)
        buttons.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        self.work = Background("alapp-import", self)
        self.work.progress.connect(self._progress)
        self.work.done.connect(self._finished)
        self.work.failed.connect(self._failed)
        self.work.cancelled.connect(self._was_cancelled)
        if file is not None:
            self.set_file(file)

    # -- choosing and previewing -------------------------------------------------------------------

    def choose_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Import items", str(Path.home()),
            "Text data (*.csv *.tsv *.tab *.jsonl *.ndjson *.json *.txt);;All files (*)")
        if chosen:
            self.set_file(Path(chosen))

    def set_file(self, path: Path) -> None:
        self.file.setText(str(path))
        self.delimiter.blockSignals(True)
        self.delimiter.setCurrentIndex(0)
        self.delimiter.blockSignals(False)
        self._guess_header = True
        self.refresh_preview()

    def _read_spec(self) -> ImportSpec:
        fmt = self.format.currentText()
        encoding = self.encoding.currentText()
        delimiter = DELIMITERS.get(self.delimiter.currentText())
        if delimiter is None and self.preview is not None and self.preview.format == "csv":
            delimiter = self.preview.detected_delimiter  # what the preview showed
        return ImportSpec(format=None if fmt == AUTO else fmt,
                          encoding=None if encoding == AUTO else encoding,
                          header=self.header.isChecked(), delimiter=delimiter)

    def spec(self) -> ImportSpec:
        """The options as chosen in the dialog."""
        spec = self._read_spec()
        label, ext_id = self.label_column.currentText(), self.id_column.currentText()
        image = self.image_column.currentText()
        test = self.split.currentIndex() == 1
        return replace(spec, text=[self.text_column.currentText()],
                       label=None if label == NONE else label,
                       id=None if ext_id in (NONE, AUTO) else ext_id,
                       image="" if image in (NONE, "") else image,
                       meta=None, split=Split.TEST if test else Split.POOL,
                       add_labels=self.add_labels.isChecked(),
                       text_b=None if self.text_b_column.currentText() in ("", NONE)
                       else self.text_b_column.currentText())

    def refresh_preview(self) -> None:
        if not self.file.text():
            return
        try:
            self.preview = None  # a detected separator is detected again
            self.preview = preview_file(self.file.text(), self._read_spec())
            guess = self.preview.header_guess
            if self._guess_header and guess is not None and guess != self.header.isChecked():
                self.header.blockSignals(True)
                self.header.setChecked(guess)
                self.header.blockSignals(False)
                self.preview = preview_file(self.file.text(), self._read_spec())
        except AlappError as e:
            self.preview = None
            self.table.clear()
            self.table.setRowCount(0)
            self._show_problem(str(e))
            self.check.setEnabled(False)
            self.run.setEnabled(False)
            return
        self._guess_header = False
        p = self.preview
        detected = DELIMITER_NAMES.get(p.detected_delimiter or "")
        self.delimiter.setItemText(0, f"{AUTO}: {detected}" if detected else AUTO)
        self.delimiter.setEnabled(p.format in ("csv", "tsv"))
        self.table.clear()
        self.table.setColumnCount(len(p.columns))
        self.table.setRowCount(len(p.rows))
        self.table.setHorizontalHeaderLabels(p.columns)
        for r, row in enumerate(p.rows):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(value.replace("\n", " ")[:300]))
        self.table.resizeColumnsToContents()
        for c in range(len(p.columns)):  # a long text column must not push the others away
            self.table.setColumnWidth(c, min(self.table.columnWidth(c), 480))
        _fill(self.text_column, p.columns, p.guess(*PAIR_FIRST) or p.text_column() or "")
        _fill(self.label_column, [NONE, *p.columns],
              p.guess(*LABEL_NAMES) or NONE)
        _fill(self.id_column, [AUTO, *p.columns], p.guess("id", "uid") or AUTO)
        _fill(self.image_column, [NONE, *p.columns], p.image_column() or NONE)
        second = p.guess(*PAIR_NAMES)
        _fill(self.text_b_column, [NONE, *p.columns],
              second if second and second != self.text_column.currentText() else NONE)
        if self.encoding.currentText() == AUTO:
            self.message.setStyleSheet("")
        self.message.setText(f"{p.format.upper()}, {p.encoding}: the first {len(p.rows)} rows. "
                             "Check the whole file before importing.")
        self._check_new_labels()
        self._options_changed()

    def _check_new_labels(self) -> None:
        """Labels in the previewed rows the project lacks: check "Add labels" and say so."""
        p, column = self.preview, self.label_column.currentText()
        if p is None:
            return
        new: list[str] = []
        if column in p.columns:
            c, known = p.columns.index(column), set(self.session.labels())
            new = sorted({row[c].strip() for row in p.rows if row[c].strip()} - known)
        base = self.message.text().split(" New labels:")[0]
        if new:
            self.add_labels.setChecked(True)
            shown = ", ".join(new[:10]) + (", …" if len(new) > 10 else "")
            self.message.setText(f"{base} New labels: the first rows would add {len(new)} "
                                 f"label{'s' if len(new) != 1 else ''} the project does not "
                                 f"have ({shown}).")
        else:
            self.message.setText(base)

    def _options_changed(self) -> None:
        self.checked_spec = None
        self.check.setEnabled(self.preview is not None and not self.work.busy)
        self.run.setEnabled(False)

    # -- checking and importing ------------------------------------------------------------------

    def _start(self, dry_run: bool) -> None:
        spec, path = self.spec(), Path(self.file.text())
        self.dry_run = dry_run

        def work(progress: Progress) -> ImportReport:
            def step(done: int, total: int) -> bool:
                progress.report("checking" if dry_run else "importing", done / max(total, 1))
                return True

            # Runs on the project's writer thread; the (modal) dialog keeps labels waiting.
            return self.session.import_file(path, spec, step, dry_run)

        self.pending_spec = spec
        self._busy(True)
        self.message.setStyleSheet("")
        self.message.setText("Checking every row…" if dry_run else "Importing…")
        self.work.submit(work)

    def _progress(self, stage: str, fraction: float) -> None:
        self.bar.setValue(int(100 * fraction))

    def _finished(self, report: ImportReport) -> None:
        self._busy(False)
        counts = ", ".join(f"{n:,} {split}" for split, n in report.by_split.items())
        summary = (f"{report.rows:,} items ({counts}), {report.labeled:,} with labels"
                   + (f", {report.images:,} with an image" if report.images else "")
                   + (f"; new labels: {', '.join(report.new_labels)}" if report.new_labels
                      else "")
                   + (f"; {report.duplicate_texts_in_file + report.duplicate_texts_in_project} "
                      "duplicate texts" if report.duplicate_texts_in_file
                      + report.duplicate_texts_in_project else ""))
        if self.dry_run:
            self.checked_spec = self.pending_spec
            self.run.setEnabled(True)
            self.message.setText(f"No problems: {summary}. Nothing is written until you "
                                 "press Import.")
        else:
            self.report = report
            self.message.setText(f"Imported {summary} in {report.seconds:.1f} s.")
            self.accept()

    def _failed(self, error: BaseException) -> None:
        self._busy(False)
        prefix = "" if self.dry_run else "Nothing was imported. "
        self._show_problem(prefix + (str(error) if isinstance(error, AlappError)
                                     else f"{type(error).__name__}: {error}"))

    def _was_cancelled(self) -> None:
        self._busy(False)
        self.message.setText("Cancelled; nothing was written.")

    def _cancel(self) -> None:
        if self.work.busy:
            self.work.cancel()
        else:
            self.reject()

    def _busy(self, on: bool) -> None:
        self.bar.setVisible(on)
        self.bar.setValue(0)
        self.check.setEnabled(not on and self.preview is not None)
        self.run.setEnabled(not on and self.checked_spec is not None)
        self.cancel.setText("Stop" if on else "Close")

    def _show_problem(self, text: str) -> None:
        self.message.setStyleSheet("color: #b00020")
        self.message.setText(text)

    def closeEvent(self, event: Any) -> None:
        self.work.close()
        super().closeEvent(event)

    def done(self, result: int) -> None:  # accept/reject: no import left running
        self.work.close()
        super().done(result)


def _combo(items: list[str]) -> QComboBox:
    combo = QComboBox()
    combo.addItems(items)
    return combo


def _fill(combo: QComboBox, items: list[str], chosen: str) -> None:
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(items)
    combo.setCurrentText(chosen)
    combo.blockSignals(False)
