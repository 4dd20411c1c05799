"""GraphQL at /graphql, generated from the declaration and served through the store: the same
rules, validation and hooks as the REST routes (see schema.py, service.py, endpoint.py)."""
