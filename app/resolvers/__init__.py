"""Thin resolvers: auth check, call domain, map result."""
