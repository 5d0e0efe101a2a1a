"""GraphQL types and resolvers of checkout at the counter."""
