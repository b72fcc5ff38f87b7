"""Typed ids and the small records that cross layer boundaries."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NewType

ItemId = NewType("ItemId", int)
EventId = NewType("EventId", int)


class Split(StrEnum):
    """Where an item belongs. Test items are never queried; seed items were labeled up front."""

    POOL = "pool"
    TEST = "test"
    SEED = "seed"


class Action(StrEnum):
    """What one label event records. An item's training label: store/resolution.py."""

    LABEL = "label"
    UNDO = "undo"  # restores the label the item had before the undone event (maybe none)
    SKIP = "skip"  # not now: the item may come back in a later batch
    SKIP_FOREVER = "skip_forever"  # never query this item again
    FLAG = "flag"  # needs a second look; does not change the label
    ADJUDICATION = "adjudication"  # a reviewer's final label (issue 19); none: withdrawn


class Source(StrEnum):
    """How an item came in front of the annotator (or into the project): stored with every
    label event and queue entry, apart from the strategy that chose it."""

    AL = "al"  # chosen by the query strategy
    RANDOM = "random"  # the batch's random share
    TEST_SET = "test-set"  # the held-out test set, drawn at random
    UNDO = "undo"  # back at the front of the queue after an undo
    RELABEL = "relabel"  # changed later (history, browse)
    IMPORT = "import"  # the label came with the imported file
    REVIEW = "review"  # a reviewer's adjudication (issue 19)
    UNKNOWN = "unknown"  # events written before sources were recorded, with nothing to tell


@dataclass(frozen=True)
class Selection:
    """Why an item was put in front of the annotator: stored with its label event."""

    source: Source
    strategy: str | None = None  # the query strategy, for AL and random-share picks
    score: float | None = None
    predicted_cost: float | None = None
    round_id: int | None = None

    @property
    def is_random_share(self) -> bool:
        return self.source == Source.RANDOM


@dataclass(frozen=True)
class Item:
    id: ItemId
    ext_id: str
    text: str
    split: Split
    meta: str | None = None  # JSON text, shown as-is


@dataclass(frozen=True)
class LabelEvent:
    id: EventId
    item_id: ItemId
    action: Action
    label: str | None
    annotator: str
    started_at: float | None
    submitted_at: float
    active_ms: int | None
    round_id: int | None
    source: Source
    strategy: str | None
    score: float | None
    predicted_cost: float | None
    is_random_share: bool


LABEL_SEPARATOR = "|"  # joins a multi-label decision's labels; not allowed in label names


def join_labels(chosen: set[str] | list[str], order: list[str]) -> str:
    """A multi-label decision as one stored value, in the project's label order, so the same
    set is always the same string."""
    return LABEL_SEPARATOR.join(name for name in order if name in set(chosen))


def split_labels(value: str) -> list[str]:
    """The labels of a stored multi-label value; "" is the empty set ("none of these")."""
    return value.split(LABEL_SEPARATOR) if value else []
