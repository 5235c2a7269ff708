"""events layer (see docs/architecture.md)."""
