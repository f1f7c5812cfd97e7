"""Alembic environment. The app passes an open connection in ``config.attributes``; the
command-line fallback (for developers writing a new revision) uses ``sqlalchemy.url``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from pathway_app.storage.orm import Base
from pathway_app.storage.repository import is_compared_schema_object

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying tables
        compare_type=True,
        include_name=is_compared_schema_object,  # issue 9: the search index is no model
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///dev.sqlite3")
    with engine.begin() as conn:
        _run(conn)
