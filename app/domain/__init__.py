"""Business rules: pure async functions over models. No GraphQL, no HTTP."""
