from webchat_tui.cli import main

raise SystemExit(main())
