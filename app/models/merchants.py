"""Models: merchants (filled in by its issue)."""
