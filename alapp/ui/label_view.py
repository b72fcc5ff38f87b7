"""The item being labeled: its text and image, what the model thinks, why it was chosen, the
labels."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtGui
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPaintEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyleOptionButton,
    QStylePainter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from alapp.al.costmodel import CostEstimate
from alapp.app.session import Decision, QueueEntry
from alapp.ui.resources import text_font

# By object name: a plain "QFrame" selector would also frame the labels inside (QLabel is one).
BANNER_STYLE = ("#banner { background: #fff4d6; border: 1px solid #e0c060; "
                "border-radius: 4px; }")
HISTORY_STYLE = "QLabel { background: #e3efff; border: 1px solid #7aa7e0; border-radius: 4px; }"
IMAGE_ONLY = "(image only)"  # in lists, for an item whose post has an image and no text
CHECKED_STYLE = ("QPushButton:checked { background: #cfe3ff; border: 2px solid #1f5fbf; "
                 "font-weight: bold; }")


def literal(text: str) -> str:
    """``text`` for a widget that guesses plain or rich text (a message box, a tooltip), so
    that it shows literally: a label ``<b>x</b>`` is not bold, ``<img src=...>`` loads nothing.
    Text Qt would take as plain is returned as it is."""
    if not QtGui.Qt.mightBeRichText(text):
        return text
    return QtGui.Qt.convertFromPlainText(text, Qt.WhiteSpaceMode.WhiteSpaceNormal)


def plain_label(text: str = "") -> QLabel:
    """A label for user data (label names, item text, file names, errors): never rich text."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    return label


def button_text(text: str) -> str:
    """A button shows ``&`` as a shortcut marker: ``R&D`` would read "RD" and take Alt+D."""
    return text.replace("&", "&&")


class LabelButton(QPushButton):
    """A label's button: the whole name when there is room, cut with "…" when the window is
    narrow (the whole name in the tooltip), so long label names (Russian, German) never set
    the window's minimum width. A label's description (issue 17) is a smaller grey line under
    the name, cut with "…" to the button's width (issue 19: the key legend), whole in the
    tooltip."""

    MIN_WIDTH = 64
    DESCRIPTION_COLOUR = "#5a5a5a"

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.description = ""  # the label's description (issue 17), under the name
        # A push button's width policy makes its text width the minimum: let it shrink.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setToolTip(literal(text.replace("&&", "&")))

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.MIN_WIDTH), max(hint.height(), self._two_lines()))

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(hint.width(), max(hint.height(), self._two_lines()))

    def _two_lines(self) -> int:
        """The height the name and the description line need (0: no description)."""
        if not self.description:
            return 0
        return self.fontMetrics().height() + self._small_font().pointSize() * 2 + 12

    def _small_font(self) -> QtGui.QFont:
        font = QtGui.QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        font.setBold(False)
        return font

    def set_description(self, description: str) -> None:
        self.description = " ".join(description.split())
        self.setText(self.text())
        self.updateGeometry()
        self.update()

    def setText(self, text: str) -> None:
        super().setText(text)
        shown = text.replace("&&", "&")
        self.setToolTip(literal(f"{shown}\n{self.description}" if self.description else shown))

    def paintEvent(self, event: QPaintEvent) -> None:
        option = QStyleOptionButton()
        self.initStyleOption(option)
        room = self.style().subElementRect(QStyle.SubElement.SE_PushButtonContents, option,
                                           self).width() - 8
        if self.fontMetrics().horizontalAdvance(option.text) > room:
            option.text = self.fontMetrics().elidedText(option.text,
                                                        Qt.TextElideMode.ElideRight, room)
        painter = QStylePainter(self)
        if not self.description:
            painter.drawControl(QStyle.ControlElement.CE_PushButton, option)
            return
        # The name on the upper part, the description on a smaller grey line under it.
        small = QtGui.QFontMetrics(self._small_font())
        below = small.height() + 2
        name_option = QStyleOptionButton(option)
        name_option.rect = option.rect.adjusted(0, 0, 0, -below)
        option.text = ""
        painter.drawControl(QStyle.ControlElement.CE_PushButton, option)
        painter.drawControl(QStyle.ControlElement.CE_PushButtonLabel, name_option)
        painter.setFont(self._small_font())
        painter.setPen(QtGui.QColor(self.DESCRIPTION_COLOUR if self.isEnabled()
                                    else "#a0a0a0"))
        inside = self.style().subElementRect(QStyle.SubElement.SE_PushButtonContents, option,
                                             self)  # clear of a coloured border (span types)
        line = QRect(inside.left() + 2, option.rect.bottom() - below - 3, inside.width() - 4,
                     below)
        painter.drawText(line, int(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop),
                         small.elidedText(self.description, Qt.TextElideMode.ElideRight,
                                          line.width()))


class ElidedGroupBox(QGroupBox):
    """A group box whose title is cut with "…" when the box is narrower than it (the whole
    title in the tooltip): a long title never sets the window's minimum width. ``title()``
    is the whole title."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = ""
        self.setTitle(title)

    def title(self) -> str:
        return self._title

    def setTitle(self, title: str) -> None:
        self._title = title
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        layout = self.layout()
        inside = layout.totalMinimumSize().width() if layout is not None else 0
        return QSize(max(inside + 4, 96), hint.height())

    def _fit(self) -> None:
        room = max(40, self.width() - 24)
        shown = self._title
        if self.fontMetrics().horizontalAdvance(shown) > room:
            shown = self.fontMetrics().elidedText(shown, Qt.TextElideMode.ElideRight, room)
        if shown != super().title():
            super().setTitle(shown)
        self.setToolTip(literal(self._title) if shown != self._title else "")


class ImagePane(QLabel):
    """An item's image, decoded from the bytes kept in the project (nothing is fetched) and
    scaled to fit the pane with its proportions kept (small images grow at most 3x)."""

    MAX_UPSCALE = 3.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        # The pane takes the room it is given; the picture never sets the window's size.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(120, 120)
        self.image: QImage | None = None
        self._data: bytes | None = None

    def show_image(self, data: bytes | None) -> bool:
        """Show ``data``; False when there is no image to show."""
        if data and data == self._data:
            return True  # the same item again (a refresh): already decoded and shown
        self.image, self._data = None, data
        self.clear()
        if not data:
            return False
        image = QImage.fromData(data)
        if image.isNull():
            self.setText("This item's image cannot be shown: the file is damaged or in a "
                         "format this system cannot read.")
        else:
            self.image = image
            self._fit()
        return True

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if self.image is None:
            return
        room = self.contentsRect().size()
        cap = QSize(int(self.image.width() * self.MAX_UPSCALE),
                    int(self.image.height() * self.MAX_UPSCALE))
        target = room.boundedTo(cap)
        if target.width() < 1 or target.height() < 1:
            return
        scaled = self.image.scaled(target, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(QPixmap.fromImage(scaled))


class LabelView(QWidget):
    label_chosen = Signal(str)

    def __init__(self, labels: list[str], multi_label: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.test_banner = QFrame()
        self.test_banner.setObjectName("banner")
        self.test_banner.setStyleSheet(BANNER_STYLE)
        banner = QHBoxLayout(self.test_banner)
        offer = QLabel("No held-out test set yet: the learning curve and the stopping "
                       "signals need one the strategy did not choose.")
        offer.setWordWrap(True)  # a banner that does not wrap sets the window's width
        banner.addWidget(offer, 1)
        self.test_set_start = QPushButton("Label a random test set first")
        self.test_set_later = QPushButton("Not now")
        for button in (self.test_set_start, self.test_set_later):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            banner.addWidget(button)
        self.test_banner.setVisible(False)
        # First open of a project: who labels? The login until the annotator says otherwise;
        # a banner, not a dialog, so nothing waits for an answer.
        self.name_banner = QFrame()
        self.name_banner.setObjectName("banner")
        self.name_banner.setStyleSheet(BANNER_STYLE)
        row = QHBoxLayout(self.name_banner)
        self.name_text = plain_label()
        self.name_text.setWordWrap(True)
        row.addWidget(self.name_text, 1)
        self.name_change = QPushButton("Set your name…")
        self.name_keep = QPushButton("Keep")
        for button in (self.name_change, self.name_keep):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            row.addWidget(button)
        self.name_banner.setVisible(False)
        self.history_banner = plain_label()
        self.history_banner.setWordWrap(True)
        self.history_banner.setStyleSheet(HISTORY_STYLE)
        self.history_banner.setVisible(False)
        self.text = QTextBrowser()
        self.text.setFont(text_font(16))
        self.text.setOpenLinks(False)
        self.text.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's shortcuts
        self.image = ImagePane()
        self.image.setVisible(False)
        # A sentence pair's second text (issue 16): its own box under a caption, shown only
        # for pairs, so the two texts never run together.
        self.text_b_caption = plain_label("Second text of the pair")
        self.text_b_caption.setStyleSheet("QLabel { font-weight: bold; color: #1f5fbf; }")
        self.text_b = QTextBrowser()
        self.text_b.setFont(text_font(16))
        self.text_b.setOpenLinks(False)
        self.text_b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.text_b.setStyleSheet("QTextBrowser { background: #f3f7ff; }")
        self._show_text_b(None)
        self.prediction = plain_label()
        self.reason = plain_label()
        self.cost = plain_label()
        for widget in (self.prediction, self.reason, self.cost):
            widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            widget.setWordWrap(True)  # label names and reasons are long in some languages
        info = QHBoxLayout()
        info.addWidget(self.prediction, 2)
        info.addWidget(self.reason, 2)
        info.addWidget(self.cost, 1)
        self.grid = QGridLayout()
        self.buttons: dict[str, QPushButton] = {}
        self.hint = plain_label()
        self.hint.setEnabled(False)
        self.hint.setWordWrap(True)
        # issue 19: the team's guidelines, beside the window (F1 by default)
        self.guidelines_button = QPushButton("Guidelines")
        self.guidelines_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.guidelines_button.setToolTip("The project's labeling guidelines and label "
                                          "descriptions (edit them in Settings)")
        layout = QVBoxLayout(self)
        layout.addWidget(self.name_banner)
        layout.addWidget(self.test_banner)
        layout.addWidget(self.history_banner)
        content = QHBoxLayout()  # the text(s), and the item's image beside them when it has one
        texts = QVBoxLayout()
        texts.addWidget(self.text, 1)
        texts.addWidget(self.text_b_caption)  # a sentence pair's second text, under the first
        texts.addWidget(self.text_b, 1)
        content.addLayout(texts, 3)
        content.addWidget(self.image, 2)
        layout.addLayout(content, 1)
        layout.addLayout(info)
        layout.addLayout(self.grid)
        hint_row = QHBoxLayout()
        hint_row.addWidget(self.hint, 1)
        hint_row.addWidget(self.guidelines_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(hint_row)
        self.keys: dict[str, str] = {}
        self.probs: dict[str, float] = {}  # multi-label: the model's probability per label
        self.set_labels(labels, multi_label)

    def set_labels(self, labels: list[str], multi_label: bool) -> None:
        for button in self.buttons.values():
            button.deleteLater()
        self.multi_label = multi_label
        self.labels = labels
        self.buttons = {}
        for i, name in enumerate(labels):
            button = LabelButton(button_text(name))
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setMinimumHeight(40)
            button.setCheckable(multi_label)
            button.setStyleSheet(CHECKED_STYLE)
            button.clicked.connect(lambda _=False, n=name: self.label_chosen.emit(n))
            self.grid.addWidget(button, i // 5, i % 5)
            self.buttons[name] = button
        self.show_keys(self.keys)

    def show_descriptions(self, descriptions: dict[str, str]) -> None:
        """Each label's description in its button's tooltip (issue 17)."""
        for name, button in self.buttons.items():
            if isinstance(button, LabelButton):
                button.set_description(descriptions.get(name, ""))
        tall = max([b._two_lines() for b in self.buttons.values()
                    if isinstance(b, LabelButton)] or [0])
        for button in self.buttons.values():  # one height for the whole row of buttons
            button.setMinimumHeight(max(40, tall))
        self.show_keys(self.keys)

    def show_keys(self, keys: dict[str, str]) -> None:
        """Put each label's key on its button, and the other keys in the hint line."""
        self.keys = keys

        def shown(action: str) -> str:
            return QKeySequence(keys.get(action, "")).toString(
                QKeySequence.SequenceFormat.NativeText) or "–"

        for i, (name, button) in enumerate(self.buttons.items()):
            key = keys.get(f"label_{i + 1}", "")
            text = f"{shown(f'label_{i + 1}')}   {name}" if key else name
            if name in self.probs:  # multi-label: the model's probability for this label
                text += f"   {self.probs[name]:.0%}"
            button.setText(button_text(text))
        enter = "confirm the chosen labels" if self.multi_label else "accept the prediction"
        none = (f"{shown('none_of_these')}: none of these · "
                if self.multi_label and "none_of_these" in keys else "")
        self.hint.setText(
            f"{shown('accept')}: {enter} · {none}{shown('undo')}/{shown('undo_alt')}: undo · "
            f"{shown('skip')}: skip · {shown('flag')}: flag · {shown('back')}/"
            f"{shown('forward')}: earlier decisions · Settings › Keyboard to change keys")
        self._show_guidelines_key(keys)

    def _show_guidelines_key(self, keys: dict[str, str]) -> None:
        key = QKeySequence(keys.get("guidelines", "")).toString(
            QKeySequence.SequenceFormat.NativeText)
        self.guidelines_button.setText(f"Guidelines ({key})" if key else "Guidelines")

    def history_keys(self, keys: dict[str, str]) -> tuple[str, str]:
        """The keys that step back and forward through earlier decisions, as bound."""
        return keys.get("back", ""), keys.get("forward", "")

    def route_actions(self, actions: dict[str, Callable[[], None]]
                      ) -> dict[str, Callable[[], None]]:
        """The window's key actions (name -> slot) as this view wants them bound: the same
        here; a view of another task kind gives keys its own meaning (span_view)."""
        return actions

    def offer_test_set(self, on: bool) -> None:
        self.test_banner.setVisible(on)

    def offer_name(self, on: bool, name: str = "") -> None:
        if on:
            self.name_text.setText(f"Your labels are recorded as “{name}” (your login). "
                                   "Set the name your team knows you by, or keep this one.")
        self.name_banner.setVisible(on)

    def show_content(self, text: str, image: bytes | None) -> None:
        """The item's text and image: an item without an image shows its text alone, one
        without text (an image-only post) its image alone, with no empty text box."""
        has_image = self.image.show_image(image)
        self.image.setVisible(has_image)
        self.text.setPlainText(text)
        self.text.setVisible(bool(text.strip()) or not has_image)

    def _show_text_b(self, text_b: str | None) -> None:
        self.text_b_caption.setVisible(text_b is not None)
        self.text_b.setVisible(text_b is not None)
        self.text_b.setPlainText(text_b or "")

    def show_entry(self, entry: QueueEntry | None, waiting: str = "",
                   cost: CostEstimate | None = None, image: bytes | None = None) -> None:
        self.history_banner.setVisible(False)
        self.show_toggled(set())
        self._show_text_b(None if entry is None else entry.text_b)
        if entry is None:
            self.show_content(waiting or "The batch is done. A new one is being chosen.", None)
            for widget in (self.prediction, self.reason, self.cost):
                widget.clear()
            self._enable(False)
            return
        self.show_content(entry.text, image)
        if entry.predicted:
            label, confidence = entry.predicted
            if self.multi_label:
                label = label.replace("|", " + ") or "none of these"
            self.prediction.setText(f"Model: {label} ({confidence:.0%})")
        else:
            self.prediction.setText("Model: no prediction yet")
        self.reason.setText(f"Why: {entry.reason}")
        self.cost.setText("Est. cost: " + (f"{entry.predicted_cost:.0f} s"
                                           if entry.predicted_cost else "n/a"))
        self.cost.setToolTip(cost_accuracy(cost))
        self._enable(True)
        for name, button in self.buttons.items():
            button.setDefault(bool(entry.predicted and entry.predicted[0] == name))

    def show_decision(self, decision: Decision, steps_back: int,
                      image: bytes | None = None) -> None:
        """An earlier decision, editable: a label key changes it."""
        now = decision.label if decision.action in ("label", "undo") else decision.action
        if self.multi_label and decision.label == "" and decision.action in ("label", "undo"):
            now = "none of these"
        back = " or ".join(QKeySequence(self.keys[k]).toString(  # as bound now
            QKeySequence.SequenceFormat.NativeText) for k in ("forward", "leave_history")
            if self.keys.get(k))
        self.history_banner.setText(
            f"  Earlier decision ({steps_back} back): {now or 'no label'}. Press a label "
            "key to change it; " + (f"{back} returns to the queue." if back else
                                    "Settings › Keyboard sets a key back to the queue."))
        self.history_banner.setVisible(True)
        self.show_content(decision.text, image)
        self._show_text_b(decision.text_b)
        self.prediction.clear()
        self.reason.clear()
        self.cost.clear()
        self._enable(True)
        chosen = set((decision.label or "").split("|")) - {""}
        for name, button in self.buttons.items():
            button.setDefault(name in chosen)
            if self.multi_label:
                button.setChecked(name in chosen)

    def show_label_probs(self, probs: dict[str, float] | None) -> None:
        """Multi-label: each toggle shows the model's probability for its label (50% is the
        label's tuned threshold); None clears them."""
        probs = probs or {}
        if probs != self.probs:
            self.probs = probs
            self.show_keys(self.keys)
        for name, button in self.buttons.items():
            said = (f"The model: {probs[name]:.0%} for this label (50% is where it says yes)"
                    if name in probs else "")
            description = getattr(button, "description", "")  # issue 19: kept in the tooltip
            button.setToolTip(literal("\n".join(t for t in (said, description) if t)))

    def show_toggled(self, chosen: set[str]) -> None:
        if self.multi_label:
            for name, button in self.buttons.items():
                button.setChecked(name in chosen)

    def _enable(self, on: bool) -> None:
        for button in self.buttons.values():
            button.setEnabled(on)


def cost_accuracy(cost: CostEstimate | None) -> str:
    """How far to trust a time estimate, shown wherever one is."""
    if cost is None:
        return "No cost model yet"
    if cost.mae_s is None or cost.relative_error is None:
        return (f"{cost.model} model, trust {cost.trust}: too few timed labels to measure its "
                f"error yet ({cost.n_measured})")
    return (f"{cost.model} model, trust {cost.trust}: held-out error ±{cost.mae_s:.0f} s "
            f"({cost.relative_error:.0%}) over {cost.n_measured} timed labels")
