"""What the span editor edits, without Qt: one text's tokens and entities, the token cursor
and selection, the rules of typing, changing and deleting entities, and the undo stack.

``SpanEdits`` is the state half of ``span_editor.SpanEditor`` (which draws it and turns mouse
and keys into these calls); everything is in token indices, and ``spans()`` turns it into code
point offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from alapp.core.spans import Span, TokenOffsets, encode_spans

MAX_UNDO = 200


@dataclass(frozen=True)
class Entity:
    """An entity in token indices (``first``..``last`` inclusive); ``suggested``: the model's,
    not yet confirmed by the annotator."""

    first: int
    last: int
    label: str
    suggested: bool = False

    def covers(self, token: int) -> bool:
        return self.first <= token <= self.last

    def overlaps(self, first: int, last: int) -> bool:
        return self.first <= last and first <= self.last


def tokens_fit(tokens: TokenOffsets, length: int) -> bool:
    """Tokens in text order, each non-empty, inside the text and apart from the next."""
    end = 0
    for start, stop in tokens:
        if not end <= start < stop <= length:
            return False
        end = stop
    return True


def one_line(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


class SpanEdits:
    """The entities of one text. Subclasses hear of changes through ``_changed`` (with a
    message for the annotator, "" when an edit succeeded) and ``_moved`` (the cursor)."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.text = ""
        self.tokens: TokenOffsets = []
        self.entities: list[Entity] = []
        self.undo_stack: list[list[Entity]] = []
        self.caret = 0  # the token cursor
        self.anchor: int | None = None  # where the selection started; None: no selection
        self.editable = False
        self.problem = ""  # why the text cannot be edited, if it cannot

    def _changed(self, message: str = "") -> None:
        """After every change: ``message`` says why an edit was refused."""

    def _moved(self) -> None:
        """After the cursor moved."""

    def load(self, text: str, tokens: TokenOffsets | None, spans: Sequence[Span],
             suggestions: Sequence[Span] = ()) -> list[Span]:
        """A new text; returns the spans (given or suggested) left out: not on token
        boundaries, or overlapping an earlier one."""
        self.text = text
        self.tokens = [(int(a), int(b)) for a, b in tokens or []]
        self.problem = ""
        if not tokens_fit(self.tokens, len(text)):
            self.problem = "its stored tokens do not fit its text"
            self.tokens = []
        self.editable = bool(self.tokens)
        self.undo_stack = []
        self.caret, self.anchor = 0, None
        starts = {a: i for i, (a, _) in enumerate(self.tokens)}
        ends = {b: i for i, (_, b) in enumerate(self.tokens)}
        self.entities, dropped = [], []
        for span, suggested in [(s, False) for s in spans] + [(s, True) for s in suggestions]:
            first, last = starts.get(span.start), ends.get(span.end)
            if (first is None or last is None or last < first
                    or any(e.overlaps(first, last) for e in self.entities)):
                dropped.append(span)
                continue
            self.entities.append(Entity(first, last, span.label, suggested))
        return dropped

    def spans(self) -> list[Span]:
        return sorted(Span(self.tokens[e.first][0], self.tokens[e.last][1], e.label)
                      for e in self.entities)

    def value(self) -> str:
        """The decision this text gets on Enter: suggestions count as accepted."""
        return encode_spans(self.spans())

    # -- the cursor and the selection ----------------------------------------------------------

    def selection(self) -> tuple[int, int] | None:
        """The selected tokens (first, last), or None when only the cursor is set."""
        if self.anchor is None or not self.tokens:
            return None
        return min(self.anchor, self.caret), max(self.anchor, self.caret)

    def current_entity(self) -> Entity | None:
        """The entity under the cursor when nothing is selected: what a type key changes and
        Delete removes."""
        if self.anchor is not None or not self.tokens:
            return None
        return next((e for e in self.entities if e.covers(self.caret)), None)

    def step(self, delta: int, extend: bool = False) -> None:
        """Move the token cursor; ``extend`` grows the selection from where it started."""
        if not self.editable:
            return
        if extend and self.anchor is None:
            self.anchor = self.caret
        elif not extend:
            self.anchor = None
        self.caret = max(0, min(len(self.tokens) - 1, self.caret + delta))
        self._moved()

    def select(self, first: int, last: int) -> None:
        """Select tokens ``first``..``last`` (the cursor ends on ``last``)."""
        if not self.editable:
            return
        self.anchor, self.caret = first, last
        self._moved()

    def set_cursor(self, token: int) -> None:
        if not self.editable:
            return
        self.anchor, self.caret = None, token
        self._moved()

    def clear_selection(self) -> bool:
        if self.anchor is None:
            return False
        self.anchor = None
        self._moved()
        return True

    # -- edits ---------------------------------------------------------------------------------

    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    def can_delete(self) -> bool:
        chosen = self.selection()
        if chosen is not None:
            return any(e.overlaps(*chosen) for e in self.entities)
        return self.current_entity() is not None

    def _edit(self, entities: list[Entity]) -> None:
        self.undo_stack.append(self.entities)
        del self.undo_stack[:-MAX_UNDO]
        self.entities = entities
        self._changed()

    def assign(self, index: int) -> bool:
        """The type key ``index`` (0-based): the selection becomes an entity of that type;
        with only a cursor, the entity under it changes type (a suggestion is confirmed), or
        the cursor's token becomes one. An overlap with another entity is refused, with a
        message (entities are flat, as BIO tags can say)."""
        if not self.editable or not 0 <= index < len(self.labels):
            return False
        label = self.labels[index]
        chosen = self.selection()
        current = self.current_entity()
        if chosen is None and current is not None:
            kept = [e for e in self.entities if e is not current]
            self._edit([*kept, Entity(current.first, current.last, label)])
            return True
        first, last = chosen if chosen is not None else (self.caret, self.caret)
        same = next((e for e in self.entities if (e.first, e.last) == (first, last)), None)
        clash = next((e for e in self.entities if e.overlaps(first, last)), None)
        if same is None and clash is not None:
            surface = self.text[self.tokens[clash.first][0]:self.tokens[clash.last][1]]
            self._changed(f"Refused: entities cannot overlap; “{one_line(surface)}” "
                          f"({clash.label}) is there. Delete it or change its type first.")
            return False
        self.anchor, self.caret = None, last
        self._edit([e for e in self.entities if e is not same] + [Entity(first, last, label)])
        return True

    def delete(self) -> bool:
        """Delete/Backspace: the entity under the cursor, or every entity the selection
        touches. False when there is none."""
        chosen = self.selection()
        if chosen is not None:
            kept = [e for e in self.entities if not e.overlaps(*chosen)]
        else:
            current = self.current_entity()
            kept = [e for e in self.entities if e is not current]
        if len(kept) == len(self.entities):
            return False
        self.anchor = None
        self._edit(kept)
        return True

    def undo(self) -> bool:
        """Undo the last edit of this text; False when there is none."""
        if not self.undo_stack:
            return False
        self.entities = self.undo_stack.pop()
        self._changed()
        return True

    def confirm_all(self) -> None:
        """Enter: the suggestions still there are the annotator's now."""
        self.entities = [replace(e, suggested=False) for e in self.entities]
        self._changed()
