"""Sequence active learning on real NER corpora (issue 18), through the application's span round.

For each corpus: the CRF's F1 trained on the whole pool, then per strategy (and random, in
the same run, from the same seeded first batch per seed) the test entity F1 at a grid of
sentence counts, with 95% intervals over seeds, and the sentences and tokens needed to reach
95% (98%, 99%) of the full-training F1. ``--round`` times one round on a 15,000-sentence pool
(retrain the CRF + score the pool + select); ``--natasha`` measures natasha's pre-annotation
on factRuEval (zero-shot, and a CRF trained on natasha's spans over the pool: a cold start).

Usage: python bench/bench_spans.py [--corpus conll|wnut|factru] [--pool-cap N] [--grid a,b,..]
       [--seeds S] [--strategies a,b] [--round] [--natasha] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this clone's alapp
from machine import machine

from alapp.loop.span_simulate import SpanCorpus, SpanSimConfig, corpus_from_tags, simulate_spans

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
CORPORA = {  # pool file, test file
    "conll": ("conll2003_en/train.txt", "conll2003_en/test.txt"),
    "wnut": ("wnut17/wnut17train.conll", "wnut17/emerging.test.annotated"),
    # factRuEval ships dev and test sets only: the larger (test) is the pool, dev the test
    "factru": ("factrueval2016/test_bio.txt", "factrueval2016/dev_bio.txt"),
}


def read_conll(path: Path) -> list[tuple[list[str], list[str]]]:
    """Blank-line separated sentences, the first column the token, the last its tag;
    ``-DOCSTART-`` lines skipped."""
    out: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    for line in path.read_text("utf-8").splitlines():
        parts = line.split()
        if not parts:
            if words:
                out.append((words, tags))
            words, tags = [], []
            continue
        if parts[0] == "-DOCSTART-":
            continue
        words.append(parts[0])
        tags.append(parts[-1])
    if words:
        out.append((words, tags))
    return out


def load(corpus: str, pool_cap: int, seed: int = 0) -> tuple[SpanCorpus, SpanCorpus]:
    pool_file, test_file = CORPORA[corpus]
    pool = read_conll(DATA / pool_file)
    if pool_cap and len(pool) > pool_cap:  # a fixed random subset (seed 0)
        keep = np.sort(np.random.default_rng(seed).permutation(len(pool))[:pool_cap])
        pool = [pool[k] for k in keep]
    test = read_conll(DATA / test_file)
    p = corpus_from_tags(pool)
    t = corpus_from_tags(test, p.types)
    return p, t


def time_round(pool_size: int, labeled: int) -> dict[str, Any]:
    """One span round on ``pool_size`` CoNLL sentences (train + valid, capped): CRF retrained on
    ``labeled`` sentences, the rest scored by MNLP, a batch of 20 chosen. The first round
    computes the sentences' CRF features (kept for later rounds); the second is a retrain
    after 20 more labels, as in a labeling session."""
    from alapp.core.settings import ProjectSettings
    from alapp.loop.round import RoundRunner
    from alapp.loop.span_simulate import SpanReplay

    sents = read_conll(DATA / CORPORA["conll"][0]) + read_conll(DATA / "conll2003_en/valid.txt")
    pool = corpus_from_tags(sents[:pool_size])
    test = corpus_from_tags(read_conll(DATA / CORPORA["conll"][1])[:500], pool.types)
    replay = SpanReplay(pool, test)
    settings = ProjectSettings(task="spans", strategy="mnlp", batch_size=20, random_share=0.1,
                               featurizer="tfidf", cost_model="learned", stop_set_size=1000)
    runner = RoundRunner()
    bought = np.random.default_rng(0).permutation(replay.n_pool)[:labeled].tolist()
    out: dict[str, Any] = {"pool_sentences": replay.n_pool, "labeled": labeled,
                           "test_sentences": len(test)}
    for name in ("first_round", "next_round"):
        started, cpu = time.perf_counter(), time.process_time()
        result = runner.run(replay.snapshot(settings, bought, len(out)))
        # wall seconds depend on what else runs on the shared cores; CPU seconds less so
        out[name] = {"seconds": round(time.perf_counter() - started, 2),
                     "cpu_seconds": round(time.process_time() - cpu, 2), "parts": result.seconds,
                     "f1": round(result.metrics["micro_f1"], 4)}
        bought += [p.item_id for p in result.picks]
    return out


def natasha_check(pool_cap: int) -> dict[str, Any]:
    """natasha on factRuEval's test set (our dev file): zero-shot F1 of its PER/LOC/ORG spans
    snapped to the tokens, and a CRF trained on natasha's spans over the whole pool."""
    from alapp.al.entities import entity_metrics
    from alapp.core.settings import ProjectSettings
    from alapp.core.spans import decode_spans, encode_spans
    from alapp.loop.round import RoundRunner
    from alapp.loop.span_simulate import SpanReplay
    from alapp.ml.natasha_ner import NatashaAnnotator

    pool, test = load("factru", pool_cap)
    annotator = NatashaAnnotator(pool.types)
    started = time.perf_counter()
    guesses = [annotator.spans(t, toks) for t, toks in zip(test.texts, test.tokens,
                                                           strict=True)]
    seconds = time.perf_counter() - started
    zero = entity_metrics(test.types, [decode_spans(v) for v in test.values], guesses)
    pseudo = SpanCorpus(pool.texts, pool.tokens,
                        [encode_spans(annotator.spans(t, toks))
                         for t, toks in zip(pool.texts, pool.tokens, strict=True)], pool.types)
    replay = SpanReplay(pseudo, test)
    settings = ProjectSettings(task="spans", strategy="seq-random", batch_size=1,
                               featurizer="tfidf", cost_model="equal", stop_set_size=0)
    result = RoundRunner().run(replay.snapshot(settings, list(range(replay.n_pool)), 0, True))
    return {"zero_shot": {"micro_f1": zero["micro_f1"], "precision": zero["precision"],
                          "recall": zero["recall"],
                          "per_label": dict(zip(zero["per_label"]["labels"],
                                                zero["per_label"]["f1"], strict=True)),
                          "sentences_per_second": round(len(test) / seconds, 1)},
            "crf_on_natasha_pool": {"micro_f1": result.metrics["micro_f1"],
                                    "pool_sentences": replay.n_pool, "human_labels": 0}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="")
    parser.add_argument("--pool-cap", type=int, default=0, help="random pool subset (0: all)")
    parser.add_argument("--grid", default="100,200,400,700,1000,1500,2000,3000",
                        help="sentence counts (the first: the random start)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", default="mnlp,total-token-entropy,least-confident-seq")
    parser.add_argument("--round", action="store_true", help="time a 15,000-sentence round")
    parser.add_argument("--natasha", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from alapp.ml.threads import limit_threads

    limit_threads()
    report: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv)}
    if args.corpus:
        pool, test = load(args.corpus, args.pool_cap)
        cfg = SpanSimConfig(strategies=args.strategies.split(","),
                            grid=[int(g) for g in args.grid.split(",")], seeds=args.seeds)
        started = time.perf_counter()

        def progress(curve: Any) -> None:
            print(f"  {curve.strategy} seed {curve.seed}: "
                  f"{[round(f, 3) for f in curve.f1]} ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)

        report[args.corpus] = {"pool_sentences": len(pool), "test_sentences": len(test),
                               "types": pool.types,
                               **simulate_spans(pool, test, cfg, progress),
                               "seconds": round(time.perf_counter() - started, 1)}
    if args.round:
        report["round_15000"] = time_round(15_000, 500)
    if args.natasha:
        report["natasha_factru"] = natasha_check(args.pool_cap)
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
