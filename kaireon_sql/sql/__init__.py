"""SQL builders, one module per stage (docs/architecture.md)."""
