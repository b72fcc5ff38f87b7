"""The labeling view of a span project (issue 18): the ``LabelView`` around a ``SpanEditor``.

It keeps the classification view's banners, info line, buttons and signals (the window drives
both the same way: ``show_entry``, ``show_decision``, ``show_keys``, ``label_chosen``), with
three differences: the text is the span editor; a type button or key types the selection instead
of deciding the item; and ``label_chosen`` carries the sentence's ``encode_spans`` text when
Enter accepts it. ``route_actions`` gives the window's keys their span meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QPushButton, QScrollArea, QVBoxLayout, QWidget

from alapp.al.costmodel import CostEstimate
from alapp.app.session import Decision, QueueEntry
from alapp.core.spans import Span, decode_spans
from alapp.ui.label_view import LabelView, plain_label
from alapp.ui.resources import text_font
from alapp.ui.span_editor import SpanEditor, label_colour

NOTICE_STYLE = "QLabel { color: #9a2000; }"
# Earlier sentences (the window's history) when ← and → move the token cursor.
HISTORY_KEYS = {"back": "Alt+Left", "forward": "Alt+Right"}


def _spans_of(value: str | None) -> tuple[list[Span], bool]:
    """The spans of a stored value, and whether it was readable ("" or None: none)."""
    if not value:
        return [], True
    try:
        return decode_spans(value), True
    except ValueError:
        return [], False


class SpanView(LabelView):
    def __init__(self, labels: list[str], multi_label: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(labels, False, parent)
        self.editor = SpanEditor()
        self.editor.set_text_font(text_font(16))
        self.scroller = QScrollArea()
        self.scroller.setWidgetResizable(True)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroller.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroller.setWidget(self.editor)
        self.editor.ensure_visible = self._ensure_visible
        self.notice = plain_label()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet(NOTICE_STYLE)
        self.accept_button = QPushButton("Accept sentence")
        self.accept_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.accept_button.clicked.connect(self.editor.accept)
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.scroller, 1)
        column.addWidget(self.notice)
        layout = self.layout()
        assert layout is not None
        layout.replaceWidget(self.text, box)
        self.text.setVisible(False)
        self.grid.addWidget(self.accept_button, 0, 5)
        self.editor.accepted.connect(self.label_chosen.emit)
        self.editor.message.connect(self.notice.setText)
        self.history_shortcuts: list[QShortcut] = []
        self.shown: tuple[str, int] | None = None  # ("queue"|"history", item id) being edited
        self.set_labels(labels, False)

    # -- labels and keys -----------------------------------------------------------------------

    def set_labels(self, labels: list[str], multi_label: bool) -> None:
        """The entity types: one button each (coloured as its entities, with its key: the
        legend), which types the selection."""
        super().set_labels(labels, False)
        for i, (name, button) in enumerate(self.buttons.items()):
            button.clicked.disconnect()
            button.clicked.connect(lambda _=False, i=i: self.assign(i))
            colour = label_colour(labels, name).name()
            button.setStyleSheet(
                f"QPushButton {{ border: 1px solid #b0b0b0; border-left: 12px solid {colour};"
                " border-radius: 3px; background: #fafafa; padding: 4px; }"
                " QPushButton:pressed { background: #e0e0e0; }")
        if hasattr(self, "editor"):
            self.editor.set_labels(labels)

    def show_keys(self, keys: dict[str, str]) -> None:
        super().show_keys(keys)
        if not hasattr(self, "editor"):
            return
        if keys:
            self.editor.set_label_keys({keys[f"label_{i + 1}"]: i for i in range(9)
                                        if keys.get(f"label_{i + 1}")})

        def shown(action: str, default: str = "") -> str:
            return QKeySequence(keys.get(action, default)).toString(
                QKeySequence.SequenceFormat.NativeText) or "–"

        last = min(len(self.labels), 9)
        types = (f"{shown('label_1', '1')}…{shown(f'label_{last}', str(last))}" if last > 1
                 else shown("label_1", "1"))
        self.accept_button.setText(f"Accept sentence ({shown('accept', 'Return')})")
        self.hint.setText(
            f"Drag or double-click to select, or {shown('back', 'Left')}/"
            f"{shown('forward', 'Right')} to move and Shift+arrows to extend; {types}: type "
            "the selection · click an entity, then a type key changes it, Del removes it · "
            f"{shown('undo_alt', 'Ctrl+Z')}: undo an edit · {shown('accept', 'Return')}: "
            "accept the sentence (dashed suggestions included) · "
            f"{shown('skip', 'S')}: skip · {HISTORY_KEYS['back']}/{HISTORY_KEYS['forward']}: "
            "earlier sentences")

    def history_keys(self, keys: dict[str, str]) -> tuple[str, str]:
        """The arrows move the token cursor here: earlier sentences are on Alt+arrows."""
        return HISTORY_KEYS["back"], HISTORY_KEYS["forward"]

    def route_actions(self, actions: dict[str, Callable[[], None]]
                      ) -> dict[str, Callable[[], None]]:
        """The window's key actions in a span project: type keys, arrows, Enter and undo work
        on the span editor wherever the focus is; undo with no edit left undoes the last
        decision as before; the history moves to Alt+arrows."""
        routed = dict(actions)
        for i in range(9):
            if f"label_{i + 1}" in routed:
                routed[f"label_{i + 1}"] = partial(self.assign, i)
        routed["accept"] = self.accept
        for name in ("undo", "undo_alt"):
            if name in actions:
                routed[name] = partial(self.undo_edit_or, actions[name])
        for name, step in (("back", -1), ("forward", 1)):
            routed[name] = partial(self.editor.step, step)
        leave = actions.get("leave_history")
        if leave is not None:
            routed["leave_history"] = partial(self.escape_or, leave)
        for old in self.history_shortcuts:
            old.setParent(None)
            old.deleteLater()
        self.history_shortcuts = []
        for name, keys in HISTORY_KEYS.items():
            if name in actions:
                shortcut = QShortcut(QKeySequence(keys), self)
                shortcut.activated.connect(actions[name])
                self.history_shortcuts.append(shortcut)
        return routed

    def assign(self, index: int) -> None:
        self.editor.assign(index)
        self.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def accept(self) -> None:
        self.editor.accept()

    def undo_edit_or(self, fallback: Callable[[], None]) -> None:
        if not self.editor.undo():
            fallback()

    def escape_or(self, fallback: Callable[[], None]) -> None:
        if not self.editor.clear_selection():
            fallback()

    # -- what is shown -------------------------------------------------------------------------

    def show_content(self, text: str, image: bytes | None) -> None:
        """Spans are labeled on text: the editor shows it (``show_entry``), no image pane."""
        self.image.setVisible(False)

    def show_entry(self, entry: QueueEntry | None, waiting: str = "",
                   cost: CostEstimate | None = None, image: bytes | None = None) -> None:
        shown = None if entry is None else ("queue", int(entry.item_id))
        # A round refreshes the window while a sentence is being edited: the edits stay.
        keep = shown is not None and shown == self.shown and self.editor.can_undo()
        super().show_entry(entry, waiting, cost, image)
        self.accept_button.setEnabled(entry is not None)
        if entry is None:
            self.shown = None
            self.notice.clear()
            self.editor.show_placeholder(waiting or "The batch is done. A new one is being "
                                                    "chosen.")
            return
        suggestions, readable = _spans_of(entry.predicted[0] if entry.predicted else None)
        if entry.predicted and readable:
            n = len(suggestions)
            self.prediction.setText(
                f"Model: {n} suggested entit{'y' if n == 1 else 'ies'} (dashed), "
                f"{entry.predicted[1]:.0%} sure of the sentence")
        elif entry.predicted:
            self.prediction.setText("Model: its suggestion could not be read")
        if entry.token_uncertainty:
            self.reason.setText(self.reason.text() + "; the tokens the model is least sure "
                                "of are underlined in orange")
        same, self.shown = shown == self.shown, shown
        if keep:
            return
        self.notice.clear()
        caret, anchor = self.editor.caret, self.editor.anchor
        dropped = self.editor.set_item(entry.text, entry.tokens, [], suggestions,
                                       entry.token_uncertainty)
        if same and self.editor.editable:  # a round's new suggestions: the cursor stays
            last = len(self.editor.tokens) - 1
            self.editor.caret = min(caret, last)
            self.editor.anchor = None if anchor is None else min(anchor, last)
        if self.editor.problem:
            self.notice.setText(f"This sentence cannot be edited: {self.editor.problem}.")
        elif entry.tokens is None:
            self.notice.setText("This item has no stored tokens, so its spans cannot be "
                                "edited; import it into the span project again.")
        elif dropped:
            self.notice.setText(f"{len(dropped)} suggestion(s) left out: not on token "
                                "boundaries or overlapping another.")
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_decision(self, decision: Decision, steps_back: int,
                      image: bytes | None = None) -> None:
        """An earlier sentence: its entities in the editor; Enter saves the edited set."""
        super().show_decision(decision, steps_back, image)
        spans, readable = _spans_of(decision.label if decision.action in ("label", "undo")
                                    else None)
        tokens = decision.tokens
        if decision.action not in ("label", "undo"):
            now = decision.action
        else:
            now = (f"{len(spans)} entit{'y' if len(spans) == 1 else 'ies'}" if readable
                   else "not a span list")
        self.history_banner.setText(
            f"  Earlier sentence ({steps_back} back): {now}. Edit it and press Enter to save; "
            f"{HISTORY_KEYS['forward']} or Esc returns to the queue.")
        self.shown = ("history", int(decision.item_id))
        self.notice.clear()
        if tokens is None:  # an item without stored tokens: its entities shown, not editable
            self.editor.set_item(decision.text, sorted({(s.start, s.end) for s in spans}),
                                 spans)
            self.editor.editable = False
            self.notice.setText("Shown read-only: this item has no stored tokens.")
        else:
            self.editor.set_item(decision.text, tokens, spans)
        self.accept_button.setEnabled(self.editor.editable)

    def _ensure_visible(self, rect: QRectF) -> None:
        self.scroller.ensureVisible(int(rect.center().x()), int(rect.center().y()),
                                  int(rect.width() / 2) + 10, int(rect.height()) + 10)

