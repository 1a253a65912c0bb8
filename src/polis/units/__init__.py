"""Units: ateulis (groups of ten) and the higher units that grow from them (DESIGN.md §3.3)."""
