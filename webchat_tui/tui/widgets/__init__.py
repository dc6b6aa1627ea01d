"""Dashboard widgets: each receives plain values and draws them (no engine imports)."""
