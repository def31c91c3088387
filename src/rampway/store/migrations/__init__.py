"""Alembic migrations for the rampway store (run by `Store.open`, see `rampway.store._migrate`)."""
