"""Multi-store points platform: GraphQL API backend."""
