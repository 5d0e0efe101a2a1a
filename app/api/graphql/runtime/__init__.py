"""Every use of Strawberry's and graphql-core's internals, in one place."""
