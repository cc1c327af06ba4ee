"""Data contracts of reid-factory: Arrow table schemas, their validator and job-config models."""

from schemas.tables import TABLES, schema_for
from schemas.validate import SchemaError, validate

__all__ = ["TABLES", "SchemaError", "schema_for", "validate"]
