"""Contrastive fine-tuning written with torch directly (alapp.ml.contrastive) against
sentence-transformers' model and CosineSimilarityLoss in the same loop, on the same pairs
from 200 AG News items (MiniLM, 64 tokens, batch 16); and whether sentence-transformers'
trainer starts without its ``train`` extra (datasets, accelerate). See docs/contrastive.md.

Prints JSON. Usage: python bench/bench_contrastive_lib.py [--data FOLDER] [--pairs 160]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import datasets
from machine import machine

from alapp.ml.contrastive import ContrastiveConfig, ContrastiveEncoder, make_pairs
from alapp.ml.embedders import default_minilm_folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=datasets.DATA)
    parser.add_argument("--pairs", type=int, default=160)
    args = parser.parse_args()
    datasets.DATA = args.data
    ds = datasets.ag_news()
    texts, labels = ds.pool_texts[:200], ds.pool_labels[:200]
    out: dict[str, object] = {"benchmark": "bench_contrastive_lib", "pairs": args.pairs}
    encoder = ContrastiveEncoder(config=ContrastiveConfig(max_pairs=args.pairs, batch_size=16,
                                                          max_length=64), device="cpu")
    report = encoder.fit(texts, labels)
    out["direct_torch"] = {"seconds": report.seconds, "pairs_per_second": report.pairs_per_second}

    import torch
    from sentence_transformers import SentenceTransformer, losses

    model = SentenceTransformer(str(default_minilm_folder()), device="cpu",
                                local_files_only=True)
    model.max_seq_length = 64
    loss = losses.CosineSimilarityLoss(model)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    pairs, targets = make_pairs(labels, args.pairs, 0)
    model.train()
    started = time.perf_counter()
    for s in range(0, len(pairs), 16):
        rows = pairs[s:s + 16]
        a = model.tokenize([texts[i] for i in rows[:, 0]])
        b = model.tokenize([texts[i] for i in rows[:, 1]])
        value = loss([a, b], torch.as_tensor(targets[s:s + 16]))
        opt.zero_grad()
        value.backward()
        opt.step()
    seconds = time.perf_counter() - started
    out["sentence_transformers_loop"] = {"seconds": seconds,
                                         "pairs_per_second": len(pairs) / seconds}
    try:
        from sentence_transformers import SentenceTransformerTrainer

        SentenceTransformerTrainer(model=model, train_dataset=None, loss=loss)
        out["sentence_transformers_trainer"] = "starts"
    except Exception as e:  # what it says when its train extra is missing
        out["sentence_transformers_trainer"] = f"{type(e).__name__}: {str(e)[:160]}"
    out["machine"] = machine()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
