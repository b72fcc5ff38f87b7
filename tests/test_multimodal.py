"""Multimodal posts (seed 001): an item has text, an image, or both.

A small synthetic project whose items lack one input or the other: vectors stored for some
items only, the late-fusion model masking what is missing, every neural strategy running on it
through a real round, and images imported from a path or base64 column."""

from __future__ import annotations

import base64
import csv
import json
import re
import struct
import zlib

import numpy as np
import pytest

from alapp.al.needs import FROM_MODEL, Need
from alapp.al.registry import STRATEGIES
from alapp.app.rounds import snapshot_of
from alapp.core.errors import AlappError, InputError
from alapp.core.types import ItemId
from alapp.loop.embedding import MemoryVectors
from alapp.loop.round import RoundRunner, featurize
from alapp.store import images
from alapp.store.importer import ImportSpec, import_file
from alapp.store.project import Project
from alapp.store.vectors import import_npy, load_present_vectors, load_vectors, save_vectors

torch = pytest.importorskip("torch")

LABELS = ["cats", "cars", "food"]
N = 45  # items: 15 per label


def png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A real (tiny) PNG file, written by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _which(i: int) -> str:
    """Every fifth item has only an image, every third (not fifth) only text, the rest both."""
    return "image" if i % 5 == 0 else "text" if i % 3 == 0 else "both"


@pytest.fixture(autouse=True)
def tiny_fusion(monkeypatch):
    """The rounds' fused model small and short (the strategies, not the model, are under
    test)."""
    from dataclasses import replace

    from alapp.ml import fusion

    monkeypatch.setattr(fusion, "DEFAULTS", replace(fusion.DEFAULTS, hidden=16, epochs=4,
                                                    warm_epochs=2))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """45 posts in 3 classes; text vectors for the posts with text, image vectors (imported
    with an ids file) for the posts with an image; 27 labeled."""
    p = _multimodal_project(tmp_path_factory.mktemp("mm"), labeled=27)
    yield p
    p.close()


def _multimodal_project(folder, labeled: int) -> Project:
    rng = np.random.default_rng(0)
    y = np.arange(N) % 3
    rows = [{"id": f"p{i}", "text": "" if _which(i) == "image" else f"post {i} about "
             f"{LABELS[y[i]]}", "image": "" if _which(i) == "text" else f"img{i}.png"}
            for i in range(N)]
    for i in range(N):
        if _which(i) != "text":
            (folder / f"img{i}.png").write_bytes(png(2 + y[i], 2, (40 * y[i], 90, 200)))
    with (folder / "posts.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["id", "text", "image"])
        writer.writeheader()
        writer.writerows(rows)
    p = Project.create(folder / "mm.alapp", LABELS, batch_size=5, random_share=0.0)
    report = import_file(p, folder / "posts.csv")
    assert report.rows == N and report.images == sum(_which(i) != "text" for i in range(N))
    for name, has, dim in (("text", lambda i: _which(i) != "image", 6),
                           ("image", lambda i: _which(i) != "text", 4)):
        keep = [i for i in range(N) if has(i)]
        matrix = np.eye(3)[y[keep]] @ rng.normal(size=(3, dim)) * 2
        np.save(folder / f"{name}.npy", (matrix + rng.normal(size=matrix.shape) * 0.3)
                .astype(np.float32))
        (folder / f"{name}.ids").write_text("\n".join(f"p{i}" for i in keep), "utf-8")
        assert import_npy(p, name, folder / f"{name}.npy", folder / f"{name}.ids") == len(keep)
    ids = {p.item(i).ext_id: i for i in p.item_ids()}
    for i in range(labeled):
        p.label_item(ids[f"p{i}"], LABELS[y[i]], "sim")
    p.update_settings(featurizer="vectors:text+vectors:image")
    return p


# -- the store keeps vector sets that cover some items only ---------------------------------


def test_vectors_may_be_missing_for_some_items(tmp_path) -> None:
    p = Project.create(tmp_path / "v.alapp", LABELS)
    (tmp_path / "a.txt").write_text("one\ntwo\nthree\n", "utf-8")
    import_file(p, tmp_path / "a.txt")
    a, b, c = p.item_ids()
    save_vectors(p, "vectors:image", [a, c], np.array([[1.0, 2.0], [3.0, 4.0]]))
    matrix, present = load_present_vectors(p, "vectors:image", [c, b, a])
    assert matrix.tolist() == [[3.0, 4.0], [0.0, 0.0], [1.0, 2.0]]
    assert present.tolist() == [True, False, True]
    with pytest.raises(AlappError, match=r"1 items have no 'vectors:image'.*fuse it"):
        load_vectors(p, "vectors:image", [a, b])
    with pytest.raises(AlappError, match="no item has 'vectors:other'"):
        load_present_vectors(p, "vectors:other", [a])
    p.close()
    memory = MemoryVectors()
    memory.save("v", [ItemId(1)], np.array([[5.0, 6.0]]))
    matrix, present = memory.load_present("v", [ItemId(2), ItemId(1)])
    assert matrix.tolist() == [[0.0, 0.0], [5.0, 6.0]] and present.tolist() == [False, True]


def test_diversity_embeddings_join_the_parts_present(project) -> None:
    features = featurize(snapshot_of(project), _progress())
    x = features.matrix
    text, image = x.present
    ext = {i: project.item(i).ext_id for i in project.item_ids()}
    rows = {ext[i]: r for r, i in enumerate(project.item_ids())}
    # an image-only post: its text part is missing (and zero), its image part is all of it
    r = rows["p0"]
    assert not text[r] and image[r] and not x.parts[0][r].any()
    unit = x.parts[1][r] / np.linalg.norm(x.parts[1][r])
    assert np.allclose(features.embeddings[r], np.concatenate([np.zeros(6), unit]), atol=1e-6)
    # a text-only post the other way round; one with both: each part weighs the same
    r = rows["p3"]
    assert text[r] and not image[r]
    assert np.allclose(features.embeddings[r, 6:], 0) and np.isclose(
        np.linalg.norm(features.embeddings[r]), 1.0)
    r = rows["p1"]
    assert text[r] and image[r]
    assert np.isclose(np.linalg.norm(features.embeddings[r, :6]), np.sqrt(0.5), atol=1e-6)


# -- the late-fusion model masks a missing input ----------------------------------------------


def _toy(n: int = 90, seed: int = 0):
    from alapp.ml.fusion import MultiInput

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    a = (np.eye(3)[y] * 2 + rng.normal(size=(n, 3)) * 0.5).astype(np.float32)
    b = (np.eye(3)[y] @ rng.normal(size=(3, 5)) + rng.normal(size=(n, 5)) * 0.5).astype(np.float32)
    has_a, has_b = np.arange(n) % 4 != 0, np.arange(n) % 3 != 0
    a[~has_a], b[~has_b] = 0, 0
    return MultiInput([a, b], [has_a, has_b]), [LABELS[k] for k in y], rng


def test_a_missing_input_changes_nothing_in_training_or_prediction() -> None:
    """What stands in a missing input's rows is never seen: the same seed trains the same
    weights whether those rows are zeros or noise, and predicts the same."""
    from alapp.ml.fusion import LateFusionClassifier, MultiInput

    x, y, rng = _toy()
    noisy = MultiInput([np.where(m[:, None], p, rng.normal(size=p.shape) * 9).astype(np.float32)
                        for p, m in zip(x.parts, x.present, strict=True)], x.present)
    clean = LateFusionClassifier(LABELS, hidden=8, epochs=3)
    dirty = LateFusionClassifier(LABELS, hidden=8, epochs=3)
    clean.fit(x, y)
    dirty.fit(noisy, y)
    for key, value in clean._net.state_dict().items():
        assert torch.equal(value, dirty._net.state_dict()[key]), key
    assert np.array_equal(clean.predict_proba(x), dirty.predict_proba(noisy))


def test_the_prediction_combines_only_the_heads_an_item_has() -> None:
    from alapp.ml.fusion import LateFusionClassifier

    x, y, _ = _toy()
    model = LateFusionClassifier(LABELS, hidden=8, epochs=2)
    model.fit(x, y)
    net = model._net
    parts, mask = model._tensors(x)
    with torch.no_grad():
        logits, probs, *_ = net(parts, mask)
        w = torch.exp(-net.log_var)
        soft = [torch.softmax(o, 1) for o in logits]
    for r in range(len(x)):
        have = [*(bool(m[r]) for m in x.present), True]  # the fused head always
        weights = torch.stack([w[i] for i in range(3) if have[i]])
        expected = sum(wi * soft[i][r] for wi, i in zip(weights / weights.sum(),
                       [i for i in range(3) if have[i]], strict=True))
        assert torch.allclose(probs[r], expected, atol=1e-6)
    assert np.allclose(model.predict_proba(x).sum(1), 1, atol=1e-5)


def test_fusion_provides_what_the_torch_head_provides() -> None:
    from alapp.ml.fusion import LateFusionClassifier
    from alapp.ml.mlp import MLPClassifier

    assert LateFusionClassifier.provides == MLPClassifier.provides
    assert Need.VALIDATION_ACTIVATIONS not in LateFusionClassifier.provides  # the round's
    x, y, _ = _toy()
    model = LateFusionClassifier(LABELS, hidden=8, epochs=2, validation_share=0.2,
                                 loss_layers=3)
    assert model.provides == LateFusionClassifier.provides
    assert LateFusionClassifier(LABELS).provides == MLPClassifier.provides - {
        Need.WRONG_PROB, Need.PREDICTED_LOSS_LAYERS}
    model.fit(x[np.arange(60)], y[:60])
    # 20% of 60 is 12 labels, too few to hold out (min_held_out 20): cross-fitted on all 60
    assert any("cross-fitted: 60 labels" in note for note in model.notes), model.notes
    out = model.outputs(x[np.arange(60, 90)], set(Need), mc_samples=4)
    assert out[Need.PROBS].shape == (30, 3)
    assert out[Need.MC_PROBS].shape == (4, 30, 3)
    assert np.allclose(out[Need.MC_PROBS].sum(-1), 1, atol=1e-5)
    assert not np.allclose(out[Need.MC_PROBS][0], out[Need.MC_PROBS][1])  # dropout differs
    assert out[Need.HIDDEN].shape == out[Need.ACTIVATIONS].shape == (30, 16)
    assert Need.VALIDATION_ACTIVATIONS not in out
    assert out[Need.PREDICTED_LOSS].shape == out[Need.WRONG_PROB].shape == (30,)
    assert out[Need.PREDICTED_LOSS_LAYERS].shape == (30,)
    assert np.isfinite(out[Need.PREDICTED_LOSS_LAYERS]).all()
    assert ((out[Need.WRONG_PROB] > 0) & (out[Need.WRONG_PROB] < 1)).all()
    # an item without input a: that head's hidden units are zero
    rows = np.flatnonzero(~x.present[0][60:])
    assert rows.size and not out[Need.HIDDEN][rows, :8].any()


def test_the_fused_loss_module_reads_three_layers_and_learns_the_losses_order() -> None:
    from alapp.ml.fusion import LateFusionClassifier

    x, y, _ = _toy()
    model = LateFusionClassifier(LABELS, hidden=8, epochs=2, loss_layers=3)
    model.fit(x, y)
    widths = [seq[0].in_features for seq in model._net.loss_taps]
    assert widths == [2 * 8, 3, 3 + 5]  # joined hidden units, log prediction, the inputs
    # the taps train with the model (the ranking loss reaches them), unlike without a module
    single = LateFusionClassifier(LABELS, hidden=8, epochs=2)
    single.fit(x, y)
    assert len(single._net.loss_taps) == 0 and single._net.loss_join is None
    before = LateFusionClassifier(LABELS, hidden=8, epochs=0, loss_layers=3)
    before.fit(x, y)
    assert not torch.equal(before._net.loss_join.weight, model._net.loss_join.weight)


# -- every neural strategy, through a real round ----------------------------------------------

NEURAL = sorted(s.name for s in STRATEGIES.values()
                if frozenset(s.needs) & FROM_MODEL - {Need.PROBS, Need.COMMITTEE_PROBS})


def test_the_neural_strategies_are_the_seeds() -> None:
    assert {"bald", "batchbald", "badge", "model-outliers", "active-transfer",
            "learning-loss"} <= set(NEURAL)


@pytest.mark.parametrize("strategy", [*NEURAL, "uncertainty-cluster"])
def test_every_neural_strategy_runs_on_the_fused_model(project, strategy) -> None:
    project.update_settings(strategy=strategy)
    result = RoundRunner().run(snapshot_of(project))
    assert result.model_kind == "LateFusionClassifier"
    assert result.strategy == strategy and len(result.picks) == 5
    labeled = set(project.current_labels())
    assert not {p.item_id for p in result.picks} & labeled
    assert len(result.predicted) == N - 27 and result.weights
    if strategy == "learning-loss-multi":  # the fused loss module, on three layers
        from safetensors.torch import load

        names = set(load(result.weights))
        assert {f"loss_taps.{i}.0.weight" for i in range(3)} <= names


@pytest.mark.parametrize("n", [4, 10])
def test_active_transfer_and_model_outliers_run_on_few_fused_labels(tmp_path, n) -> None:
    """With fewer labels than a held-out share needs, the fused will-be-wrong head is
    cross-fitted (as the torch head's), and the outliers rank against the unlabeled sample."""
    p = _multimodal_project(tmp_path, labeled=n)
    p.update_settings(strategy="active-transfer")
    runner = RoundRunner()
    result = runner.run(snapshot_of(p))
    assert result.model_kind == "LateFusionClassifier" and len(result.picks) == 5
    scores = [pick.score for pick in result.picks]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    assert any("cross-fitted" in note and f"{n} labels are too few" in note
               for note in result.notes), result.notes
    train, held = runner.keeper.model._split(n, np.random.default_rng(0))
    assert len(train) == n and len(held) == 0  # every label trains the model
    p.update_settings(strategy="model-outliers")
    result = RoundRunner().run(snapshot_of(p))
    assert result.model_kind == "LateFusionClassifier" and len(result.picks) == 5
    assert all(0.0 <= pick.score <= 1.0 for pick in result.picks)
    assert any("unlabeled pool items" in note for note in result.notes), result.notes
    p.close()


# -- images -----------------------------------------------------------------------------------


def test_images_from_paths_and_base64_and_image_only_posts(tmp_path) -> None:
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(png())
    absolute = tmp_path / "b.png"
    absolute.write_bytes(png(5, 5))
    encoded = base64.b64encode(png(3, 3)).decode()
    lines = [{"text": "with a relative path", "image": "pics/a.png"},
             {"text": "with an absolute path", "image": str(absolute)},
             {"text": "", "image": encoded},  # an image-only post
             {"image": "data:image/png;base64," + encoded},  # no text field at all
             {"text": "text only", "image": ""}]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines), "utf-8")
    p = Project.create(tmp_path / "i.alapp", LABELS)
    report = import_file(p, path)
    assert report.rows == 5 and report.images == 4
    ids = p.item_ids()
    assert [p.item(i).text for i in ids][2:] == ["", "", "text only"]
    assert images.image_of(p, ids[0]) == png() and images.image_of(p, ids[1]) == png(5, 5)
    assert images.image_of(p, ids[2]) == png(3, 3) and images.image_of(p, ids[4]) is None
    assert images.count_images(p) == 4
    # image-only posts are duplicates when their images are the same, not because both are
    # empty texts; the image never lands in the metadata
    assert report.duplicate_texts_in_file == 1
    assert "image" not in (p._conn.execute("SELECT meta FROM items WHERE id = ?",
                                           (ids[0],)).fetchone()[0] or "")
    p.close()


@pytest.mark.parametrize(("cell", "problem"), [
    ("https://example.com/cat.png", "is a URL: images are not downloaded"),
    ("missing.png", "no image file 'missing.png'"),
    ("notes.txt", "is not an image (PNG, JPEG, GIF, BMP or WebP expected)"),
    ("A" * 80, "is not an image"),
    ("!!not base64 at all!! " * 5, "neither a file path nor base64"),
    ("data:image/png,rawbytes", "not base64"),
    ("big.png", "the limit is"),
])
def test_bad_images_are_refused_in_one_line_and_nothing_is_written(tmp_path, monkeypatch,
                                                                  cell, problem) -> None:
    (tmp_path / "notes.txt").write_text("hello", "utf-8")
    (tmp_path / "big.png").write_bytes(png(64, 64) + b"\x00" * 4000)
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 2000)
    path = tmp_path / "posts.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text", "image"], ["fine", ""], ["bad", cell]])
    p = Project.create(tmp_path / "b.alapp", LABELS)
    with pytest.raises(InputError, match=re.escape(problem)) as error:
        import_file(p, path)
    assert "\n" not in str(error.value) and error.value.line == 3
    assert p.count_items()["pool"] == 0 and images.count_images(p) == 0
    p.close()


def test_an_empty_row_without_an_image_is_still_refused(tmp_path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text("text,image\nfine,\n,\n", "utf-8")
    p = Project.create(tmp_path / "e.alapp", LABELS)
    with pytest.raises(InputError, match="empty text"):
        import_file(p, path)
    # with the image column turned off, an image cell is left as metadata
    (tmp_path / "a.png").write_bytes(png())
    path.write_text("text,image\nfine,a.png\n", "utf-8")
    report = import_file(p, path, ImportSpec(image=""))
    assert report.images == 0 and "a.png" in p._conn.execute("SELECT meta FROM items").fetchone()[0]
    p.close()


def test_an_image_column_can_be_turned_off_or_named(tmp_path) -> None:
    from alapp.cli import _parser as build_parser
    from alapp.cli import import_spec_from_args

    (tmp_path / "a.png").write_bytes(png())
    path = tmp_path / "posts.csv"
    path.write_text("text,image,pic\nhello,https://x.org/a.png,a.png\n", "utf-8")
    p = Project.create(tmp_path / "n.alapp", LABELS)
    args = build_parser().parse_args(["import", str(tmp_path / "n.alapp"), str(path),
                                      "--image", "pic"])
    report = import_file(p, path, import_spec_from_args(args))
    assert report.images == 1 and images.image_of(p, p.item_ids()[0]) == png()
    args = build_parser().parse_args(["import", str(tmp_path / "n.alapp"), str(path),
                                      "--image", "none"])
    assert import_spec_from_args(args).image == ""
    p.close()


def test_an_old_project_gains_the_images_table(tmp_path) -> None:
    import sqlite3

    from alapp.store.schema import SCHEMA_VERSION, migrate

    path = tmp_path / "v6.alapp"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=SCHEMA_VERSION - 1)
    conn.execute("INSERT INTO settings VALUES ('name', '\"old\"')")
    conn.execute("INSERT INTO items (id, ext_id, text, hash, split) VALUES (1, 'a', 'x', 'h', "
                 "'pool')")
    conn.close()
    with Project.open(path) as p:
        assert images.image_of(p, ItemId(1)) is None
        p._conn.execute("INSERT INTO images VALUES (1, 'png', ?)", (png(),))
        assert images.image_of(p, ItemId(1)) == png()


def test_the_session_hands_the_window_an_items_image(project) -> None:
    from alapp.app.session import LabelingSession

    session = LabelingSession.inline(project, "tester")
    first = next(i for i in project.item_ids() if project.item(i).ext_id == "p1")
    assert session.image(first) is not None and images.sniff(session.image(first)) == "png"
    third = next(i for i in project.item_ids() if project.item(i).ext_id == "p3")
    assert session.image(third) is None
    session.close()


def _progress():
    from alapp.core.progress import Progress

    return Progress()


PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
           "AAAABJRU5ErkJggg==")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_an_export_with_images_imports_back_whole(tmp_path, suffix) -> None:
    """Images travel in the export as data: URIs, so an image-only post is not lost (its
    text is empty) and the export imports back with the same pictures."""
    import base64
    import json

    from alapp.store.export import export_labels
    from alapp.store.images import image_of
    from alapp.store.importer import import_file
    from alapp.store.project import Project

    data = tmp_path / "posts.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [
        {"id": "p1", "text": "a cat on the sofa", "image": PNG_1PX, "label": "cats"},
        {"id": "p2", "image": PNG_1PX, "label": "cars"},  # an image-only post
        {"id": "p3", "text": "no picture here", "label": "cars"}]), "utf-8")
    with Project.create(tmp_path / "a.alapp", ["cats", "cars"]) as first:
        import_file(first, data)
        out = tmp_path / f"export{suffix}"
        assert export_labels(first, out) == 3
    with Project.create(tmp_path / "b.alapp", ["cats", "cars"]) as again:
        import_file(again, out)
        by_ext = {again.item(i).ext_id: i for i in again.item_ids()}
        assert set(by_ext) == {"p1", "p2", "p3"}
        assert again.item(by_ext["p2"]).text == ""
        picture = base64.b64decode(PNG_1PX)
        assert image_of(again, by_ext["p1"]) == image_of(again, by_ext["p2"]) == picture
        assert image_of(again, by_ext["p3"]) is None
        assert again.current_labels()[by_ext["p2"]] == "cars"
