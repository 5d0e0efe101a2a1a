"""Operator commands: each module registers its `python -m app.cli` commands."""
