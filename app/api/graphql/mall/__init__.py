"""GraphQL types and resolvers of the mall."""
