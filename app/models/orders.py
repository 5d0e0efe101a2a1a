"""Models: orders (filled in by its issue)."""
