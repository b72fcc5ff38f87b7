"""The encoder job in a project (issue 17): fine-tuned when due, measured on held-out labels,
saved beside the project, the pool embedded under a new featurizer id, used by the next
round, named in the model tab's line and exported with the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alapp.app.encoder import (
    EncoderJob,
    attempts,
    base_featurizer,
    describe,
    encoder_due,
    encoders_folder,
)
from alapp.app.export_model import export_model
from alapp.app.rounds import save_result, snapshot_of
from alapp.app.session import LabelingSession
from alapp.core.errors import AlappError
from alapp.core.progress import Progress
from alapp.core.settings import ProjectSettings
from alapp.loop.round import RoundRunner
from alapp.store import vectors
from alapp.store.importer import import_file
from alapp.store.project import Project
from tests.conftest import write


@pytest.fixture
def tiny_project(tmp_path, tiny_bert):
    rng = np.random.default_rng(0)
    lines = []
    for k in range(60):
        if k % 2:
            text = " ".join(rng.choice(["hello", "world"], 4))
        else:
            text = " ".join(rng.choice(list("abcdefgh"), 4))
        lines.append(json.dumps({"id": str(k), "text": text}))
    with Project.create(tmp_path / "p.alapp", ["greet", "letters"]) as project:
        import_file(project, write(tmp_path / "in.jsonl", "\n".join(lines) + "\n"))
        project.update_settings(featurizer=str(tiny_bert), contrastive_encoder=True,
                                contrastive_every=50, contrastive_max_pairs=16,
                                contrastive_min_gain=-1.0, device="cpu")
        ids = project.item_ids()
        for k, item in enumerate(ids[:56]):
            project.label_item(item, "letters" if k % 2 == 0 else "greet", "ann")
    return tmp_path / "p.alapp"


def test_due_every_n_labels(tmp_path):
    on = ProjectSettings(contrastive_encoder=True, contrastive_every=50)
    assert not encoder_due(ProjectSettings(), tmp_path / "p.alapp", 500)  # off by default
    assert not encoder_due(on, tmp_path / "p.alapp", 49)
    assert encoder_due(on, tmp_path / "p.alapp", 50)
    folder = encoders_folder(tmp_path / "p.alapp")
    folder.mkdir()
    (folder / "log.json").write_text(json.dumps([{"n_labeled": 50, "taken": False}]))
    assert not encoder_due(on, tmp_path / "p.alapp", 99)
    assert encoder_due(on, tmp_path / "p.alapp", 100)


def test_the_job_fine_tunes_embeds_and_exports(tiny_project, tiny_bert, tmp_path):
    with Project.open(tiny_project) as project:
        session = LabelingSession.inline(project, "ann")
        stages: list[str] = []
        count = EncoderJob(session)(Progress(lambda s, f: stages.append(s)))
        assert count == 60  # the whole pool, under the new encoder's own featurizer id
        assert any(s.startswith("fine-tuning the encoder: epoch 1 of 1") for s in stages)
        folder = encoders_folder(tiny_project) / "encoder-v0"
        assert (folder / "model.safetensors").is_file()
        assert project.settings().featurizer == str(folder)
        assert base_featurizer(str(folder)) == str(tiny_bert)
        names = {row[0] for row in project._conn.execute(
            "SELECT DISTINCT featurizer FROM embeddings")}
        assert any("encoder-v0" in n for n in names)
        (log,) = attempts(tiny_project)
        assert log["taken"] and log["held_out"] == 10 and log["n_labeled"] == 56
        # the next round uses the encoder, names it, and the exported model carries it
        result = RoundRunner().run(snapshot_of(project))
        save_result(project, result)
        line = describe(project.settings().featurizer)
        assert line.startswith(f"encoder-v0, {tiny_bert} fine-tuned on 46 labels")
        info = export_model(project, tmp_path / "export")
        assert info["encoder"]["folder"] == "encoder" and info["featurizer"] == str(folder)
        exported = tmp_path / "export" / "encoder"
        assert (exported / "model.safetensors").read_bytes() == \
            (folder / "model.safetensors").read_bytes()
        assert "encoder/model.safetensors" in info["files"]
        assert not [p for p in exported.rglob("*") if p.suffix in (".bin", ".pt", ".pkl")]
        assert "fine-tuned sentence encoder" in (tmp_path / "export" / "README.md").read_text()
        stored = vectors.load_vectors(project, f"hf:encoder-v0:{_fingerprint(folder)}",
                                      project.item_ids()[:3])
        from alapp.ml.embedders import HFEmbedder

        again = HFEmbedder(folder, device="cpu").embed(project.texts(project.item_ids()[:3]))
        assert np.allclose(stored, again, atol=2e-3)  # stored as float16
        session.close()


def _fingerprint(folder):
    from alapp.ml.embedders import folder_fingerprint

    return folder_fingerprint(folder)


def test_an_encoder_that_does_not_help_is_dropped(tiny_project):
    with Project.open(tiny_project) as project:
        project.update_settings(contrastive_min_gain=1.0)  # nothing can add 100 points
        session = LabelingSession.inline(project, "ann")
        assert EncoderJob(session)(Progress()) == 0
        (log,) = attempts(tiny_project)
        assert not log["taken"] and "below 1.0" in log["why"]
        assert not list(encoders_folder(tiny_project).glob("encoder-*"))
        assert project.settings().featurizer != ""
        assert "encoder-v" not in project.settings().featurizer
        session.close()


def test_e5_is_refused_in_one_line(tiny_project):
    with Project.open(tiny_project) as project:
        project.update_settings(featurizer="e5")
        session = LabelingSession.inline(project, "ann")
        with pytest.raises(AlappError, match="e5 featurizer cannot be fine-tuned"):
            EncoderJob(session)(Progress())
        session.close()


def test_a_replay_never_runs_on_the_encoder_fine_tuned_on_its_labels(tiny_project, tiny_bert):
    """The comparison replays the project's labels: on the fine-tuned encoder it would test on
    items the features learned from, so it uses the base, and an explicit request is refused."""
    from alapp.app.compare import embedding_featurizer
    from alapp.app.simulate_file import simulate_project
    from alapp.loop.simulate import SimulationConfig

    with Project.open(tiny_project) as project:
        session = LabelingSession.inline(project, "ann")
        assert EncoderJob(session)(Progress()) == 60
        session.close()
        featurizer = project.settings().featurizer
        assert "encoder-v0" in featurizer
        assert embedding_featurizer(featurizer) == str(tiny_bert)
        assert embedding_featurizer(featurizer, imported_ok=True) == str(tiny_bert)
        with pytest.raises(AlappError, match="fine-tuned on this project's labels.*"
                                             f"its base, {tiny_bert}"):
            simulate_project(project, SimulationConfig(["random"], batch=10, budget=20,
                                                       seeds=1), featurizer, 10, 0)
        result = simulate_project(project, SimulationConfig(["random"], batch=10, budget=20,
                                                            seeds=1), str(tiny_bert), 10, 0)
        assert result["data"]["featurizer"] == str(tiny_bert)
    from alapp.app.compare import describe_replay

    said = describe_replay(tiny_project).what
    assert f"features come from the base encoder ({tiny_bert.name})" in said
    assert "fine-tuning is not replayed" in describe_replay(tiny_project, tiny_project).what


def test_the_comparison_replays_the_projects_own_model_settings():
    own = ProjectSettings(self_training=False, propagation_weight=0.1, temperature=2.0)
    assert comparison_settings(own) == {"self_training": False, "propagation_weight": 0.1,
                                        "temperature": 2.0}
    assert comparison_settings(ProjectSettings()) == {}  # the defaults need no carrying


def comparison_settings(settings: ProjectSettings) -> dict:
    from alapp.app.compare import comparison_config

    return comparison_config(settings, 100).settings
