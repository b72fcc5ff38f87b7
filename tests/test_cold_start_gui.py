"""Issue 17 in the window: label descriptions as tooltips, the features line and the prior's
decision on the Model tab."""

from __future__ import annotations

import os
from pathlib import Path

from alapp.loop.round import RoundResult
from alapp.ui.label_view import LabelView
from alapp.ui.side_panel import SidePanel

# test-artifacts/ by default; ALAPP_SCREENSHOTS_TO=docs/screenshots refreshes the documented one
SHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO")
             or Path(__file__).resolve().parent.parent / "test-artifacts")


def test_a_label_description_is_its_buttons_tooltip(qtbot) -> None:
    view = LabelView(["Спорт", "World"])
    qtbot.addWidget(view)
    view.show_descriptions({"Спорт": "матчи, команды, спортсмены"})
    assert view.buttons["Спорт"].toolTip().endswith("матчи, команды, спортсмены")
    assert "\n" not in view.buttons["World"].toolTip()
    view.show_keys(view.keys)  # new key texts keep the description
    assert view.buttons["Спорт"].toolTip().endswith("матчи, команды, спортсмены")


def test_the_model_tab_says_which_features_and_whether_the_names_help(qtbot) -> None:
    panel = SidePanel()
    qtbot.addWidget(panel)
    panel.resize(420, 500)
    line = "multilingual e5 (auto: 94% of the first 500 texts are not in Latin script)"
    first = RoundResult([], {}, 0, {}, strategy="typiclust", features_line=line,
                        notes=["label-name prior: no labels yet, so the predicted labels are "
                               "zero-shot guesses from the label names (not yet checked)"])
    panel.show_model(first)
    text = panel.model_state.text()
    assert "the most typical item of each dense region" in text
    assert text.endswith(f"Features: {line}")
    later = RoundResult([], {}, 32, {"accuracy": 0.71}, round_index=3,
                        strategy="uncertainty-cluster", features_line=line,
                        notes=["label-name prior: weight 0.20 in the probabilities (zero-shot "
                               "62% right on 32 labeled items, chance 25%, p = 1.2e-06)"])
    panel.show_model(later)
    panel.tabs.setCurrentWidget(panel.model_scroll)
    text = panel.model_state.text()
    assert f"Features: {line}\nNote: label-name prior: weight 0.20" in text
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(SHOTS / "cold-start-model-tab.png"))
