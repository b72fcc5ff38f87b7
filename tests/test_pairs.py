"""Sentence pairs (issue 16, seed 002: BERT on MRPC): importing two texts per item, storing and
showing them apart, embedding and tokenizing them as pairs, fine-tuning settings, and the
seed's replay (start from a share of the pool, add a batch per round)."""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest

from alapp.core.errors import AlappError, InputError
from alapp.core.pairs import PAIR_JOIN, join_pair, split_pair
from alapp.core.settings import ProjectSettings, check_setting, parse_setting
from alapp.store.export import export_labels
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from alapp.store.schema import SCHEMA_VERSION, migrate, schema_version

PAIRS = [  # (id, first, second, label): MRPC-like
    ("p1", "The cat sat on the mat.", "A cat was sitting on the mat.", "same"),
    ("p2", "Stocks fell sharply on Monday.", "The council approved the new park.", "different"),
    ("p3", "He bought a red car.", "He purchased a red automobile.", "same"),
    ("p4", "Rain is expected tomorrow.", "The match ended in a draw.", "different"),
]


def _csv(path, rows=PAIRS, header=("id", "sentence1", "sentence2", "label")) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _stored(project: Project) -> list[tuple[str, str, str | None]]:
    return project._conn.execute("SELECT ext_id, text, text_b FROM items ORDER BY id").fetchall()


def test_import_a_csv_of_pairs_keeps_both_texts_apart(tmp_path) -> None:
    data = tmp_path / "pairs.csv"
    _csv(data)
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        report = import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence2"))
        assert report.rows == 4 and report.labeled == 4
        assert _stored(project)[0] == ("p1", "The cat sat on the mat.",
                                       "A cat was sitting on the mat.")
        # Neither text is metadata; what models read is the pair joined.
        assert project.item(project.item_ids()[0]).meta is None
        assert project.texts(project.item_ids()[:1]) == [
            "The cat sat on the mat.\x00A cat was sitting on the mat."]
        out = tmp_path / "out.csv"
        assert export_labels(project, out) == 4
        rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
        assert list(rows[0])[:3] == ["id", "text", "text_b"]
        assert rows[2]["text_b"] == "He purchased a red automobile."


def test_import_jsonl_pairs_and_round_trip_the_export(tmp_path) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"id": i, "a": a, "b": b, "label": y}) + "\n"
                            for i, a, b, y in PAIRS), encoding="utf-8")
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        import_file(project, data, ImportSpec(text=["a"], text_b="b"))
        assert [r[2] for r in _stored(project)] == [p[2] for p in PAIRS]
        out = tmp_path / "out.jsonl"
        export_labels(project, out)
        first = json.loads(out.read_text("utf-8").splitlines()[0])
        assert (first["text"], first["text_b"]) == (PAIRS[0][1], PAIRS[0][2])
    # The export imports again as the same pairs.
    with Project.create(tmp_path / "q.alapp", ["same", "different"]) as again:
        import_file(again, out, ImportSpec(text=["text"], text_b="text_b", meta=[]))
        assert [r[1:] for r in _stored(again)] == [(a, b) for _, a, b, _ in PAIRS]


def test_the_queue_and_the_history_carry_the_second_text(tmp_path) -> None:
    from alapp.store.events import history
    from alapp.store.queue import entries

    data = tmp_path / "pairs.csv"
    _csv(data, [(i, a, b, "") for i, a, b, _ in PAIRS])
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence2"))
        with project.transaction() as conn:
            conn.execute("INSERT INTO queue (position, item_id, source) VALUES (0, 3, 'al')")
        entry = entries(project)[0]
        assert (entry.text, entry.text_b) == (PAIRS[2][1], PAIRS[2][2])
        project.label_item(3, "same", "ann")
        decision = history(project, "ann")[0]
        assert (decision.text, decision.text_b, decision.label) == (PAIRS[2][1], PAIRS[2][2],
                                                                    "same")


def test_single_text_projects_are_unchanged(tmp_path) -> None:
    data = tmp_path / "single.csv"
    _csv(data, [("s1", "hello", "x", "same")], ("id", "text", "other", "label"))
    with Project.create(tmp_path / "p.alapp", ["same"]) as project:
        import_file(project, data, ImportSpec())
        assert _stored(project) == [("s1", "hello", None)]
        assert project.texts(project.item_ids()) == ["hello"]
        out = tmp_path / "out.jsonl"
        export_labels(project, out)
        assert "text_b" not in json.loads(out.read_text("utf-8"))


@pytest.mark.parametrize(("second", "problem"), [
    ("", "line 3: empty second text in column 'sentence2' (a pair needs both texts)"),
    ("   ", "line 3: empty second text in column 'sentence2' (a pair needs both texts)"),
    ("\u200b", "line 3: the second text has nothing visible"),
])
def test_a_row_without_its_second_text_is_refused_and_nothing_is_written(
        tmp_path, second: str, problem: str) -> None:
    data = tmp_path / "pairs.csv"
    _csv(data, [PAIRS[0], ("p2", "Stocks fell.", second, "different")])
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        with pytest.raises(InputError) as caught:
            import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence2"))
        message = str(caught.value)
        assert "\n" not in message and str(data) in message and problem in message
        assert project.item_ids() == [] and project.current_labels() == {}


def test_a_missing_second_column_or_field_is_named(tmp_path) -> None:
    data = tmp_path / "pairs.csv"
    _csv(data)
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        with pytest.raises(InputError, match="line 1: no column 'sentence3' for the second "
                                             "text"):
            import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence3"))
        lines = tmp_path / "pairs.jsonl"
        lines.write_text('{"a": "x", "b": "y"}\n{"a": "z"}\n', encoding="utf-8")
        with pytest.raises(InputError, match="line 2: no 'b' field for the second text"):
            import_file(project, lines, ImportSpec(text=["a"], text_b="b"))
        assert project.item_ids() == []


def test_pairs_and_single_texts_never_share_a_project(tmp_path) -> None:
    pairs, single = tmp_path / "pairs.csv", tmp_path / "single.csv"
    _csv(pairs)
    _csv(single, [("s1", "hello", "same")], ("id", "text", "label"))
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        import_file(project, single, ImportSpec())
        with pytest.raises(InputError, match="holds single texts; import pairs into a new"):
            import_file(project, pairs, ImportSpec(text=["sentence1"], text_b="sentence2"))
    with Project.create(tmp_path / "q.alapp", ["same", "different"]) as project:
        import_file(project, pairs, ImportSpec(text=["sentence1"], text_b="sentence2"))
        with pytest.raises(InputError, match="holds sentence pairs; name the second text"):
            import_file(project, single, ImportSpec())
        assert len(project.item_ids()) == 4


def test_a_pair_is_a_duplicate_only_of_the_same_pair(tmp_path) -> None:
    data = tmp_path / "pairs.csv"
    _csv(data, [("a", "one two", "three", "same"), ("b", "one", "two three", "same"),
                ("c", "One  two", "THREE", "same")])
    with Project.create(tmp_path / "p.alapp", ["same"]) as project:
        report = import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence2"))
        assert report.duplicate_texts_in_file == 1  # c repeats a; b splits the words apart


def test_the_pair_text_migration_keeps_old_items(tmp_path) -> None:
    """Version 6 files gain ``items.text_b`` (NULL: single texts) and keep every item."""
    path = tmp_path / "v6.alapp"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=6)
    conn.execute("INSERT INTO labels (name, position) VALUES ('spam', 0)")
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split) "
                 "VALUES (1, 'a', 'cheap pills', 'h1', 'pool')")
    conn.execute("INSERT INTO label_events (item_id, action, label, annotator, submitted_at, "
                 "source) VALUES (1, 'label', 'spam', 'ann', ?, 'al')", (time.time(),))
    conn.close()
    with Project.open(path) as project:
        assert schema_version(project._conn) == SCHEMA_VERSION
        assert _stored(project) == [("a", "cheap pills", None)]
        assert project.texts([1]) == ["cheap pills"] and project.current_labels() == {1: "spam"}


def test_model_texts_join_and_split_exactly() -> None:
    assert join_pair("a b", None) == "a b" and split_pair("a b") == ("a b", None)
    assert join_pair("a", "b") == "a" + PAIR_JOIN + "b"
    assert split_pair(join_pair("x [SEP] y", "z")) == ("x [SEP] y", "z")


class _Fixed:
    """A stand-in sentence embedder: a fixed 2-d vector per text."""

    name = "fixed"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed(self, texts, progress=None):
        self.seen.extend(texts)
        table = {"a": [1.0, 0.0], "b": [0.6, 0.8], "c": [0.0, 1.0]}
        return np.array([table[t] for t in texts], dtype=np.float32)


def test_the_pair_embedding_is_u_v_their_difference_and_product() -> None:
    from alapp.ml.embedders import PairEmbedder

    inner = _Fixed()
    embedder = PairEmbedder(inner)
    vectors = embedder.embed([join_pair("a", "b"), join_pair("c", "c")])
    assert embedder.name == "fixed:pair"
    assert inner.seen == ["a", "c", "b", "c"]  # each text alone, all firsts then all seconds
    np.testing.assert_allclose(vectors, [[1, 0, .6, .8, .4, .8, .6, 0],
                                         [0, 1, 0, 1, 0, 0, 0, 1]], atol=1e-6)


def test_make_embedder_wraps_pairs(monkeypatch) -> None:
    from alapp.ml import embedders

    monkeypatch.setattr(embedders, "HFEmbedder", lambda device="auto": _Fixed())
    assert isinstance(embedders.make_embedder("minilm", ["plain"]), _Fixed)
    made = embedders.make_embedder("minilm", [join_pair("a", "b")])
    assert isinstance(made, embedders.PairEmbedder) and made.name == "fixed:pair"


def test_a_pair_is_tokenized_as_two_segments(tiny_bert) -> None:
    from alapp.ml.finetune import TransformerClassifier

    model = TransformerClassifier(["same", "different"], tiny_bert, device="cpu")
    encoded = model.encode([join_pair("a b", "c d e"), join_pair("hello", "world")])

    def shape(ids: list[int]) -> str:  # C: [CLS], S: [SEP], P: padding, w: a word piece
        return "".join({2: "C", 3: "S", 0: "P"}.get(i, "w") for i in ids)

    assert [shape(r) for r in encoded["input_ids"].tolist()] == ["CwwSwwwS", "CwSwSPPP"]
    assert encoded["token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 1, 1, 1],
                                                  [0, 0, 0, 1, 1, 0, 0, 0]]
    single = model.encode(["a b"])
    assert single["token_type_ids"].tolist() == [[0, 0, 0, 0]]
    model.max_length = 6  # too long: the longer text is cut first, both [SEP]s stay
    cut = model.encode([join_pair("a", "c d e f g")])
    assert shape(cut["input_ids"][0].tolist()) == "CwSwwS"
    assert cut["token_type_ids"].tolist() == [[0, 0, 0, 1, 1, 1]]

def test_a_fine_tuning_round_on_pairs_uses_the_settings(tmp_path, tiny_bert) -> None:
    from alapp.app.rounds import snapshot_of
    from alapp.loop.round import RoundRunner

    data = tmp_path / "pairs.csv"
    # 4 labeled pool pairs, 12 unlabeled, 8 labeled test pairs
    rows = [(f"r{i}", f"a b {'c' * (i % 3 + 1)}", "a b" if i % 2 else "x y z",
             ("same" if i % 2 else "different") if i < 4 or i >= 16 else "",
             "test" if i >= 16 else "pool") for i in range(24)]
    _csv(data, rows, ("id", "sentence1", "sentence2", "label", "split"))
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence2",
                                              split_column="split"))
        project.update_settings(featurizer="tfidf", classifier="finetune", strategy="entropy",
                                model_folder=str(tiny_bert), device="cpu", batch_size=4,
                                finetune_lr=1e-3, finetune_epochs=2, finetune_batch_size=5)
        runner = RoundRunner()
        result = runner.run(snapshot_of(project))
        model = runner.keeper.model
        assert (model.lr, model.epochs, model.batch_size) == (1e-3, 2, 5)
        assert result.model_kind == "TransformerClassifier"
        assert result.metrics["test_items"] == 8 and len(result.picks) == 4
        assert model.examples_per_second > 0
        # Other hyper-parameters: a new model, not the kept one trained on.
        project.update_settings(finetune_epochs=1)
        runner.run(snapshot_of(project))
        assert runner.keeper.model is not model and runner.keeper.model.epochs == 1


def test_fine_tuning_settings_are_validated() -> None:
    s = ProjectSettings()
    assert (s.finetune_lr, s.finetune_epochs, s.finetune_batch_size) == (2e-5, 3, 16)
    assert check_setting("finetune_lr", 0.0, ()) == (
        "finetune_lr=0.0 is not allowed; finetune_lr must be a learning rate above 0, at most "
        "0.1 (BERT fine-tuning: 1e-5 to 5e-5)")
    assert check_setting("finetune_lr", 0.5, ()) is not None
    assert check_setting("finetune_epochs", 0, ()) is not None
    assert check_setting("finetune_epochs", 2.5, ()) is not None
    assert check_setting("finetune_batch_size", 0, ()) is not None
    assert check_setting("finetune_batch_size", 32, ()) is None
    assert parse_setting("finetune_lr", "3e-5") == 3e-5
    with pytest.raises(AlappError, match="finetune_epochs must be a whole number"):
        parse_setting("finetune_epochs", "three")


def test_config_sets_fine_tuning_settings(tmp_path, capsys) -> None:
    from alapp.cli import main

    path = tmp_path / "p.alapp"
    assert main(["init", str(path), "--labels", "same,different"]) == 0
    assert main(["config", str(path), "finetune_lr=3e-5", "finetune_batch_size=32"]) == 0
    assert main(["config", str(path), "finetune_epochs=0"]) == 2
    assert "finetune_epochs=0 is not allowed" in capsys.readouterr().err
    with Project.open(path) as project:
        s = project.settings()
        assert (s.finetune_lr, s.finetune_epochs, s.finetune_batch_size) == (3e-5, 3, 32)


def test_cli_imports_pairs(tmp_path) -> None:
    from alapp.cli import main

    data, path = tmp_path / "pairs.csv", tmp_path / "p.alapp"
    _csv(data)
    assert main(["init", str(path), "--labels", "same,different"]) == 0
    assert main(["import", str(path), str(data), "--text", "sentence1",
                 "--text-b", "sentence2"]) == 0
    with Project.open(path) as project:
        assert [r[2] for r in _stored(project)] == [p[2] for p in PAIRS]


def _vectors(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return (np.eye(2)[y] * 2 + rng.normal(size=(n, 2))).astype(np.float32), y


def test_simulate_starts_from_a_share_of_the_pool_and_adds_a_batch_per_round() -> None:
    from alapp.loop.simulate import SimulationConfig, check_config, initial_count, simulate

    x, y = _vectors(300)
    cfg = SimulationConfig(["entropy", "random"], batch=16, budget=140, seeds=2,
                           initial="random", initial_labels=0.3)
    result = simulate(x[:200], y[:200], x[200:], y[200:], cfg)
    for name in ("entropy", "random"):
        assert result["strategies"][name]["labels"] == [60, 76, 92, 108, 124, 140]
    assert initial_count(SimulationConfig(["random"], initial_labels=25), 200) == 25
    assert initial_count(SimulationConfig(["random"]), 200) == 0
    for bad in (-1, 2.5):
        with pytest.raises(AlappError, match="initial labels"):
            check_config(SimulationConfig(["random"], initial_labels=bad))
    with pytest.raises(AlappError, match="finetune_lr"):
        check_config(SimulationConfig(["random"], finetune_lr=-1.0))
    with pytest.raises(AlappError, match="needs the texts"):
        simulate(x[:200], y[:200], x[200:], y[200:],
                 SimulationConfig(["random"], classifier="finetune"))


def test_simulate_fine_tunes_on_pairs(tiny_bert) -> None:
    from alapp.loop.simulate import SimulationConfig, simulate

    x, y = _vectors(40, seed=1)
    texts = [join_pair("a b" if label else "c d", "e f g") for label in y]
    cfg = SimulationConfig(["entropy"], batch=8, budget=28, seeds=1, initial="random",
                           initial_labels=12, classifier="finetune", finetune_epochs=1,
                           finetune_batch_size=4, finetune_lr=1e-3,
                           model_folder=str(tiny_bert))
    result = simulate(x[:30], y[:30], x[30:], y[30:], cfg, texts=texts)
    entropy = result["strategies"]["entropy"]
    assert entropy["model"] == "TransformerClassifier"
    assert entropy["labels"] == [12, 20, 28]
    assert all(0 <= a <= 1 for a in entropy["accuracy_mean"])


SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def test_the_window_shows_both_texts_of_a_pair_and_the_fine_tuning_settings(
        qtbot, tmp_path) -> None:
    from PySide6.QtWidgets import QTabWidget

    from alapp.core.options import Classifier
    from alapp.ui.import_wizard import ImportWizard
    from alapp.ui.main_window import MainWindow
    from alapp.ui.resources import install_fonts
    from alapp.ui.settings_dialog import SettingsDialog

    data, path = tmp_path / "pairs.csv", tmp_path / "p.alapp"
    _csv(data, [(i, a, b, "") for i, a, b, _ in PAIRS])
    with Project.create(path, ["same", "different"]) as project:
        import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence2"))
        project.update_settings(featurizer="tfidf")
    install_fonts(qtbot_app())
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitUntil(lambda: window.entry is not None, timeout=60_000)
    view = window.view
    shown = {p[1]: p[2] for p in PAIRS}
    assert view.text_b.isVisible() and view.text_b_caption.isVisible()
    assert view.text_b.toPlainText() == shown[view.text.toPlainText()]
    SCREENSHOTS.mkdir(exist_ok=True)
    window.grab().save(str(SCREENSHOTS / "labeling-pair-1366.png"))

    settings = SettingsDialog(window.session.settings(), [], window)
    qtbot.addWidget(settings)
    settings.show()
    assert settings.finetune_lr.isHidden()  # shown only for fine-tuning
    settings.classifier.setCurrentIndex(settings.classifier.findData(Classifier.FINETUNE))
    assert not settings.finetune_lr.isHidden() and not settings.finetune_epochs.isHidden()
    settings.resize(640, 620)
    settings.findChild(QTabWidget).setCurrentIndex(1)  # the Model tab
    SCREENSHOTS.mkdir(exist_ok=True)
    settings.grab().save(str(SCREENSHOTS / "settings-finetune.png"))
    settings.finetune_epochs.setValue(5)
    values = settings.values()
    assert (values["finetune_lr"], values["finetune_epochs"],
            values["finetune_batch_size"]) == (2e-5, 5, 16)

    wizard = ImportWizard(window.session, window, data)
    qtbot.addWidget(wizard)
    wizard.resize(1000, 640)
    wizard.grab().save(str(SCREENSHOTS / "import-wizard-pair.png"))
    assert wizard.text_b_column.currentText() == "sentence2"  # guessed by its name
    assert wizard.spec().text_b == "sentence2"
    window.close()


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def test_the_comparison_dialog_never_replays_fine_tuning() -> None:
    """A fine-tuning project's "compare strategies" replays logistic regression: 4 strategies
    x 5 seeds of fine-tuning would take hours on a CPU."""
    from alapp.app.compare import comparison_config

    cfg = comparison_config(ProjectSettings(classifier="finetune"), 100)
    assert cfg.classifier == "logreg"


def test_browse_finds_a_pair_by_either_text_and_shows_both(tmp_path) -> None:
    from alapp.store.browse import BrowseQuery, find_items

    data = tmp_path / "pairs.csv"
    _csv(data)
    with Project.create(tmp_path / "p.alapp", ["same", "different"]) as project:
        import_file(project, data, ImportSpec(text=["sentence1"], text_b="sentence2"))
        rows = find_items(project, BrowseQuery(text="automobile"), {})
        assert [r.text for r in rows] == ["He bought a red car. ‖ He purchased a red automobile."]
        assert len(find_items(project, BrowseQuery(text="red car"), {})) == 1
