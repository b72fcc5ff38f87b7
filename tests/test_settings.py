"""What values a setting may take, checked the same way by every entry point; old projects
with values no longer allowed still open."""

from __future__ import annotations

import json
import os
import sqlite3
import warnings

import pytest

from alapp.al.registry import STRATEGIES
from alapp.cli import main
from alapp.core.errors import AlappError
from alapp.core.featurizer import FeaturizerPart, FeaturizerSpec, PartKind
from alapp.core.options import BudgetUnit, Classifier, CostModel, Device
from alapp.core.settings import (
    ProjectSettings,
    SettingWarning,
    check_setting,
    parse_setting,
    setting_names,
)
from alapp.store.project import Project


def test_the_defaults_are_allowed() -> None:
    ProjectSettings().validate(strategies=STRATEGIES)
    s = ProjectSettings()
    assert s.classifier in set(Classifier) and s.device in set(Device)
    assert s.cost_model in set(CostModel) and s.budget_unit in set(BudgetUnit)


BAD = [
    ("name", 3, "a text"),
    ("seed", -1, "at least 0"),
    ("seed", 1.5, "a whole number"),
    ("task", "ner", "classification or spans"),
    ("multi_label", "yes", "true or false"),
    ("strategy", "psychic", "one of random, stratified-random"),
    ("batch_size", 0, "at least 1"),
    ("batch_size", True, "a whole number"),  # a bool is not a count
    ("random_share", 1.0, "up to (not including) 1"),
    ("random_share", -0.1, "from 0"),
    ("retrain_every", -1, "at least 0"),
    ("featurizer", "", "empty"),
    ("featurizer", "vectors:", "NAME"),
    ("featurizer", "minilm++e5", "empty part"),
    ("featurizer", "tfidf+minilm", "cannot be fused"),
    ("classifier", "forest", "mlp, committee, finetune, mixed-committee or propagation"),
    ("classifier", "fusion", "finetune, mixed-committee or propagation"),  # automatic, not asked
    ("model_folder", None, "a text"),
    ("device", "tpu", "auto, cpu or cuda"),
    ("mc_samples", 0, "at least 1"),
    ("cost_model", "guess", "equal, length or learned"),
    ("cost_aware", 1, "true or false"),
    ("price_cap_s", -5.0, "at least 0"),
    ("target_accuracy", 1.5, "from 0 to 1"),
    ("target_accuracy", float("nan"), "a number"),
    ("stop_set_size", -1, "at least 0"),
    ("budget_unit", "dollars", "items, hours or money"),
    ("budget_amount", -1.0, "at least 0"),
    ("budget_amount", float("inf"), "a number"),
    ("hourly_rate", -20.0, "at least 0"),
    ("currency", "  ", "not empty"),
    ("idle_cutoff_s", 0.0, "more than 0"),
    ("candidate_factor", 0, "from 1 to 1000"),
    ("diversity_ramp", 0, "at least 1"),
    # budget and test set (issue 16)
    ("test_margin", 0.0, "above 0 and below 0.5"),
    ("test_confidence", 1.0, "from 0.5 up to (not including) 1"),
    # stream mode and validation (issue 16)
    ("selection_mode", "river", "pool or stream"),
    ("stream_ask_rate", 0.0, "above 0 and at most 1"),
    ("stream_ask_rate", 1.5, "above 0 and at most 1"),
    ("drift_every", -1, "at least 0 (0: off)"),
    ("drift_sample_size", 5, "at least 20"),
    ("stratify_by", " site", "without surrounding spaces"),
    # neural heads and phases (issue 16)
    ("temperature", 0.0, "more than 0"),
    ("temperature", 1000.0, "at most 100"),
    ("freeze_batchnorm", "on", "true or false"),
    ("passive_labels", -1, "at least 0"),
    # fine-tuning (issue 16)
    ("finetune_lr", 0.0, "above 0"),
    ("finetune_lr", 1.0, "at most 0.1"),
    ("finetune_epochs", 0, "from 1 to 100"),
    ("finetune_batch_size", 0, "from 1 to 1024"),
    ("multilabel_model", "powerset", "ovr or chains"),  # multi-label (issue 21)
    ("span_language", "Russian", "a language code such as en, ru or zh"),  # spans (issue 18)
    ("span_model", "hmm", "crf or token-head"),  # span projects (issue 18)
    ("natasha_suggestions", "yes", "true or false"),
    # cold start (issue 17)
    ("cold_start", "kmeans", "typiclust or centroids"),
    ("cold_start_labels", -1, "at least 0"),
    ("label_prior", "yes", "true or false"),
    # issue 17: contrastive encoder
    ("contrastive_encoder", "yes", "true or false"),
    ("contrastive_every", 0, "at least 1"),
    ("contrastive_min_gain", 1.5, "from -1 to 1"),
    ("training_label_rule", "vote", "majority or reliable"),  # teams (issue 19)
    ("contrastive_epochs", 0, "from 1 to 20"),
    ("contrastive_max_pairs", 1, "from 2 to 1,000,000"),
    ("contrastive_pseudo_cap", -1.0, "from 0 to 100"),
    # issue 17: self-training and label propagation
    ("self_training", "yes", "true or false"),
    ("self_training_weight", 0.0, "above 0, at most 1"),
    ("self_training_quantile", 1.0, "up to (not including) 1"),
    ("self_training_cap", -1.0, "from 0 to 100"),
    ("self_training_k", 0, "from 1 to 100"),
    ("propagation_weight", 1.5, "from 0 to 1 (0: off)"),
    ("propagation_k", 1, "from 2 to 100"),
    ("propagation_alpha", 1.0, "above 0 and below 1"),
    ("propagation_max_items", 10, "at least 100"),
    ("guidelines", 5, "a text"),  # issue 19 (too long, a NUL: tests/test_guidelines.py)
    # issue 20: several annotators at once (claims)
    ("claim_window", 0, "from 1 to 100"),
    ("claim_lease_s", 0.5, "from 1 to 86400"),
    ("claim_overlap", 60, "percent of the batch from 0 to 50"),
    ("large_pool_items", -1, "0 or more"),  # issue 20
    ("propagation_fade", -1.0, "labels per class from 0 to 100,000"),  # issue 17 (propfade)
]


@pytest.mark.parametrize("key,value,allowed", BAD)
def test_each_setting_names_key_value_and_what_is_allowed(key, value, allowed) -> None:
    settings = ProjectSettings(**{key: value})
    with pytest.raises(AlappError) as e:
        settings.validate(strategies=STRATEGIES)
    message = str(e.value)
    assert message.startswith(f"{key}=") and repr(value) in message and allowed in message
    assert "\n" not in message


def test_every_setting_has_a_bad_value_above() -> None:
    assert {key for key, _, _ in BAD} == set(setting_names())


@pytest.mark.parametrize("key,value", [
    ("random_share", 0.0), ("random_share", 0.95), ("target_accuracy", 1.0),
    ("retrain_every", 0), ("stop_set_size", 0), ("price_cap_s", 0), ("idle_cutoff_s", 0.5),
    ("budget_amount", 40), ("featurizer", "vectors:text+vectors:image"),
    ("featurizer", "/models/my-bert"), ("featurizer", "auto+vectors:img"),
    ("strategy", "badge"), ("budget_unit", BudgetUnit.HOURS), ("currency", "₽"),
])
def test_edge_values_that_are_allowed(key, value) -> None:
    ProjectSettings(**{key: value}).validate(strategies=STRATEGIES)


def test_the_strategy_list_comes_from_the_caller() -> None:
    assert check_setting("strategy", "margin", ["margin"]) is None
    assert "must be one of margin" in str(check_setting("strategy", "badge", ["margin"]))


def test_featurizer_spec_parses_the_mini_language() -> None:
    assert FeaturizerSpec.parse("auto").parts == (FeaturizerPart(PartKind.AUTO),)
    assert FeaturizerSpec.parse("tfidf").parts[0].kind is PartKind.TFIDF
    assert not FeaturizerSpec.parse("tfidf").dense
    spec = FeaturizerSpec.parse("vectors:text + e5")
    assert spec.several and spec.dense
    assert spec.parts == (FeaturizerPart(PartKind.VECTORS, "text"), FeaturizerPart(PartKind.E5))
    assert str(spec) == "vectors:text+e5"
    folder = FeaturizerSpec.parse("/models/bert").parts[0]
    assert folder.kind is PartKind.FOLDER and folder.value == "/models/bert" and folder.is_embedder
    assert not FeaturizerPart.parse("vectors:x").is_embedder
    for text, problem in (("", "empty"), ("vectors: ", "NAME"), ("e5+", "empty part"),
                          ("e5+e5", "appears twice"), ("minilm+tfidf", "cannot be fused")):
        with pytest.raises(AlappError, match=problem):
            FeaturizerSpec.parse(text)


def test_make_embedder_refuses_what_is_not_an_embedder() -> None:
    from alapp.ml.embedders import make_embedder

    with pytest.raises(AlappError, match="not a sentence embedder"):
        make_embedder("tfidf")
    with pytest.raises(AlappError, match="not a sentence embedder"):
        make_embedder("vectors:mine")


def test_values_from_text() -> None:
    assert parse_setting("batch_size", " 15 ") == 15
    assert parse_setting("random_share", "0.25") == 0.25
    assert parse_setting("cost_aware", "Yes") is True
    assert parse_setting("cost_aware", "off") is False
    assert parse_setting("currency", "USD") == "USD"
    for key, text, allowed in (("batch_size", "many", "a whole number"),
                               ("batch_size", "2.5", "a whole number"),
                               ("budget_amount", "nan", "a number"),
                               ("cost_aware", "maybe", "true or false")):
        with pytest.raises(AlappError, match=allowed):
            parse_setting(key, text)
    with pytest.raises(AlappError, match="unknown setting 'colour'"):
        parse_setting("colour", "blue")


# -- the entry points ---------------------------------------------------------------------------


def test_project_create_refuses_a_bad_setting_before_any_file_exists(tmp_path) -> None:
    path = tmp_path / "p.alapp"
    with pytest.raises(AlappError, match="batch_size=0"):
        Project.create(path, ["a", "b"], batch_size=0)
    with pytest.raises(AlappError, match="unknown setting 'colour'"):
        Project.create(path, ["a", "b"], colour="blue")
    assert not path.exists()
    Project.create(path, ["a", "b"], budget_unit="hours").close()


def test_update_settings_refuses_and_writes_nothing(project) -> None:
    with pytest.raises(AlappError, match=r"budget_unit='dollars'.*items, hours or money"):
        project.update_settings(batch_size=5, budget_unit="dollars")
    assert project.settings().batch_size == 20  # the good change was not kept either
    with pytest.raises(AlappError, match="unknown setting 'colour'"):
        project.update_settings(colour="blue")
    assert project.update_settings(budget_unit="money", hourly_rate=30).budget_unit == "money"


def test_an_old_project_with_a_value_no_longer_allowed_opens_with_its_default(tmp_path) -> None:
    path = tmp_path / "old.alapp"
    Project.create(path, ["a", "b"], batch_size=7).close()
    conn = sqlite3.connect(path)  # as an older alapp may have written it
    conn.executemany("UPDATE settings SET value = ? WHERE key = ?",
                     [(json.dumps("dollars"), "budget_unit"), (json.dumps("forest"), "classifier"),
                      (json.dumps(-3), "mc_samples")])
    conn.commit()
    conn.close()
    with Project.open(path) as project, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = project.settings()
    assert (settings.budget_unit, settings.classifier, settings.mc_samples) == ("items",
                                                                               "logreg", 20)
    assert settings.batch_size == 7  # what is still allowed is kept
    messages = [str(w.message) for w in caught if issubclass(w.category, SettingWarning)]
    assert len(messages) == 3
    assert any("budget_unit='dollars'" in m and "default 'items'" in m for m in messages)
    with Project.open(path) as project, pytest.warns(SettingWarning):
        project.update_settings(batch_size=9)  # still writable; the warning stays honest
        assert project.settings().batch_size == 9


def test_cli_config_warns_about_an_old_projects_stale_value(tmp_path, capsys) -> None:
    path = tmp_path / "old.alapp"
    Project.create(path, ["a", "b"]).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE settings SET value = ? WHERE key = 'device'", (json.dumps("tpu"),))
    conn.commit()
    conn.close()
    assert main(["config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err.count("alapp: warning:") == 1 and "device='tpu'" in err
    assert "default 'auto'" in err and "device = auto" in out


def test_cli_config_coerces_and_refuses_with_the_allowed_values(tmp_path, capsys) -> None:
    path = tmp_path / "p.alapp"
    main(["init", str(path), "--labels", "a,b"])
    capsys.readouterr()
    assert main(["config", str(path), "budget_unit=dollars"]) == 2
    err = capsys.readouterr().err
    assert "budget_unit='dollars'" in err and "items, hours or money" in err
    for change, fragment in (("batch_size=lots", "a whole number"),
                             ("cost_aware=maybe", "true or false"),
                             ("random_share=1", "up to (not including) 1"),
                             ("featurizer=vectors:", "NAME"),
                             ("featurizer=/no/such/model", "no such model folder"),
                             ("device=tpu", "auto, cpu or cuda")):
        assert main(["config", str(path), change]) == 2, change
        assert fragment in capsys.readouterr().err, change
    with Project.open(path, read_only=True) as project:
        assert project.settings() == ProjectSettings(name="p")  # nothing was changed
    assert main(["config", str(path), "budget_unit=hours", "budget_amount=40",
                 "cost_aware=on"]) == 0
    out = capsys.readouterr().out
    assert "budget_unit = hours" in out and "budget_amount = 40.0" in out
    assert "cost_aware = True" in out


def test_settings_dialog_shows_the_error_instead_of_saving(qtbot, tmp_path) -> None:
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path))
    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(), ["text"])
    qtbot.addWidget(dialog)
    dialog.currency.setText(" ")
    dialog.apply()
    assert "currency=''" in dialog.error.text() and "not empty" in dialog.error.text()
    assert dialog.result() == 0 and dialog.changes == {}
    dialog.currency.setText("USD")
    dialog.featurizer.setCurrentText("vectors:text+tfidf")
    dialog.apply()
    assert "cannot be fused" in dialog.error.text() and dialog.changes == {}
    dialog.featurizer.setCurrentText("vectors:text")
    dialog.budget_unit.setCurrentText("hours")
    dialog.apply()
    assert dialog.changes == {"currency": "USD", "featurizer": "vectors:text",
                              "budget_unit": "hours"}


# issue 20 and 17's settings that only `alapp config` could set before: the dialog's controls
NEW_CONTROLS = {"claim_window": 7, "claim_lease_s": 300.0, "claim_overlap": 20,
                "large_pool_items": 50_000, "propagation_fade": 48.0}


def test_settings_dialog_edits_the_claim_large_pool_and_fade_settings(qtbot, tmp_path) -> None:
    from PySide6.QtWidgets import QTabWidget

    from alapp.store.demo import create_demo_project
    from alapp.ui.main_window import MainWindow
    from alapp.ui.settings_dialog import SettingsDialog

    path = tmp_path / "demo.alapp"
    project = create_demo_project(path)
    project.update_settings(featurizer="tfidf", claim_window=5, claim_lease_s=90.0,
                            claim_overlap=10, large_pool_items=300_000, propagation_fade=16.0)
    project.close()
    window = MainWindow(path, annotator="tester")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: not window.work.busy and window.entry is not None, timeout=60_000)
    window.settings_dialog()
    dialog = window.settings_window
    assert isinstance(dialog, SettingsDialog)
    shown = {key: getattr(dialog, key).value() for key in NEW_CONTROLS}
    assert shown == {"claim_window": 5, "claim_lease_s": 90.0, "claim_overlap": 10,
                     "large_pool_items": 300_000, "propagation_fade": 16.0}
    assert "project is a file" in dialog.annotators_note.text()  # the window knows it is
    assert "(alapp config: claim_overlap)" in dialog.claim_overlap.toolTip()

    # what the changed tabs look like at the dialog's size on a 1366x768 screen
    tabs = dialog.findChild(QTabWidget)
    for title in ("Sampling", "Model"):
        tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index(title))
        page = tabs.currentWidget()
        qtbot.wait(50)
        assert page.widget().minimumSizeHint().width() <= page.viewport().width(), title
        page.verticalScrollBar().setValue(page.verticalScrollBar().maximum())
        qtbot.wait(50)
        dialog.grab().save(str(tmp_path / f"settingsui-{title.lower()}.png"))
        if os.environ.get("ALAPP_SETTINGSUI_SHOTS"):
            dialog.grab().save(f"/tmp/settingsui-{title.lower()}.png")

    for key, value in NEW_CONTROLS.items():
        getattr(dialog, key).setValue(value)
    dialog.apply()
    assert dialog.changes == NEW_CONTROLS
    with Project.open(path, read_only=True, take_lock=False) as p:
        stored = p.settings()
    assert {key: getattr(stored, key) for key in NEW_CONTROLS} == NEW_CONTROLS
    window.close()


@pytest.mark.parametrize("key", sorted(NEW_CONTROLS))
def test_settings_dialog_controls_refuse_values_alapp_config_refuses(qtbot, key) -> None:
    from PySide6.QtCore import Qt

    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(), [], server="db.example")
    qtbot.addWidget(dialog)
    assert "on the server db.example" in dialog.annotators_note.text()
    box = getattr(dialog, key)
    kind = type(getattr(ProjectSettings(), key))
    low, high = kind(box.minimum()), kind(box.maximum())
    assert check_setting(key, low, STRATEGIES) is None
    assert check_setting(key, high, STRATEGIES) is None
    assert check_setting(key, low - 1, STRATEGIES) is not None  # the rule's lower bound
    if key != "large_pool_items":  # no upper bound in the rule: the box stops at 10^9
        assert check_setting(key, high + 1, STRATEGIES) is not None
    # typed past the range: the box does not take it
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), str(int(high) * 10))
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)
    assert box.value() <= high
    box.setValue(high + 1)
    assert box.value() == high
    dialog.apply()
    assert dialog.changes[key] == high  # accepted: the highest the rule allows
