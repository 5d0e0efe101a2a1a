"""Coordinate systems, geo index, ranking, heat map."""
