"""Export the current model version as a folder anyone can load, with a README saying how.

Weights come from the project file (safetensors, never pickle). A fine-tuned transformer becomes
a Hugging Face folder; the other models become arrays plus a description of their shape.

The folder is written under a temporary name beside the target and renamed into place once
complete, so a crash leaves the old export or the new one, never half of one. Its
``alapp-model.json`` carries a format tag and the list of files written: ``--overwrite``
replaces only a folder with that marker and nothing else in it (or an empty one), so it can
never delete a folder alapp did not make (a project's folder, a home folder). The old folder is
renamed aside first and removed only after the new one is in place.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from alapp.core.errors import AlappError
from alapp.core.files import fsync_folder, temporary_name
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
(loss_head, wrong_head, and loss_taps.*/loss_join when present) score items for active
learning only.

    from safetensors.torch import load_file
    state = load_file("weights.safetensors")   # keys: inp.*, norm.*, out.*, ...

Output columns follow "labels" in alapp-model.json.
""",
    "Committee": """A committee of logistic regressions (member0.coef, member0.intercept, ...) on
{featurizer} features; average the members' softmax outputs. A mixed committee (classifier
mixed-committee) also holds small MLPs (memberI.layer0.weight/bias, a ReLU hidden layer, then
layer1 and a softmax) and naive Bayes (Gaussian: mean, var, prior; complement NB on TF-IDF:
feature_log_prob, class_log_prior).
""",
    "LateFusionClassifier": """Late fusion over the inputs {featurizer}: per input i,
h_i = Dropout(ReLU(encoders.i(x_i))), zero where the item lacks that input; one head per input
(heads.i) and a fused head (fused) over the concatenated h_i. Predict with the softmax of the
heads the item has (the fused head always), weighted by exp(-log_var) and renormalised;
log_var holds the learned loss weights (inputs first, fused last). loss_head and wrong_head
(and loss_taps.*/loss_join when present) score items for active learning only.
""",
}
_README["PropagationClassifier"] = """Label spreading over a nearest-neighbour graph of the pool's
{featurizer} features (issue 17): node_embeddings (unit length, float16) are the pool items,
node_probs their spread label distributions (columns: "labels" in alapp-model.json), k the
neighbours per item.

    from safetensors.numpy import load_file
    import numpy as np
    w = load_file("weights.safetensors")
    x = X / np.linalg.norm(X, axis=1, keepdims=True)          # X: (n, d) features
    sims = x @ w["node_embeddings"].astype(np.float32).T
    near = np.argsort(-sims, axis=1)[:, : int(w["k"][0])]
    weight = np.maximum(np.take_along_axis(sims, near, axis=1), 0) ** 3 + 1e-9
    p = np.einsum("nk,nkc->nc", weight, w["node_probs"][near])
    p /= p.sum(axis=1, keepdims=True)
"""

# Issue 17: the default model is a classifier blended with label spreading; the export is the
# blend whole, the model the learning curve measured.
GRAPH_BLEND_README = """The classifier blended with label spreading over the pool (issue 17):
what the app predicts with and what its test accuracy measures. Arrays:

- base.*: the classifier ({base}), as described below with each key prefixed "base.";
- spread.node_embeddings, spread.node_probs, spread.k: the spread labels of the pool items
  (columns: "labels" in alapp-model.json);
- blend_weight: w.

    p_base = np.zeros((len(X), len(labels)))        # labels: "labels" in alapp-model.json
    p_base[:, w["base_columns"]] = the classifier's probabilities (its columns are the labels
                                   it was trained on: base_columns says which)
    p_spread = the similarity-cubed-weighted mean of the k nearest nodes' node_probs:
        x = X / np.linalg.norm(X, axis=1, keepdims=True)
        sims = x @ w["spread.node_embeddings"].astype(np.float32).T
        near = np.argsort(-sims, axis=1)[:, : int(w["spread.k"][0])]
        weight = np.maximum(np.take_along_axis(sims, near, axis=1), 0) ** 3 + 1e-9
        p_spread = np.einsum("nk,nkc->nc", weight, w["spread.node_probs"][near])
        p_spread /= p_spread.sum(axis=1, keepdims=True)
    p = (1 - w) * p_base + w * p_spread

The classifier:

"""


MARKER = "alapp-model.json"
FORMAT = "alapp-model/1"


MULTI_LABEL_README = """
Multi-label project: each output column is one label's own yes/no score. Take sigmoid(output)
per label (for a one-vs-rest or chained logistic regression: sigmoid(x @ coef_j + intercept_j)
for label j; a chain appends the earlier labels' 0/1 decisions to x), not a softmax over the
labels. A label is predicted when its probability reaches its tuned threshold: "thresholds"
in alapp-model.json (one per label, in the order of "labels"). An item may get several
labels, or none.
"""


def export_model(project: Project, out: Path, overwrite: bool = False) -> dict[str, Any]:
    out = Path(out)
    stored = latest_model(project)
    if stored is None:
        raise AlappError(f"{project.path}: no trained model yet; label some items first")
    version, kind, params, n_labeled = (stored.version, stored.kind, stored.params,
                                        stored.n_labeled)
    weights = stored.weights
    if params.get("featurizer") == "tfidf" and kind != "TransformerClassifier":
        raise AlappError("models on TF-IDF features are rebuilt from the project's texts and "
                         "cannot be used outside it; choose an embedding featurizer to export")
    replacing = os.path.lexists(out)
    if replacing:
        if not overwrite:
            raise AlappError(f"{out}: already exists; choose another folder or overwrite")
        check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    final = out
    out = temporary_name(final)
    out.mkdir()  # 0777 less the umask, as a folder made by hand
    try:
        info = _write_folder(project, out, stored, version, kind, params, n_labeled, weights)
        _sync(out)
        if replacing:
            aside = temporary_name(final, "old")
            os.rename(final, aside)
            try:
                check_replaceable(aside, final)  # what moved aside is still what was checked
                os.rename(out, final)
            except BaseException:
                os.rename(aside, final)
                raise
            shutil.rmtree(aside)  # made by export-model, holding nothing else (checked)
        else:
            os.rename(out, final)  # refused if something appeared there meanwhile
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # ours: made just above
        raise
    fsync_folder(final.parent)
    return info


def check_replaceable(out: Path, shown: Path | None = None) -> None:
    """Refuse, in one line, to replace anything but a folder ``export_model`` wrote (its marker
    lists every file it holds) or an empty folder."""
    refusal = f"{shown or out}: was not made by alapp export-model"
    if out.is_symlink() or not out.is_dir():
        raise AlappError(f"{refusal} (not a folder); choose another folder")
    present = _files_in(out)
    if not present and not any(out.iterdir()):
        return  # an empty folder: nothing to lose
    marker = out / MARKER
    try:
        info = json.loads(marker.read_text("utf-8")) if marker.is_file() and \
            not marker.is_symlink() else None
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise AlappError(f"{refusal} (no {MARKER} marker); choose another folder, or remove "
                         "it yourself")
    listed = set(info.get("files") or ()) | {MARKER}
    extra = sorted(set(present) - listed)
    if extra:
        raise AlappError(f"{shown or out}: holds files alapp export-model did not write "
                         f"({', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''}); "
                         "move them out or choose another folder")


def _files_in(folder: Path) -> list[str]:
    """Every file, link and empty folder under ``folder`` (links not followed), relative."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        for name in files + [d for d in dirs if (here / d).is_symlink()]:
            found.append((here / name).relative_to(folder).as_posix())
        if not dirs and not files and here != folder:
            found.append(here.relative_to(folder).as_posix() + "/")
    return found


def _sync(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(Path(root) / name, "rb") as written:
                os.fsync(written.fileno())
        fsync_folder(root)


def _write_folder(project: Project, out: Path, stored: Any, version: int, kind: str,
                  params: dict[str, Any], n_labeled: int, weights: bytes) -> dict[str, Any]:
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
        base = kind.removeprefix("GraphBlend(").removesuffix(")")
        readme = _README.get(base, "Weights of a {featurizer} model.\n").format(
            featurizer=params.get("featurizer"))
        if base != kind:  # issue 17: the classifier blended with label spreading
            readme = GRAPH_BLEND_README.format(base=base) + readme
            info["blend"] = {"classifier": base, "weight": _blend_weight(weights)}
    encoder = _copy_encoder(out, params)  # issue 17: a fine-tuned encoder travels with its head
    if encoder is not None:
        info["encoder"] = encoder
        readme += ENCODER_README
    if project.multi_label:  # issue 21: per-label sigmoid outputs, not one softmax
        readme += MULTI_LABEL_README
        info["thresholds"] = _thresholds(weights)
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in info["metrics"].items()
                        if isinstance(v, int | float))  # not the confusion matrix
    (out / "README.md").write_text(
        f"# alapp model version {version}\n\nTrained on {n_labeled} labels"
        f"{'; test set: ' + metrics if metrics else ''}.\n\n{readme}", encoding="utf-8")
    # The marker, last: what --overwrite checks before it replaces this folder.
    info = {"format": FORMAT, **info, "files": sorted(_files_in(out))}
    (out / MARKER).write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
    return info


ENCODER_README = """
The features come from a fine-tuned sentence encoder (contrastive, from the project's labels),
included as the Hugging Face folder encoder/ (safetensors). Embed a text as alapp did: mean of
the last hidden states over the attention mask, then L2-normalised:

    from transformers import AutoModel, AutoTokenizer
    tok = AutoTokenizer.from_pretrained("encoder", trust_remote_code=False)
    enc = AutoModel.from_pretrained("encoder", local_files_only=True, trust_remote_code=False)
"""


def _copy_encoder(out: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """Copy the fine-tuned encoder the model's features came from into ``out/encoder``;
    None when the featurizer is not one (the bundled models are installed packages)."""
    from alapp.app.encoder import encoder_info
    from alapp.ml.embedders import check_model_folder

    featurizer = str(params.get("featurizer") or "")
    info = encoder_info(featurizer)
    if info is None:
        return None
    source = Path(featurizer)
    check_model_folder(source)  # only safetensors and no code, whatever the folder holds now
    shutil.copytree(source, out / "encoder", symlinks=False)
    return {"folder": "encoder", "name": source.name, **info}


def _blend_weight(weights: bytes) -> float:
    from safetensors.numpy import load

    return float(load(weights)["blend_weight"][0])


def _thresholds(weights: bytes) -> list[float] | None:
    """The per-label decision thresholds a multi-label model saved with its weights."""
    from safetensors.numpy import load

    found = load(weights).get("thresholds")
    return None if found is None else [round(float(t), 6) for t in found.ravel()]


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
