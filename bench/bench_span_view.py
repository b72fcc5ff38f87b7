"""Is the span view fast? Render and key-to-repaint latency of the real SpanView (offscreen,
1366x768) on 300-token texts in English, Russian and Chinese (issue 18: under 16 ms).

- render: a new sentence shown (``show_entry``: text laid out, token boxes measured) and
  painted synchronously, alternating between two items so nothing is reused;
- key: one key through Qt's key event path (QTest) and the synchronous repaint after it, for
  Right, Shift+Right, a type key (which makes an entity) and Ctrl+Z (which takes it back);
- accept_to_next: Enter on the editor until the next sentence is painted (the widget's part:
  no project write here; bench_gui.py measures the store's).

Texts: the first 300 tokens of docs/architecture.md (English) and the seeds 001 (Russian) and
004 (Chinese, one token per character), tokenized by core.spans.tokenize; every
tenth token starts a two-token entity, every third of those a suggestion; per-token
uncertainty is seeded random. Prints JSON.
Usage: QT_QPA_PLATFORM=offscreen python bench/bench_span_view.py [--repeats N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

SEEDS = ROOT.parent.parent / "shared" / "seeds"
SOURCES = {"en": ROOT / "docs" / "architecture.md",
           "ru": SEEDS / "001_02ca8dceef48c8ea.txt",
           "zh": SEEDS / "004_7876ec7620b131ef.txt"}
TOKENS = 300
WARM_UP = 5


def sentence(language: str, seed: int):
    from alapp.core.spans import Span
    from tests.span_samples import TYPES, entry, tokens_of

    path = SOURCES[language]
    if not path.exists():  # a checkout elsewhere: the shared seeds beside the worktrees
        path = Path("/work/shared/seeds") / path.name
    text = path.read_text("utf-8")
    tokens = tokens_of(text, language)[:TOKENS]
    text = text[:tokens[-1][1]]
    rng = random.Random(seed)
    spans = [Span(tokens[i][0], tokens[i + 1][1], TYPES[i // 10 % len(TYPES)])
             for i in range(0, TOKENS - 1, 10)]
    suggestions = spans[::3]
    uncertainty = [rng.random() for _ in tokens]
    return (entry(text, suggestions, 0.6, uncertainty, item_id=seed, tokens=tokens),
            [s for s in spans if s not in suggestions])


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Wall-clock and this thread's CPU milliseconds: on a loaded machine the wall clock
    also counts the time other processes had the CPU."""
    out: dict[str, float] = {"n": len(samples)}
    for name, values in (("", [w for w, _ in samples]), ("cpu_", [c for _, c in samples])):
        ordered = sorted(values)
        out[f"{name}median_ms"] = round(statistics.median(ordered), 3)
        out[f"{name}p95_ms"] = round(ordered[min(len(ordered) - 1,
                                                 int(0.95 * len(ordered)))], 3)
        out[f"{name}max_ms"] = round(ordered[-1], 3)
    return out


def timed(call) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    call()
    return 1000 * (time.perf_counter() - wall), 1000 * (time.thread_time() - cpu)


def run(language: str, repeats: int) -> dict[str, object]:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from alapp.ui.span_view import SpanView
    from tests.span_samples import TYPES

    app = QApplication.instance()
    view = SpanView(TYPES)
    view.show_keys({f"label_{i}": str(i) for i in range(1, 10)})
    view.resize(1366, 768)
    view.show()
    app.processEvents()
    editor = view.editor
    items = [sentence(language, 1), sentence(language, 2)]

    def show(k: int) -> None:
        item, typed = items[k % 2]
        view.show_entry(item)
        editor.entities += [e for e in _entities(editor, typed)]
        editor.repaint()

    for k in range(WARM_UP):  # fonts, glyph caches, the first layout of each script
        show(k)
    render = [timed(lambda k=k: show(k)) for k in range(repeats)]
    editor.setFocus()
    app.processEvents()

    def press(key, modifier) -> None:
        QTest.keyClick(editor, key, modifier)
        editor.repaint()

    keys: dict[str, list[tuple[float, float]]] = {"right": [], "shift_right": [],
                                                  "type_key": [], "undo": []}
    moves = [("right", Qt.Key.Key_Right, Qt.KeyboardModifier.NoModifier),
             ("shift_right", Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)]
    for k in range(repeats):
        editor.set_cursor(1 + (7 * k) % (TOKENS - 20))
        for name, key, modifier in moves:
            keys[name].append(timed(lambda key=key, modifier=modifier: press(key, modifier)))
        editor.anchor = None
        editor.set_cursor(5 + 10 * (k % 25))  # a token outside any entity
        for name, key, modifier in (("type_key", Qt.Key.Key_4, Qt.KeyboardModifier.NoModifier),
                                    ("undo", Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)):
            before = len(editor.undo_stack)
            keys[name].append(timed(lambda key=key, modifier=modifier: press(key, modifier)))
            assert len(editor.undo_stack) != before, f"{name} did nothing"
    accepted = []
    view.label_chosen.connect(lambda _value: show(len(accepted)))
    for _ in range(repeats):
        accepted.append(timed(lambda: QTest.keyClick(editor, Qt.Key.Key_Return)))
    every_key = [t for ts in keys.values() for t in ts]
    view.close()
    return {"tokens": len(editor.tokens), "characters": len(editor.text),
            "lines": len(editor._line_boxes), "render": summary(render),
            "key": summary(every_key), **{f"key_{k}": summary(v) for k, v in keys.items()},
            "accept_to_next": summary(accepted)}


def _entities(editor, spans):
    from alapp.ui.span_editor import Entity

    starts = {a: i for i, (a, _) in enumerate(editor.tokens)}
    ends = {b: i for i, (_, b) in enumerate(editor.tokens)}
    return [Entity(starts[s.start], ends[s.end], s.label) for s in spans]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from alapp.ui.resources import install_fonts

    app = QApplication([])
    install_fonts(app)
    result = {"benchmark": "span_view", "machine": machine(),
              "load_average": os.getloadavg(),
              "platform_plugin": os.environ.get("QT_QPA_PLATFORM"), "window": [1366, 768],
              "target_ms": 16, "repeats": args.repeats,
              "languages": {lang: run(lang, args.repeats) for lang in SOURCES}}
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", "utf-8")


if __name__ == "__main__":
    main()
