"""The featurizer setting's little language, parsed in one place.

    auto | minilm | e5     a bundled sentence embedder (auto: e5 unless most texts are English)
    tfidf                  TF-IDF over word and character n-grams
    vectors:NAME           vectors imported with ``alapp import-vectors``
    anything else          a Hugging Face model folder (checked when it is used)
    A+B+...                several of these, one head per input (late fusion)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from alapp.core.errors import AlappError

SEPARATOR = "+"
VECTORS_PREFIX = "vectors:"


class PartKind(StrEnum):
    AUTO = "auto"
    MINILM = "minilm"
    E5 = "e5"
    TFIDF = "tfidf"
    VECTORS = "vectors"
    FOLDER = "folder"


# The names a user types as they are (vectors:NAME and folders come on top).
KEYWORDS: tuple[str, ...] = (PartKind.AUTO, PartKind.MINILM, PartKind.E5, PartKind.TFIDF)
HELP = "auto, minilm, e5, tfidf, vectors:NAME or a model folder (several joined with +)"


@dataclass(frozen=True)
class FeaturizerPart:
    kind: PartKind
    value: str = ""  # the vectors' NAME, or the folder path

    @classmethod
    def parse(cls, text: str) -> FeaturizerPart:
        """One input, as written in the setting."""
        part = text.strip()
        if not part:
            raise AlappError(f"featurizer {text!r}: empty; choose {HELP}")
        if part in KEYWORDS:
            return cls(PartKind(part))
        if part.startswith(VECTORS_PREFIX):
            name = part[len(VECTORS_PREFIX):].strip()
            if not name:
                raise AlappError(f"featurizer {text!r}: vectors: needs the NAME given to "
                                 "alapp import-vectors")
            return cls(PartKind.VECTORS, name)
        return cls(PartKind.FOLDER, part)

    @property
    def is_embedder(self) -> bool:
        """Computed by a sentence embedder (and cached in the project)."""
        return self.kind in (PartKind.AUTO, PartKind.MINILM, PartKind.E5, PartKind.FOLDER)

    @property
    def dense(self) -> bool:
        """Dense vectors (TF-IDF is a sparse matrix)."""
        return self.kind is not PartKind.TFIDF

    def __str__(self) -> str:
        if self.kind is PartKind.VECTORS:
            return f"{VECTORS_PREFIX}{self.value}"
        if self.kind is PartKind.FOLDER:
            return self.value
        return self.kind.value


@dataclass(frozen=True)
class FeaturizerSpec:
    parts: tuple[FeaturizerPart, ...]

    @classmethod
    def parse(cls, text: str) -> FeaturizerSpec:
        if not isinstance(text, str):
            raise AlappError(f"featurizer {text!r}: not a text; choose {HELP}")
        if not text.strip():
            raise AlappError(f"featurizer {text!r}: empty; choose {HELP}")
        pieces = text.split(SEPARATOR)
        if len(pieces) == 1:
            return cls((FeaturizerPart.parse(text),))
        if any(not p.strip() for p in pieces):
            raise AlappError(f"featurizer {text!r}: an empty part around {SEPARATOR}; "
                             f"choose {HELP}")
        parts = tuple(FeaturizerPart.parse(p) for p in pieces)
        if any(p.kind is PartKind.TFIDF for p in parts):
            raise AlappError(f"featurizer {text!r}: tfidf cannot be fused with other inputs "
                             "(late fusion needs dense vectors); use it alone")
        seen: set[str] = set()
        for part in parts:
            if str(part) in seen:
                raise AlappError(f"featurizer {text!r}: {part} appears twice")
            seen.add(str(part))
        return cls(parts)

    @property
    def several(self) -> bool:
        """Several inputs: late fusion, one head per input."""
        return len(self.parts) > 1

    @property
    def dense(self) -> bool:
        return all(p.dense for p in self.parts)

    def __str__(self) -> str:
        return SEPARATOR.join(str(p) for p in self.parts)
