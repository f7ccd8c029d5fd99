"""Alembic's migrations of the service's database, shipped in the package (and its image)."""
