"""Accounts and credentials: passwords, tokens, sessions, API keys, OAuth2, one-time codes."""
