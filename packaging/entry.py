"""Entry point of the packaged application (PyInstaller).

freeze_support() first: the import parser runs in a spawned process, and a frozen executable
must recognise being started as that child instead of opening another window.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from alapp.cli import main

    # Double-clicked, the application opens its start screen; with arguments it is the CLI.
    raise SystemExit(main(sys.argv[1:] or ["gui"]))
