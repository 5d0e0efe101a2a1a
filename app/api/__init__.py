"""The only code that knows HTTP and GraphQL: the Starlette app, its routes, the schema."""
