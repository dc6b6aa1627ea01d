"""Purpose-built test servers for the engine tests (127.0.0.1 only, free ports)."""
