import sys

from webchat_tui.demo.server import main

sys.exit(main())
