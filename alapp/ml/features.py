"""TF-IDF features over word and character n-grams, and dense LSA embeddings from them.

Character n-grams make Russian inflections and unsegmented Chinese work with no tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass
class TfidfFeatures:
    matrix: Any  # scipy.sparse CSR, one row per text
    embeddings: NDArray[np.float32]  # unit-length LSA vectors for diversity strategies


def tfidf_features(texts: Sequence[str], max_features: int = 50_000, lsa_dims: int = 64,
                   seed: int = 0) -> TfidfFeatures:
    from scipy.sparse import hstack
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=1, sublinear_tf=True,
                            max_features=max_features, token_pattern=r"(?u)\b\w+\b")
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=1, sublinear_tf=True,
                            max_features=max_features)
    matrix = hstack([words.fit_transform(texts), chars.fit_transform(texts)]).tocsr()
    dims = max(1, min(lsa_dims, matrix.shape[1] - 1, matrix.shape[0] - 1))
    dense = TruncatedSVD(dims, random_state=seed).fit_transform(matrix).astype(np.float32)
    dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
    return TfidfFeatures(matrix, dense)
