"""The shared text-classification datasets (../shared/data) as fixed pool/test splits, and
their embeddings cached on disk, for the label-efficiency benchmarks.

Every split is fixed (seed 0, stratified) so that every benchmark and every run compares the
same items. Pools of the Chinese and Russian sets are subsampled: the multilingual embedder
runs at 16-64 texts/s on two cores, and 4,000 pool items are enough to see a learning curve.
Embeddings are cached under ``--cache`` (default /tmp/alapp-bench-data), keyed by the dataset,
the embedder and a hash of the texts, so a second run does not embed again.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# ../shared/data beside the clone (a git worktree one level deeper: ../../shared/data), or
# ALAPP_BENCH_DATA.
_HERE = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("ALAPP_BENCH_DATA") or next(
    (p for p in (_HERE.parent / "shared" / "data", _HERE.parent.parent / "shared" / "data")
     if p.is_dir()), _HERE.parent / "shared" / "data"))
DEFAULT_CACHE = Path("/tmp/alapp-bench-data")


@dataclass(frozen=True)
class Dataset:
    name: str
    language: str  # "en", "ru" or "zh": picks the language-appropriate default embedder
    classes: list[str]
    pool_texts: list[str]
    pool_labels: list[str]
    test_texts: list[str]
    test_labels: list[str]

    @property
    def embedder(self) -> str:
        """The app's ``auto`` choice for this language: MiniLM for English, e5 otherwise."""
        return "minilm" if self.language == "en" else "e5"


def _stratified(labels: list[str], per_class: int | None, share: float | None,
                seed: int = 0) -> tuple[list[int], list[int]]:
    """Row indices (chosen, rest): ``per_class`` rows of each class, or ``share`` of each."""
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for name in sorted(set(labels)):
        rows = np.flatnonzero(np.array(labels) == name)
        rng.shuffle(rows)
        take = per_class if per_class is not None else round(len(rows) * (share or 0))
        chosen.extend(int(r) for r in rows[:take])
    picked = set(chosen)
    return sorted(chosen), [i for i in range(len(labels)) if i not in picked]


def _subsample(texts: list[str], labels: list[str], n: int,
               seed: int = 0) -> tuple[list[str], list[str]]:
    if n >= len(texts):
        return texts, labels
    rows, _ = _stratified(labels, None, n / len(texts), seed)
    return [texts[i] for i in rows], [labels[i] for i in rows]


def ag_news() -> Dataset:
    """The shared 7,600-item file: 400 per class (1,600) held out as the test set, 6,000 pool."""
    names = (DATA / "ag_news" / "classes.txt").read_text().split("\n")
    texts, labels = [], []
    with open(DATA / "ag_news" / "test.csv", newline="", encoding="utf-8") as f:
        for cls, title, body in csv.reader(f):
            texts.append(f"{title}. {body}".replace("\\", " "))
            labels.append(names[int(cls) - 1])
    test, pool = _stratified(labels, 400, None)
    return Dataset("ag_news", "en", sorted(set(labels)), [texts[i] for i in pool],
                   [labels[i] for i in pool], [texts[i] for i in test],
                   [labels[i] for i in test])


def trec() -> Dataset:
    """The official split: 5,452 training questions as the pool, 500 test questions."""
    def read(name: str) -> tuple[list[str], list[str]]:
        rows = (DATA / "trec" / name).read_text(encoding="latin-1").splitlines()
        pairs = [line.split(" ", 1) for line in rows if line.strip()]
        return [q for _, q in pairs], [c for c, _ in pairs]
    pool_t, pool_l = read("TREC.train.all")
    test_t, test_l = read("TREC.test.all")
    return Dataset("trec", "en", sorted(set(pool_l)), pool_t, pool_l, test_t, test_l)


def sms_spam() -> Dataset:
    """5,574 SMS, 13% spam: 20% of each class held out as the test set."""
    texts, labels = [], []
    with open(DATA / "sms_spam" / "SMSSpamCollection", encoding="utf-8") as f:
        next(f)
        for line in f:
            label, text = line.rstrip("\n").split("\t", 1)
            texts.append(text)
            labels.append(label)
    test, pool = _stratified(labels, None, 0.2)
    return Dataset("sms_spam", "en", ["ham", "spam"], [texts[i] for i in pool],
                   [labels[i] for i in pool], [texts[i] for i in test],
                   [labels[i] for i in test])


def thucnews(pool_size: int = 4000, test_size: int = 1000) -> Dataset:
    """Chinese headlines, 10 classes: a stratified sample of dev.txt as the pool, of test.txt as
    the test set."""
    names = (DATA / "thucnews_titles" / "class.txt").read_text(encoding="utf-8").split()

    def read(name: str) -> tuple[list[str], list[str]]:
        rows = (DATA / "thucnews_titles" / name).read_text(encoding="utf-8").splitlines()
        pairs = [line.rsplit("\t", 1) for line in rows if line.strip()]
        return [t for t, _ in pairs], [names[int(c)] for _, c in pairs]
    pool_t, pool_l = _subsample(*read("dev.txt"), pool_size)
    test_t, test_l = _subsample(*read("test.txt"), test_size)
    return Dataset("thucnews", "zh", sorted(set(pool_l)), pool_t, pool_l, test_t, test_l)


def rusentitweet(pool_size: int = 4000, test_size: int = 1000) -> Dataset:
    """Russian tweets, 5 classes: stratified samples of the official train and test files."""
    def read(name: str) -> tuple[list[str], list[str]]:
        with open(DATA / "rusentitweet" / name, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [r["text"] for r in rows], [r["label"] for r in rows]
    pool_t, pool_l = _subsample(*read("rusentitweet_train.csv"), pool_size)
    test_t, test_l = _subsample(*read("rusentitweet_test.csv"), test_size)
    return Dataset("rusentitweet", "ru", sorted(set(pool_l)), pool_t, pool_l, test_t, test_l)


LOADERS = {"ag_news": ag_news, "trec": trec, "sms_spam": sms_spam, "thucnews": thucnews,
           "rusentitweet": rusentitweet}


def load(name: str) -> Dataset:
    if name not in LOADERS:
        raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(LOADERS)}")
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is missing: the benchmark reads the shared datasets")
    return LOADERS[name]()


def embedded(texts: list[str], embedder: str, cache: Path = DEFAULT_CACHE) -> np.ndarray:
    """The app's embedder (``minilm`` or ``e5``) over ``texts``, cached on disk."""
    from alapp.ml.embedders import make_embedder

    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = cache / f"{embedder}-{len(texts)}-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.asarray(make_embedder(embedder, texts).embed(texts), dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
