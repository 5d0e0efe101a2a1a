"""Models: geo (filled in by its issue)."""
