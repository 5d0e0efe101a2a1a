"""What every GraphQL domain package shares: context, permissions, typed errors, Global
IDs, pagination, scalars, cost and error shaping."""
