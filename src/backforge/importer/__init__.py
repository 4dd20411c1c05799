"""Drafting declarations from other descriptions of an API."""
