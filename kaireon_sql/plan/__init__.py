"""Frozen plan of one flow, built from validated config before any SQL (docs/architecture.md)."""
