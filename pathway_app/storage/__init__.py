"""SQLAlchemy models, database opening and migrations: the only place SQL lives."""
