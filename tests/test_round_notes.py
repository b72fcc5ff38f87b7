"""A multi-label round says nothing about self-training and label propagation (issue 17): they
do not apply to sets of labels, the Settings dialog says so once, and the Model tab showed the
same two "not applicable" notes after every round."""

from __future__ import annotations

from alapp.app.rounds import RoundJob
from alapp.app.session import LabelingSession
from alapp.core.progress import Progress
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project

TEXTS = {"billing": "charged twice on my card invoice", "delivery": "the parcel courier is late",
         "refund": "I want my money back refund"}


def test_a_multilabel_round_has_no_not_applicable_notes(tmp_path) -> None:
    path = tmp_path / "multi.alapp"
    project = Project.create(path, list(TEXTS), multi_label=True, featurizer="tfidf",
                             batch_size=5, retrain_every=0)
    assert project.settings().self_training and project.settings().propagation_weight > 0
    combos = [["billing"], ["delivery"], ["refund"], ["billing", "delivery"], []]
    data = tmp_path / "t.txt"
    data.write_text("\n".join(" ".join([TEXTS[c] for c in combos[i % 5]] + [f"ticket {i}"])
                              for i in range(40)), "utf-8")
    import_file(project, data, ImportSpec(format="txt"))
    for i in range(1, 16):
        project.label_item(i, "|".join(combos[(i - 1) % 5]), "seed")
    project.close()
    with LabelingSession(path, "tester") as session:
        job = RoundJob(session)
        for _ in range(2):
            result = job(Progress())
            assert result.n_labeled == 15 and result.pseudo_labels is None
            assert not [n for n in result.notes if "self-training" in n or "propagation" in n], \
                result.notes
