"""webchat-tui: a live load-testing dashboard for web-chat backends."""

__version__ = "0.1.0"
