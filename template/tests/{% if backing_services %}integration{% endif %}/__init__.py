"""Integration tests: against real backing services in containers (`invoke integration`)."""
