"""GraphQL types and resolvers of reviews."""
