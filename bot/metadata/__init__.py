"""metadata layer (see docs/architecture.md)."""
