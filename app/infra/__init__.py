"""Database, Redis, settings, logging and the shared error and input rules."""
