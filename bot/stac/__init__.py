"""stac layer (see docs/architecture.md)."""
