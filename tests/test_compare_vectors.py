"""A comparison on a project that uses imported vectors replays on those vectors: what the
project's model sees, and no sentence embedder is loaded (loading one stalled the window)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import sys
    from pathlib import Path
    import numpy as np
    from alapp.app.compare import compare_strategies
    from alapp.loop.simulate import SimulationConfig
    from alapp.store.importer import import_file
    from alapp.store.project import Project
    from alapp.store.vectors import import_npy, save_vectors

    folder = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    centres = rng.normal(size=(3, 16))
    (folder / "items.csv").write_text("text,label\\n" + "".join(
        f"item {i},c{y[i]}\\n" for i in range(120)), "utf-8")
    np.save(folder / "v.npy", centres[y] + 0.3 * rng.normal(size=(120, 16)))
    path = folder / "p.alapp"
    with Project.create(path, ["c0", "c1", "c2"], featurizer="vectors:v") as project:
        import_file(project, folder / "items.csv")
        import_npy(project, "v", folder / "v.npy", None)
    cfg = SimulationConfig(["random", "margin"], batch=10, budget=40, seeds=2)
    result = compare_strategies(path, None, cfg)
    assert result["data"]["featurizer"] == "vectors:v", result["data"]
    assert result["data"]["dim"] == 16
    assert "transformers" not in sys.modules and "torch" not in sys.modules
    # A labeled item without the vectors: a clear message, not a silent embedder.
    with Project.open(path) as project:
        ids = project.item_ids()
        project._conn.execute("DELETE FROM embeddings WHERE item_id = ?", (ids[0],))
        project._conn.commit()
    try:
        compare_strategies(path, None, cfg)
    except Exception as e:
        print("ERROR:", e)
''')


@pytest.mark.slow
def test_comparison_replays_on_imported_vectors_without_an_embedder(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ERROR:" in done.stdout and "vectors:v is missing for 1 labeled item(s)" \
        in done.stdout, done.stdout
