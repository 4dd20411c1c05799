"""Spec to database schema, and migrations between schemas."""

from .tables import NAMING_CONVENTION, build_metadata, build_table, column_type

__all__ = ["NAMING_CONVENTION", "build_metadata", "build_table", "column_type"]
