from alapp.cli import main

if __name__ == "__main__":  # guarded: the import parser's spawned process re-imports this
    raise SystemExit(main())
