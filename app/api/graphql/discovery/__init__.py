"""GraphQL types and resolvers of discovery."""
