"""Endorsements: GeDers vouching for members, and the penalties for false ones (DESIGN.md §3.2)."""
