"""GraphQL types and resolvers of payments."""
