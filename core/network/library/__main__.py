from core.network.library.cli import main

raise SystemExit(main())
