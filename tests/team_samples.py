"""A small scripted team project (issue 19): three annotators, ten items with known
disagreements, two flags; used by the team tests (report, review queue, CLI, window)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from alapp.core.types import ItemId, Selection, Source
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project

LABELS = ["pos", "neg", "neu"]
TEXTS = [
    "Отличный сервис, всё пришло вовремя.",
    "Ужасно: посылка потерялась, поддержка молчит.",
    "这家餐厅的菜很好吃，服务也很周到。",
    "Заказ доставлен. Без комментариев.",
    "还行吧，不好也不坏，但是等了很久。",
    "质量太差了，用了两天就坏了。",
    "Спасибо, курьер был очень вежлив!",
    "Обычный товар, ничего особенного, хотя упаковка порвана.",
    "Ну да, конечно, «лучший» магазин в городе...",
    "非常满意，下次还会再来。",
]
# item (1-based) -> annotator -> label; the comments say what the rule makes of it
VOTES: dict[int, dict[str, str]] = {
    1: {"anna": "pos", "boris": "pos", "chen": "pos"},  # unanimous
    2: {"anna": "neg", "boris": "neg", "chen": "neg"},  # unanimous (flagged by chen)
    3: {"anna": "pos", "boris": "pos", "chen": "neg"},  # majority against chen
    4: {"anna": "neu", "boris": "neu", "chen": "neu"},  # unanimous
    5: {"anna": "pos", "boris": "neg", "chen": "neu"},  # three-way tie
    6: {"anna": "neg", "boris": "neg"},  # unanimous, two annotators
    7: {"anna": "pos", "chen": "pos"},  # unanimous, two annotators
    8: {"boris": "neu", "chen": "pos"},  # tie
    9: {"anna": "neg"},  # single (flagged by anna)
    10: {"anna": "pos", "boris": "pos", "chen": "pos"},  # unanimous
}
# active seconds per label, by annotator (anna 4 s, boris 6 s, chen 10 s each)
SECONDS = {"anna": 4, "boris": 6, "chen": 10}
FLAGS = [(2, "chen", "check: sarcasm?"), (9, "anna", "не уверена — ирония")]
# more items only anna labeled, for the label check (``more=True``): short reviews in Russian
# and Chinese whose words tell the label; the last two of each are labeled against their words
_WORDS = {"pos": ["отлично", "спасибо", "прекрасно", "很好", "满意", "推荐"],
          "neg": ["ужасно", "сломан", "обман", "太差", "失望", "退货"],
          "neu": ["обычно", "нормально", "доставлено", "一般", "还行", "普通"]}


def more_items(per_label: int = 12) -> list[tuple[str, str, str]]:
    """(id, text, anna's label) of the extra items; two per label are deliberately wrong."""
    out = []
    names = list(_WORDS)
    for j, label in enumerate(names):
        words = _WORDS[label]
        for k in range(per_label):
            text = f"{words[k % 6]} {words[(k + 1) % 6]}, {words[(k + 3) % 6]} — отзыв {k}"
            given = names[(j + 1) % 3] if k >= per_label - 2 else label
            out.append((f"m{label}{k}", text, given))
    return out


def make_team_project(folder: Path, name: str = "team.alapp", more: bool = False) -> Path:
    path = folder / name
    data = folder / f"{name}.jsonl"
    extra = more_items() if more else []
    data.write_text("".join(json.dumps({"id": f"t{k + 1}", "text": t}, ensure_ascii=False) + "\n"
                            for k, t in enumerate(TEXTS))
                    + "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                              for i, t, _ in extra), "utf-8")
    with Project.create(path, LABELS) as project:
        import_file(project, data, ImportSpec(format="jsonl"))
        ids = {int(e[1:]): ItemId(i) for i, e in project._conn.execute(
            "SELECT id, ext_id FROM items WHERE ext_id LIKE 't%'")}
        by_ext = {e: ItemId(i) for i, e in project._conn.execute("SELECT id, ext_id FROM items")}
        for ext, _, label in extra:
            project.label_item(by_ext[ext], label, "anna", time.time(), 5000,
                               Selection(Source.AL))
        for item, given in VOTES.items():
            for annotator, label in given.items():
                project.label_item(ids[item], label, annotator, time.time(),
                                   SECONDS[annotator] * 1000, Selection(Source.AL))
        for item, annotator, note in FLAGS:
            project.flag_item(ids[item], annotator, note)
            time.sleep(0.01)  # flags ordered by time
    return path
