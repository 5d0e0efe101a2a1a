"""The GraphQL API: types, queries and mutations per domain."""
