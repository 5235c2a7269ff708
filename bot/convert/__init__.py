"""convert layer (see docs/architecture.md)."""
