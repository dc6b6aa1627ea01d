"""The embedded demo web-chat server (DESIGN.md section 7, docs/DEMO_SERVER.md).

`DemoServer` runs it as a child process; `server.main` is the `demo-server` sub-command.
"""

from webchat_tui.demo.process import DemoServer

__all__ = ["DemoServer"]
