from core.federated.cli import main

raise SystemExit(main())
