"""Start-up time to a visible window, and size on disk, of the packaged application (or of
`python -m alapp` when no build is given). Prints JSON.

Usage: python bench/bench_startup.py [--app dist/alapp/alapp] [--runs 5]
The window opens on a fresh demo project; ALAPP_STARTUP_PROBE makes the application quit as
soon as its window has been shown, after printing a line that is timed from outside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", type=Path, help="the built executable")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    command = [str(args.app)] if args.app else [sys.executable, "-m", "alapp"]
    times = []
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ALAPP_STARTUP_PROBE": "1", "HOME": home,
               "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        for run in range(args.runs):
            project = Path(home) / f"demo{run}.alapp"
            subprocess.run([*command, "demo", "--project", str(project), "--no-gui"], env=env,
                           check=True, capture_output=True)
            started = time.perf_counter()
            out = subprocess.run([*command, "gui", str(project)], env=env, capture_output=True,
                                 text=True, timeout=300)
            if "window shown" not in out.stdout:
                raise SystemExit(f"no window: {out.stdout}\n{out.stderr}")
            times.append(time.perf_counter() - started)
    result = {"benchmark": "startup_to_window", "command": " ".join(command),
              "runs_s": [round(t, 2) for t in times],
              "median_s": round(sorted(times)[len(times) // 2], 2),
              "first_run_s (cold file cache)": round(times[0], 2), "machine": machine()}
    if args.app:
        folder = args.app.parent
        result["folder_mib"] = round(sum(p.stat().st_size for p in folder.rglob("*")
                                         if p.is_file() and not p.is_symlink()) / 2**20, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
