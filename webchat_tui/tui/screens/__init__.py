"""Modal screens of the dashboard: help, typed rate, ramp."""
