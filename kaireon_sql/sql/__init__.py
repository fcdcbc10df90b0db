"""SQL builders, one module per stage, reading only the plan (docs/architecture.md)."""
