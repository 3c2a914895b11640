"""The PostgreSQL adapter: the store in one database, for teams and the whole registry
(adapter.py), its versioned schema and migrations (schema.py)."""

from trialwatch.store.postgres.adapter import PostgresStore, redacted

__all__ = ["PostgresStore", "redacted"]
