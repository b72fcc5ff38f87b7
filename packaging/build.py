"""Build the one-folder application and an archive of it; print JSON about the result.

Usage: python packaging/build.py [--self-check]
Needs: pip install -e .[models,packaging] (run from the repository root; any OS: PyInstaller
builds for the system it runs on).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--self-check", action="store_true", help="run the built application's "
                        "self-check afterwards")
    parser.add_argument("--no-archive", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
                    "--distpath", str(DIST), "--workpath", str(ROOT / "build" / "pyinstaller"),
                    str(ROOT / "packaging" / "alapp.spec")], check=True, cwd=ROOT)
    app = DIST / "alapp"
    result: dict[str, object] = {
        "folder": str(app), "build_s": round(time.perf_counter() - started, 1),
        "folder_mib": round(folder_size(app) / 2**20, 1),
        "platform": platform.platform(), "python": platform.python_version()}
    if not args.no_archive:
        kind = "zip" if sys.platform == "win32" else "gztar"
        name = f"alapp-{platform.system().lower()}-{platform.machine().lower()}"
        archive = shutil.make_archive(str(DIST / name), kind, DIST, "alapp")
        result["archive"] = archive
        result["archive_mib"] = round(os.path.getsize(archive) / 2**20, 1)
    if args.self_check:
        exe = app / ("alapp.exe" if sys.platform == "win32" else "alapp")
        check = subprocess.run([str(exe), "--self-check"], capture_output=True, text=True)
        print(check.stdout)
        result["self_check_ok"] = check.returncode == 0
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
