"""GraphQL types and resolvers of agents."""
