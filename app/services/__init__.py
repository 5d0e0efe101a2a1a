"""Use cases: each owns its transaction and composes domain rules and adapters."""
