"""`backforge mcp`: the whole loop of building a backend — read the format, validate, plan and
apply migrations, serve, call the API as a user, audit — as tools a coding agent calls over the
Model Context Protocol. Needs the `[mcp]` extra."""
