"""The values a choice-valued setting may take: one list for the settings check, the command
line and the settings dialog."""

from __future__ import annotations

from enum import StrEnum


class Classifier(StrEnum):
    """The model a project asks for (late fusion is chosen automatically for several inputs;
    a strategy may need another kind, which the round then uses)."""

    LOGREG = "logreg"
    MLP = "mlp"
    COMMITTEE = "committee"
    FINETUNE = "finetune"
    MIXED_COMMITTEE = "mixed-committee"  # logistic regression, a small MLP, naive Bayes
    PROPAGATION = "propagation"  # label spreading over the embeddings' kNN graph (issue 17)


class CostModel(StrEnum):
    EQUAL = "equal"
    LENGTH = "length"
    LEARNED = "learned"  # the length model until there are measured times


class BudgetUnit(StrEnum):
    ITEMS = "items"
    HOURS = "hours"
    MONEY = "money"


class Device(StrEnum):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class TaskKind(StrEnum):
    CLASSIFICATION = "classification"
    SPANS = "spans"  # entities as character spans over tokens (issue 18)


class SelectionMode(StrEnum):
    """How items reach the annotator (seed 004, 2.1): ``pool`` ranks the whole unlabeled pool
    each round; ``stream`` lets items arrive in import order and asks only those whose
    uncertainty is above a threshold tuned to ``stream_ask_rate``."""

    POOL = "pool"
    STREAM = "stream"


def allowed(choices: type[StrEnum]) -> str:
    """``a, b or c`` for messages."""
    values = [c.value for c in choices]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


class MultiLabelModel(StrEnum):
    """How a multi-label project models its labels (issue 21)."""

    OVR = "ovr"  # one-vs-rest: one yes/no model per label (binary relevance)
    CHAINS = "chains"  # a classifier chain: each label's model also reads the earlier labels


class SpanModel(StrEnum):
    """A span project's tagger (issue 18): the CRF (any language, trains in seconds, the
    default and cold-start model) or a token-classification head on the local encoder."""

    CRF = "crf"
    TOKEN_HEAD = "token-head"
class ColdStart(StrEnum):
    """How the first rounds choose before a model can (issue 17): ``typiclust`` takes the most
    typical item of each dense region the labels do not cover (Hacohen et al. 2022);
    ``centroids`` the items nearest to cluster centres."""

    TYPICLUST = "typiclust"
    CENTROIDS = "centroids"


class TrainingLabelRule(StrEnum):
    """Which label an item trains on when several annotators disagree (issue 19)."""

    MAJORITY = "majority"
    RELIABLE = "reliable"
