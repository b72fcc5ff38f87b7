"""Export the current model version as a folder anyone can load, with a README saying how.

Weights come from the project file (safetensors, never pickle). A fine-tuned transformer becomes
a Hugging Face folder; the other models become arrays plus a description of their shape.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError
from alapp.store.project import Project
from alapp.store.rounds import latest_model

_README = {
    "LogisticClassifier": """Logistic regression on {featurizer} features.

    from safetensors.numpy import load_file
    import numpy as np
    w = load_file("weights.safetensors")
    scores = X @ w["coef"].T + w["intercept"]   # X: (n, d) features, as alapp computed them
    # several classes: softmax(scores); two classes: p(second) = sigmoid(scores[:, 0])

Class order: the "classes" list in alapp-model.json.
""",
    "MLPClassifier": """A small torch head on {featurizer} features:
Linear(d, h) -> BatchNorm1d -> ReLU -> Dropout -> Linear(h, k); the extra heads
(loss_head, wrong_head) score items for active learning only.

    from safetensors.torch import load_file
    state = load_file("weights.safetensors")   # keys: inp.*, norm.*, out.*, ...

Output columns follow "labels" in alapp-model.json.
""",
    "Committee": """A committee of logistic regressions (member0.coef, member0.intercept, ...) on
{featurizer} features; average the members' softmax outputs.
""",
    "LateFusionClassifier": """Late fusion over the inputs {featurizer}: one head per input
(encoders.i, heads.i) and a fused head (fused) over the concatenated hidden layers; predict with
the fused head. log_var holds the learned loss weights.
""",
}


def export_model(project: Project, out: Path, overwrite: bool = False) -> dict[str, Any]:
    stored = latest_model(project)
    if stored is None:
        raise AlappError(f"{project.path}: no trained model yet; label some items first")
    version, kind, params, n_labeled = (stored.version, stored.kind, stored.params,
                                        stored.n_labeled)
    weights = stored.weights
    if params.get("featurizer") == "tfidf" and kind != "TransformerClassifier":
        raise AlappError("models on TF-IDF features are rebuilt from the project's texts and "
                         "cannot be used outside it; choose an embedding featurizer to export")
    if out.exists():
        if not overwrite:
            raise AlappError(f"{out}: already exists; choose another folder or overwrite")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    info = {"version": version, "kind": kind, "labels": project.labels(),
            "n_labeled": n_labeled, "metrics": stored.metrics, **params}
    if kind == "TransformerClassifier":
        _hf_folder(out, weights, params, project.labels())
        readme = ("A fine-tuned transformer, a Hugging Face folder:\n\n"
                  "    from transformers import AutoModelForSequenceClassification, "
                  "AutoTokenizer\n"
                  "    model = AutoModelForSequenceClassification.from_pretrained(\n"
                  "        FOLDER, local_files_only=True, trust_remote_code=False)\n"
                  "    tokenizer = AutoTokenizer.from_pretrained(FOLDER, "
                  "trust_remote_code=False)\n")
    else:
        (out / "weights.safetensors").write_bytes(weights)
        readme = _README.get(kind, "Weights of a {featurizer} model.\n").format(
            featurizer=params.get("featurizer"))
    (out / "alapp-model.json").write_text(json.dumps(info, indent=2, ensure_ascii=False),
                                          encoding="utf-8")
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in info["metrics"].items()
                        if isinstance(v, int | float))  # not the confusion matrix
    (out / "README.md").write_text(
        f"# alapp model version {version}\n\nTrained on {n_labeled} labels"
        f"{'; test set: ' + metrics if metrics else ''}.\n\n{readme}", encoding="utf-8")
    return info


def _hf_folder(out: Path, weights: bytes, params: dict[str, Any], labels: list[str]) -> None:
    from transformers import AutoConfig, AutoTokenizer

    from alapp.ml.embedders import check_model_folder, default_minilm_folder

    source = Path(params.get("model_folder") or default_minilm_folder())
    check_model_folder(source)  # no custom code runs, whatever the folder holds now
    config = AutoConfig.from_pretrained(source, local_files_only=True, trust_remote_code=False,
                                        num_labels=len(labels),
                                        id2label=dict(enumerate(labels)),
                                        label2id={label: i for i, label in enumerate(labels)})
    config.save_pretrained(out)
    AutoTokenizer.from_pretrained(source, local_files_only=True,
                                  trust_remote_code=False).save_pretrained(out)
    (out / "model.safetensors").write_bytes(weights)
