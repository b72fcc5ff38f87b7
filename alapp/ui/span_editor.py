"""The span editor: one text drawn with its tokens, where entities are selected, typed, changed,
deleted and undone with the mouse and the keyboard (issue 18).

The widget lays the whole text out once in a ``QTextLayout`` (bidi, Chinese, emoji, tabs and
line breaks are Qt's), keeps each token's rectangles, and paints entities, the selection and
the token cursor as shapes under the text: a key press changes a few numbers and repaints, it
never lays the text out again. Everything it stores and emits is in Python code points; Qt's
UTF-16 positions are converted by ``core.spans.Utf16Map``, and nowhere else.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QHelpEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTextLayout,
    QTextLine,
    QTextOption,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from alapp.core.spans import Span, TokenOffsets, Utf16Map
from alapp.ui.span_edits import Entity, SpanEdits

# Entity colours by the type's place in the project's labels (the project keeps no colours).
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f"]
UNKNOWN_COLOUR = "#555555"  # a stored type the project no longer has
UNCERTAIN = QColor(240, 150, 0)
SELECTION = QColor(40, 110, 230, 70)
CURSOR = QColor(20, 70, 180)
MARGIN = 10.0
# Characters that Qt would draw as boxes or not break on: swapped for ones of the same UTF-16
# length, so positions stay as they are. CR before LF becomes a zero-width space, every other
# line end a line separator (which QTextLayout breaks on).
LINE_BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2029")


def label_colour(labels: list[str], label: str) -> QColor:
    if label in labels:
        return QColor(PALETTE[labels.index(label) % len(PALETTE)])
    return QColor(UNKNOWN_COLOUR)


def display_text(text: str) -> str:
    """``text`` as the layout draws it: the same UTF-16 length, line ends Qt breaks on."""
    if not any(c in LINE_BREAKS or (c < " " and c != "\t") for c in text):
        return text
    out = []
    for i, ch in enumerate(text):
        if ch == "\r" and text[i + 1:i + 2] == "\n":
            out.append("\u200b")
        elif ch in LINE_BREAKS:
            out.append("\u2028")
        elif ch < " " and ch != "\t":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


class SpanEditor(QWidget, SpanEdits):
    """One text and its entities. ``accepted`` carries the sentence's decision as
    ``encode_spans`` text; ``message`` a short line for the annotator (a refused overlap)."""

    accepted = Signal(str)
    message = Signal(str)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        QWidget.__init__(self, parent)
        SpanEdits.__init__(self)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.label_keys: dict[str, int] = {str(i + 1): i for i in range(9)}
        self.uncertainty: list[float] = []
        self.placeholder = ""
        self.ensure_visible: Callable[[QRectF], None] | None = None
        self._press: int | None = None
        self._dragging = False
        self._layout: QTextLayout | None = None
        self._laid_width = -1.0
        self._rects: list[list[tuple[int, QRectF]]] = []  # per token: (line, rect) pieces
        self._line_tokens: list[list[int]] = []
        self._line_boxes: list[QRectF] = []
        self._levels: list[float] = []
        self._tag_font = QFont(self.font())
        self._set_fonts(self.font())

    # -- content -------------------------------------------------------------------------------

    def set_text_font(self, font: QFont) -> None:
        self.setFont(font)
        self._set_fonts(font)
        self._relayout(force=True)

    def _set_fonts(self, font: QFont) -> None:
        self._tag_font = QFont(font)
        self._tag_font.setPointSizeF(max(7.0, font.pointSizeF() * 0.55))
        self._tag_font.setBold(True)
        tag_height = QFontMetricsF(self._tag_font).height()
        self._spacing = tag_height + 4  # room under each line for the entities' type tags

    def set_labels(self, labels: list[str]) -> None:
        self.labels = list(labels)
        self.update()

    def set_label_keys(self, keys: dict[str, int]) -> None:
        """Key sequence (``QKeySequence`` portable text) -> the label's index."""
        self.label_keys = {QKeySequence(k).toString(): i for k, i in keys.items() if k}

    def set_item(self, text: str, tokens: TokenOffsets | None, spans: list[Span],
                 suggestions: Sequence[Span] = (), uncertainty: list[float] | None = None,
                 ) -> list[Span]:
        """Show ``text`` with its entities and the model's suggestions; returns the spans left
        out (``SpanEdits.load``)."""
        dropped = self.load(text, tokens, spans, suggestions)
        self.placeholder = ""
        self._press, self._dragging = None, False
        self.uncertainty = list(uncertainty or [])[:len(self.tokens)]
        top = max(self.uncertainty, default=0.0)
        # Shown as a subtle underline: the strongest three quarters of the scale, relative
        # to the item's most uncertain token.
        self._levels = [u / top if top > 0 and u / top >= 0.25 else 0.0
                        for u in self.uncertainty]
        self._relayout(force=True)
        return dropped

    def show_placeholder(self, text: str) -> None:
        """No item: a line of text instead, nothing to edit."""
        self.set_item(text, None, [])
        self.placeholder = text

    # -- layout --------------------------------------------------------------------------------

    def _relayout(self, force: bool = False) -> None:
        width = max(50.0, self.width() - 2 * MARGIN)
        if not force and width == self._laid_width and self._layout is not None:
            return
        self._laid_width = width
        index = Utf16Map(self.text)  # Qt's positions: converted there and nowhere else
        layout = QTextLayout(display_text(self.text), self.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        option.setTextDirection(Qt.LayoutDirection.LeftToRight)
        option.setTabStopDistance(QFontMetricsF(self.font()).horizontalAdvance(" ") * 8)
        layout.setTextOption(option)
        layout.setCacheEnabled(True)
        layout.beginLayout()
        y = MARGIN
        boxes = []
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(MARGIN, y))
            boxes.append(QRectF(MARGIN, y, width, line.height()))
            y += line.height() + self._spacing
        layout.endLayout()
        self._layout = layout
        self._line_boxes = boxes
        self._rects = []
        self._line_tokens = [[] for _ in boxes]
        # Per line once (each Qt call costs microseconds from Python); tokens come in text
        # order, so one pointer walks the lines.
        lines = [layout.lineAt(n) for n in range(len(boxes))]
        line_starts = [line.textStart() for line in lines]
        line_ends = [start + line.textLength() for start, line in zip(line_starts, lines,
                                                                       strict=True)]
        n = 0
        for t, (start, end) in enumerate(self.tokens):
            a, b = index.to_utf16(start), index.to_utf16(end)
            while n < len(lines) - 1 and line_ends[n] <= a:
                n += 1
            pieces = []
            m = n
            while m < len(lines):
                s, e = max(a, line_starts[m]), min(b, line_ends[m])
                if e > s:
                    # Leading edges of the first character and of the one after the token:
                    # both are grapheme boundaries (a trailing edge inside a surrogate pair
                    # or before a combining mark would be moved on by Qt).
                    x1, x2 = _x(lines[m], s), _x(lines[m], e)
                    box = boxes[m]
                    pieces.append((m, QRectF(min(x1, x2), box.top(),
                                             max(abs(x2 - x1), 2.0), box.height())))
                    self._line_tokens[m].append(t)
                if b <= line_ends[m]:
                    break
                m += 1
            self._rects.append(pieces)
        self.setMinimumHeight(int(y + MARGIN))
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def token_rect(self, token: int) -> QRectF:
        """The bounding box of a token's pieces (in widget coordinates)."""
        box = QRectF()
        for _, rect in self._rects[token]:
            box = box.united(rect)
        return box

    def token_at(self, pos: QPointF) -> int | None:
        """The token under ``pos``, else the nearest one on that line (so a drag that ends
        in the space between words snaps to a word), else the nearest line's."""
        if not self.tokens or not self._line_boxes:
            return None
        best_line, best_dy = 0, float("inf")
        for n, box in enumerate(self._line_boxes):
            if not self._line_tokens[n]:
                continue
            dy = 0.0 if box.top() <= pos.y() <= box.bottom() + self._spacing else min(
                abs(pos.y() - box.top()), abs(pos.y() - box.bottom()))
            if dy < best_dy:
                best_line, best_dy = n, dy
        best, best_dx = None, float("inf")
        for t in self._line_tokens[best_line]:
            for n, rect in self._rects[t]:
                if n != best_line:
                    continue
                dx = 0.0 if rect.left() <= pos.x() <= rect.right() else min(
                    abs(pos.x() - rect.left()), abs(pos.x() - rect.right()))
                if dx < best_dx:
                    best, best_dx = t, dx
        return best

    # -- state (SpanEdits) ---------------------------------------------------------------------

    def _changed(self, message: str = "") -> None:
        self.message.emit(message)
        if not message:
            self.changed.emit()
        self.update()

    def _moved(self) -> None:
        if self.ensure_visible is not None and self.tokens:
            self.ensure_visible(self.token_rect(self.caret))
        self.update()

    def accept(self) -> bool:
        """Enter: the sentence is done as shown (suggestions included)."""
        if not self.editable:
            return False
        self.confirm_all()
        self.accepted.emit(self.value())
        return True

    # -- keyboard ------------------------------------------------------------------------------

    def _label_index(self, event: QKeyEvent) -> int | None:
        combo = event.keyCombination()
        modifiers = combo.keyboardModifiers() & ~Qt.KeyboardModifier.KeypadModifier
        text = QKeySequence(combo.key().value | modifiers.value).toString()
        return self.label_keys.get(text)

    def event(self, event: QEvent) -> bool:
        # A window shortcut would take these keys (Backspace undoes a decision, Escape leaves
        # the history); while the span editor has a use for them, they are its own.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            key = event.key()
            shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            if ((key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.can_delete())
                    or (key == Qt.Key.Key_Escape and self.anchor is not None)
                    or (shift and key in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Home,
                                          Qt.Key.Key_End))):
                event.accept()
                return True
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            self._tooltip(event)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        extend = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        index = self._label_index(event)
        done = True
        if key == Qt.Key.Key_Left:
            self.step(-1, extend)
        elif key == Qt.Key.Key_Right:
            self.step(1, extend)
        elif key == Qt.Key.Key_Home:
            self.step(-len(self.tokens), extend)
        elif key == Qt.Key.Key_End:
            self.step(len(self.tokens), extend)
        elif index is not None:
            self.assign(index)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            done = self.accept()
        elif key == Qt.Key.Key_Z and ctrl:
            done = self.undo()
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            done = self.delete()
        elif key == Qt.Key.Key_Escape:
            done = self.clear_selection()
        else:
            done = False
        if not done:
            super().keyPressEvent(event)

    # -- mouse ---------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or not self.editable:
            return super().mousePressEvent(event)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self._press = self.token_at(event.position())
        self._dragging = False

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None or not event.buttons() & Qt.MouseButton.LeftButton:
            return
        token = self.token_at(event.position())
        if token is not None and (self._dragging or token != self._press):
            self._dragging = True
            self.select(self._press, token)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press is not None and not self._dragging:
            self.set_cursor(self._press)  # a click: the cursor (and the entity) there
        self._press, self._dragging = None, False

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        token = self.token_at(event.position()) if self.editable else None
        if token is not None:
            self.select(token, token)
        self._press, self._dragging = None, False

    def _tooltip(self, event: QHelpEvent) -> None:
        token = self.token_at(QPointF(event.pos()))
        shown = ""
        if token is not None and self.token_rect(token).contains(QPointF(event.pos())):
            entity = next((e for e in self.entities if e.covers(token)), None)
            if entity is not None:
                shown = (f"{entity.label} (suggested by the model: Enter accepts it)"
                         if entity.suggested else entity.label)
            if token < len(self.uncertainty) and self._levels[token] > 0:
                shown += ("\n" if shown else "") + (
                    f"Model uncertainty here: {self.uncertainty[token]:.2f}")
        if shown:
            QToolTip.showText(event.globalPos(), shown, self)
        else:
            QToolTip.hideText()
            event.ignore()

    # -- painting ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        clip = QRectF(event.rect())
        painter.fillRect(clip, QColor("white"))
        if self._layout is None:
            return
        # Only the lines in the exposed area (a long text in the scroll area paints a screen).
        shown = [n for n, box in enumerate(self._line_boxes)
                 if box.adjusted(-MARGIN, -4, MARGIN, self._spacing + 4).intersects(clip)]
        if not shown:
            return
        top, bottom = shown[0], shown[-1]
        tokens = [t for n in shown for t in self._line_tokens[n]]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for t in tokens:
            level = self._levels[t] if t < len(self._levels) else 0.0
            if level > 0:
                colour = QColor(UNCERTAIN)
                colour.setAlpha(int(60 + 140 * level))
                for _, rect in self._rects[t]:
                    painter.fillRect(QRectF(rect.left(), rect.bottom() - 1, rect.width(), 3),
                                     colour)
        current = self.current_entity() if self.hasFocus() or self._press is None else None
        for entity in self.entities:
            if (self._rects[entity.first][0][0] <= bottom
                    and self._rects[entity.last][-1][0] >= top):
                self._paint_entity(painter, entity, entity is current)
        chosen = self.selection()
        if chosen is not None:
            for t in range(chosen[0], chosen[1] + 1):
                for _, rect in self._rects[t]:
                    painter.fillRect(rect, SELECTION)
            self._fill_gaps(painter, chosen[0], chosen[1], SELECTION)
        painter.setPen(self.palette().text().color())
        self._layout.draw(painter, QPointF(0, 0), [], clip)
        if self.editable and self.tokens:
            pen = QPen(CURSOR if self.hasFocus() else QColor(150, 150, 150), 2)
            painter.setPen(pen)
            for _, rect in self._rects[self.caret]:
                y = rect.bottom() + 3
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        painter.end()

    def _pieces(self, first: int, last: int) -> list[QRectF]:
        """One rectangle per line across tokens ``first``..``last`` (the gaps included)."""
        lines: dict[int, QRectF] = {}
        for t in range(first, last + 1):
            for n, rect in self._rects[t]:
                lines[n] = lines[n].united(rect) if n in lines else QRectF(rect)
        return [lines[n] for n in sorted(lines)]

    def _fill_gaps(self, painter: QPainter, first: int, last: int, colour: QColor) -> None:
        if first == last:
            return
        covered: dict[int, list[QRectF]] = {}
        for t in range(first, last + 1):
            for n, rect in self._rects[t]:
                covered.setdefault(n, []).append(rect)
        for piece in self._pieces(first, last):
            n = next(k for k, rs in covered.items() if piece.contains(rs[0]))
            rects = sorted(covered[n], key=QRectF.left)
            for left, right in itertools.pairwise(rects):
                if right.left() > left.right():
                    painter.fillRect(QRectF(left.right(), piece.top(),
                                            right.left() - left.right(), piece.height()), colour)

    def _paint_entity(self, painter: QPainter, entity: Entity, current: bool) -> None:
        colour = label_colour(self.labels, entity.label)
        pieces = self._pieces(entity.first, entity.last)
        fill = QColor(colour)
        fill.setAlpha(28 if entity.suggested else 70)
        pen = QPen(colour.darker(115), 3.0 if current else 1.5)
        if entity.suggested:
            pen.setStyle(Qt.PenStyle.DashLine)
        for rect in pieces:
            box = rect.adjusted(-1, -1, 1, 1)  # no further: Chinese has no gaps
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(box, 3, 3)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box, 3, 3)
        if pieces:
            last = pieces[-1]
            tag = entity.label + ("?" if entity.suggested else "")
            painter.setFont(self._tag_font)
            painter.setPen(colour.darker(130))
            metrics = QFontMetricsF(self._tag_font)
            painter.drawText(QPointF(last.left() + 1, last.bottom() + 2 + metrics.ascent()), tag)
            painter.setFont(self.font())


def _x(line: QTextLine, position: int) -> float:
    """The x of a UTF-16 position on a laid-out line (PySide returns it with the position)."""
    found: tuple[float, int] = line.cursorToX(position)  # type: ignore[assignment]
    return float(found[0])
