"""GraphQL types and resolvers of orders."""
