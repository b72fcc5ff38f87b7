"""Span data (issue 18): the Chinese tokenizer choice, and CoNLL import/export speed.

Usage: python bench/bench_span_data.py [--data DIR] [--out docs/bench_span_data.json]

1. Chinese: alapp's rule (one token per Han character, Latin/digit runs whole) against jieba
   (installed, not declared; 42 MB) on the 10,000 THUCNews test headlines: load time,
   characters per second, tokens, and words where jieba glues an entity to its neighbour
   (an entity boundary inside a token cannot be labeled).
2. CoNLL-2003 train (14,041 sentences): import into a span project, export CoNLL and JSONL,
   read the labeled items back for training, and check the export equals the spans read.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.core.spans import tokenize
from alapp.store.export import export_labels
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from alapp.store.span_readers import read_spans
from alapp.store.spans import span_items

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
# Entities jieba keeps inside a longer word (LOC 美 in 访美 "visit the US", 中/美 in 中美关系,
# 京/沪 in 京沪高铁): with word tokens they cannot be labeled at all.
GLUED = ["习近平访美", "中美关系", "京沪高铁"]


def chinese(data: Path) -> dict[str, object]:
    texts = [line.split("\t")[0] for line in
             (data / "thucnews_titles" / "test.txt").read_text("utf-8").splitlines()]
    chars = sum(map(len, texts))
    start = time.perf_counter()
    ours = [tokenize(t, "zh") for t in texts]
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    words = [list(jieba.tokenize(t)) for t in texts]
    jieba_s = time.perf_counter() - start
    return {
        "texts": len(texts), "text_characters": chars,
        "characters": {"tokens": sum(map(len, ours)), "seconds": round(ours_s, 3),
                       "chars_per_s": round(chars / ours_s), "load_s": 0.0, "package_mb": 0},
        "jieba": {"tokens": sum(map(len, words)), "seconds": round(jieba_s, 3),
                  "chars_per_s": round(chars / jieba_s), "load_s": round(load_s, 2),
                  "package_mb": 42},
        "jieba_glued_examples": {t: "/".join(w for w, _, _ in jieba.tokenize(t)) for t in GLUED},
    }


def conll(data: Path) -> dict[str, object]:
    source = data / "conll2003_en" / "train.txt"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Project.create(folder / "p.alapp", ["PER", "ORG", "LOC", "MISC"],
                            task="spans") as project:
            start = time.perf_counter()
            report = import_file(project, source, ImportSpec())
            import_s = time.perf_counter() - start
            start = time.perf_counter()
            export_labels(project, folder / "out.conll")
            conll_s = time.perf_counter() - start
            start = time.perf_counter()
            export_labels(project, folder / "out.jsonl")
            jsonl_s = time.perf_counter() - start
            start = time.perf_counter()
            items = span_items(project)
            read_s = time.perf_counter() - start
        with open(source, encoding="utf-8", newline="") as a, \
                open(folder / "out.conll", encoding="utf-8") as b:
            same = ([r.spans for r in read_spans(source, a, "conll", "bio", 10**6)]
                    == [r.spans for r in read_spans(folder / "out.conll", b, "conll", "bio",
                                                    10**6)])
    return {"sentences": report.rows, "labeled": report.labeled, "import_s": round(import_s, 2),
            "export_conll_s": round(conll_s, 2), "export_jsonl_s": round(jsonl_s, 2),
            "span_items_s": round(read_s, 2), "items_read": len(items),
            "export_spans_equal_source": same}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {"machine": machine(), "chinese": chinese(args.data), "conll2003": conll(args.data)}
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
