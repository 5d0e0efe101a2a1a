"""Use cases: own the transaction, call domain and adapters, write events."""
