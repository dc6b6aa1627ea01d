from webchat_tui.cli import main

# Guarded: the engine's child process (multiprocessing "spawn") imports the parent's main module.
if __name__ == "__main__":
    raise SystemExit(main())
