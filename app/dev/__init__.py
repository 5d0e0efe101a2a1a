"""Local stand-ins (the sandbox payment provider, demo data): never imported by production code."""
