"""Cold start on a large pool: how long after an import does the first item appear?

The real window (offscreen) on an empty project, a 16,000-item file imported through its
import wizard; then the clock runs from the import being done to

- the first item shown (``window.entry`` set and its text in the view),
- the embedding finished (the configured featurizer's vectors for every item), and
- the first round on those embeddings finished (the model caught up).

Texts: GoEmotions comments (English: the ``auto`` featurizer picks MiniLM) or THUCNews
headlines (Chinese: ``auto`` picks multilingual E5, several times slower) from
../shared/data; without it, generated sentences. Prints JSON with the machine.

``--embed-in-round`` runs it as before the background embedding: the first round embeds every
text, then picks the first batch (the same code with the background threshold out of reach).

Usage: QT_QPA_PLATFORM=offscreen python bench/bench_first_item.py
           [--items 16000] [--dataset goemotions|thucnews|generated] [--featurizer auto]
           [--embed-in-round]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LABELS = {"goemotions": ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"],
          "thucnews": ["finance", "realty", "stocks", "education", "science", "society",
                       "politics", "sports", "game", "entertainment"],
          "generated": ["billing", "delivery", "praise", "bug", "other"]}


def load_texts(dataset: str, n: int) -> list[str]:
    if dataset == "goemotions" and (DATA / "goemotions" / "train.tsv").is_file():
        lines = (DATA / "goemotions" / "train.tsv").read_text("utf-8").splitlines()
        return [line.split("\t", 1)[0] for line in lines][:n]
    if dataset == "thucnews" and (DATA / "thucnews_titles" / "dev.txt").is_file():
        lines = []
        for name in ("dev.txt", "test.txt"):
            lines += (DATA / "thucnews_titles" / name).read_text("utf-8").splitlines()
        return [line.split("\t", 1)[0] for line in lines][:n]
    rng = random.Random(0)
    words = ("the order invoice refund parcel courier late app crash screen login password "
             "great thanks support price charge card account delivery tracking update").split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(6, 30))).capitalize() + "."
            for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=16_000)
    parser.add_argument("--dataset", default="goemotions",
                        choices=["goemotions", "thucnews", "generated"])
    parser.add_argument("--featurizer", default="auto")
    parser.add_argument("--limit-s", type=float, default=1800)
    parser.add_argument("--first-item-only", action="store_true",
                        help="stop once the first item is shown (E5 on 16,000 texts takes long)")
    parser.add_argument("--embed-in-round", action="store_true",
                        help="the behaviour before: the first round embeds every text first")
    args = parser.parse_args()
    if args.embed_in_round:
        from alapp.app import rounds

        rounds.BACKGROUND_ABOVE = 10**12  # type: ignore[attr-defined]

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ALAPP_SETTINGS_FILE"] = str(Path(tmp) / "alapp.ini")  # not the user's
        result = run(Path(tmp), args)
    print(json.dumps(result, indent=2, ensure_ascii=False))


def run(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from alapp.app.projects import create_project
    from alapp.ui import preferences
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts

    texts = load_texts(args.dataset, args.items)
    dataset = args.dataset if len(texts) == args.items else f"{args.dataset} (short)"
    file = tmp / "items.jsonl"
    with file.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            f.write(json.dumps({"id": f"t{i}", "text": text}, ensure_ascii=False) + "\n")
    path = create_project(tmp / "bench.alapp", LABELS[args.dataset], name="bench",
                          featurizer=args.featurizer)
    app = QApplication.instance() or QApplication([])
    install_fonts(app)  # type: ignore[arg-type]
    set_name = getattr(preferences, "set_annotator", None)
    if set_name is not None:  # the window asks for a name once per project otherwise
        set_name(path, "bench")

    window = MainWindow(path, annotator="bench")
    window.show()
    marks: dict[str, float] = {}
    stages: list[tuple[float, str]] = []
    original_finished = window._import_finished

    def import_finished(code: int) -> None:
        marks["import_done"] = time.perf_counter()
        original_finished(code)

    def wait(condition: Any, limit_s: float, poll_ms: int = 5) -> bool:
        """Run the event loop until ``condition()``: the GUI thread sleeps in Qt's event loop
        between checks, as in the application (a busy loop of processEvents would take the
        GIL from the embedding thousands of times a second and slow it down twofold)."""
        if condition():
            return True
        deadline = time.monotonic() + limit_s
        loop = QEventLoop()
        timer = QTimer()
        timer.setInterval(poll_ms)
        timer.timeout.connect(lambda: loop.quit() if condition()
                              or time.monotonic() > deadline else None)
        timer.start()
        loop.exec()
        timer.stop()
        return bool(condition())

    def record(stage: str, _fraction: float = 0.0) -> None:
        if "import_done" in marks:
            stages.append((time.perf_counter() - marks["import_done"], stage))

    window.work.progress.connect(record)
    embedding = getattr(window, "embedding", None)  # the embedding's own worker, if any
    if embedding is not None:
        embedding.progress.connect(record)
        embedding.done.connect(lambda _: marks.setdefault("embedded", time.perf_counter()))

    assert wait(lambda: getattr(window, "wizard", None) is not None, 30), "no import dialog"
    wizard = window.wizard
    wizard.finished.disconnect(original_finished)
    wizard.finished.connect(import_finished)
    wizard.set_file(file)
    started = time.perf_counter()
    wizard._start(dry_run=False)
    assert wait(lambda: "import_done" in marks, 600), "the import did not finish"
    import_s = marks["import_done"] - started

    def shown() -> bool:
        return (window.entry is not None
                and window.view.text.toPlainText() == window.entry.text)

    assert wait(shown, args.limit_s), "no item was shown"
    first_item_s = time.perf_counter() - marks["import_done"]
    first_model = window.session.last_result
    gui_cpu = time.thread_time()  # the GUI thread's own CPU time from here on

    def caught_up() -> bool:  # the round on the embeddings is done and shown
        result = window.session.last_result
        busy = window.work.busy or (embedding is not None and embedding.busy)
        return (not busy and result is not None
                and getattr(result, "pending_embeddings", 0) == 0)

    finished = not args.first_item_only and wait(caught_up, args.limit_s, poll_ms=100)
    caught_up_s = time.perf_counter() - marks["import_done"]
    gui_cpu = time.thread_time() - gui_cpu
    embedded_s = marks.get("embedded", time.perf_counter()) - marks["import_done"]
    embedding_done = [t for t, s in stages if s.startswith("embedding")]
    etas = [s for _, s in stages if "left" in s]
    eta_checks = []  # what the progress said was left, against what was left
    timed = [(t, s) for t, s in stages if "left" in s]
    for share in (0.05, 0.25, 0.5, 0.75):
        if timed:
            t, stage = timed[min(len(timed) - 1, int(share * len(timed)))]
            eta_checks.append({"at_s": round(t, 1), "said": stage,
                               "actually_left_s": round(embedded_s - t, 1)})
    result = window.session.last_result
    window.close()
    return {
        "benchmark": "first_item_after_import", "dataset": dataset, "items": len(texts),
        "featurizer": args.featurizer, "embed_in_round": args.embed_in_round,
        "import_s": round(import_s, 2),
        "first_item_s": round(first_item_s, 2), "first_item_target_s": 10,
        "first_batch_by": first_model.strategy if first_model else None,
        "first_batch_features": getattr(first_model, "features", None) if first_model else None,
        "embedding_progress_reports": len(embedding_done),
        "embedding_last_report_s": round(embedding_done[-1], 1) if embedding_done else None,
        "embeddings_done_s": (round(embedded_s if embedding is not None else caught_up_s, 1)
                              if finished else None),
        "eta_examples": etas[:1] + etas[len(etas) // 2:len(etas) // 2 + 1] + etas[-1:],
        "eta_checks": eta_checks,
        "model_on_embeddings_s": round(caught_up_s, 1) if finished else None,
        "gui_thread_cpu_s_meanwhile": round(gui_cpu, 1),
        "last_round_features": getattr(result, "features", None) if result else None,
        "machine": machine()}


if __name__ == "__main__":
    main()
