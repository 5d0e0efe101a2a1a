"""GraphQL types and resolvers of users."""
