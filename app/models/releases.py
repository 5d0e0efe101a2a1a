"""Models: releases (filled in by its issue)."""
