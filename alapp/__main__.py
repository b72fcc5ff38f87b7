from alapp.cli import main

raise SystemExit(main())
