"""GraphQL types and resolvers of releases."""
