"""Initiatives with support thresholds and an answer duty (DESIGN.md §3.6)."""
