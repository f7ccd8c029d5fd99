"""One module per revision; `alembic revision --autogenerate -m "..."` writes the next."""
