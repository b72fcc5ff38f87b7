"""The contrastive encoder in the window (issue 17): the setting in the settings dialog, the
encoder line in the model tab."""

from __future__ import annotations

import os
from pathlib import Path

from alapp.core.settings import ProjectSettings
from alapp.loop.round import RoundResult

SCREENSHOTS = Path(os.environ.get("ALAPP_SCREENSHOTS_TO")
                   or Path(__file__).resolve().parents[1] / "test-artifacts")


def test_settings_offer_the_contrastive_encoder(qtbot) -> None:
    from alapp.ui.settings_dialog import SettingsDialog

    dialog = SettingsDialog(ProjectSettings(), [])
    qtbot.addWidget(dialog)
    form = dialog._model_form
    assert form.getWidgetPosition(dialog.contrastive_encoder)[0] >= 0  # on the Model page
    assert not dialog.contrastive_encoder.isChecked()  # off by default: minutes of CPU
    dialog.contrastive_encoder.setChecked(True)
    dialog.contrastive_every.setValue(300)
    dialog.apply()
    assert dialog.changes == {"contrastive_encoder": True, "contrastive_every": 300}
    multi = SettingsDialog(ProjectSettings(multi_label=True, strategy="ml-mmc"), [])
    qtbot.addWidget(multi)
    # pairs need one label per item: not offered to a multi-label project
    assert multi._model_form.getWidgetPosition(multi.contrastive_encoder)[0] == -1


def test_the_model_tab_names_the_encoder(qtbot) -> None:
    from alapp.ui.side_panel import SidePanel

    panel = SidePanel()
    qtbot.addWidget(panel)
    panel.resize(420, 700)
    line = ("encoder-v12, minilm fine-tuned on 320 labels; held-out accuracy 84.0% → 88.8%")
    panel.show_model(RoundResult([], {}, 400, {"accuracy": 0.9}, round_index=13,
                                 strategy="margin", encoder=line))
    assert f"Encoder: {line}" in panel.model_state.text()
    panel.tabs.setCurrentWidget(panel.model_scroll)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel.grab().save(str(SCREENSHOTS / "contrastive_model_tab.png"))
    panel.show_model(RoundResult([], {}, 400, {"accuracy": 0.9}, round_index=13,
                                 strategy="margin"))
    assert "Encoder:" not in panel.model_state.text()  # none named: no line
