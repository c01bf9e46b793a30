"""Internals-based attribution methods (placeholder)."""
