"""Arbitration: cases between members, their arbitrators, decisions and appeals (§3.7)."""
