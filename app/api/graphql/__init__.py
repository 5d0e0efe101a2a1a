"""The GraphQL API: one package per domain (types, resolvers), `core/` shared by them,
`runtime/` for the library internals; `schema.py` merges the domains."""
