"""The packaged application: build the one-folder app with PyInstaller and run its
self-check (models, training, a project, the window) with no Python environment around it.

Slow (minutes): it builds the real thing, so it is marked packaging and runs only when -m names
it: make test-packaging (CI runs it after make test), or pytest -m packaging.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("PyInstaller")

pytestmark = [pytest.mark.packaging, pytest.mark.slow]


def test_built_application_passes_its_self_check(tmp_path) -> None:
    build = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--no-archive"],
                           capture_output=True, text=True, timeout=3000, cwd=ROOT)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    exe = ROOT / "dist" / "alapp" / ("alapp.exe" if sys.platform == "win32" else "alapp")
    assert exe.is_file()
    # Nothing of the development environment may leak in: no venv on PATH, no PYTHONPATH,
    # a fresh HOME (no user settings, no model caches).
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "LANG": os.environ.get("LANG", "C.UTF-8")}
    report = tmp_path / "report.json"
    shot = tmp_path / "window.png"
    run = subprocess.run([str(exe), "--self-check", "--json", str(report), "--screenshot",
                          str(shot)], capture_output=True, text=True, timeout=900, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    result = json.loads(report.read_text("utf-8"))
    assert result["ok"] and result["network_attempts"] == []
    assert len(result["steps"]) == 5 and all(s["ok"] for s in result["steps"])
    assert shot.stat().st_size > 10_000
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "packaged-window.png").write_bytes(shot.read_bytes())
