"""GraphQL types and resolvers of merchants."""
