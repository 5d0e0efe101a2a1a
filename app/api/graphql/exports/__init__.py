"""GraphQL types and resolvers of exports."""
