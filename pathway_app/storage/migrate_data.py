"""Copy a single-workstation database into a new shared one (issue 7, ``migrate-data``).

Every table of the models is copied in foreign-key order (``Base.metadata.sorted_tables``),
with its ids, in one write transaction on the target: a failure leaves the target empty. The
target is opened (and migrated) by `open_database` first and must hold no rows. On PostgreSQL
the id sequences are then moved past the copied ids, so the next row the app adds gets a new
one. Afterwards the row counts of every table are compared and the target's audit hash chain
is verified; the report says both.

Derived data that is not a model (the search index of migration 0008) is rebuilt by the
target's own triggers or indexes, not copied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Integer, Table, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from pathway_app.domain.errors import StorageError
from pathway_app.storage.audit import ChainReport, verify_chain
from pathway_app.storage.database import Database, database_url, open_database
from pathway_app.storage.orm import Base

BATCH_ROWS = 2000


class MigrateDataError(Exception):
    """The copy was refused or failed; the message says why. The target holds no copied rows."""


@dataclass(frozen=True)
class TableCount:
    name: str
    source: int
    target: int


@dataclass(frozen=True)
class MigrateReport:
    """Attributes:
    tables: rows per table in the source and in the target after the copy.
    source_chain: the source's audit chain (a chain already broken there stays broken).
    target_chain: the target's audit chain after the copy.
    source / target: the databases, as shown to people (no password).
    """

    source: str
    target: str
    tables: tuple[TableCount, ...]
    source_chain: ChainReport
    target_chain: ChainReport

    @property
    def counts_match(self) -> bool:
        return all(table.source == table.target for table in self.tables)

    @property
    def ok(self) -> bool:
        return self.counts_match and self.target_chain.ok


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


def _counts(session: Session) -> dict[str, int]:
    return {
        table.name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
        for table in _tables()
    }


def migrate_data(
    source: str, target: str, *, progress: Callable[[str], None] | None = None
) -> MigrateReport:
    """Copy every row of `source` into the empty database `target` and verify the result.

    Both are opened with `open_database` (so both are at the current schema; an older source
    file is upgraded as the app would when opening it).

    Raises:
        DatabaseOpenError: either database cannot be opened.
        MigrateDataError: the two are the same, the target already holds data, or a row
            cannot be stored in the target.
    """
    say = progress or (lambda _message: None)
    if database_url(source) == database_url(target):
        raise MigrateDataError("The source and the target are the same database.")
    source_db = open_database(source)
    try:
        target_db = open_database(target)
        try:
            return _migrate(source_db, target_db, say)
        finally:
            target_db.close()
    finally:
        source_db.close()


def _migrate(source_db: Database, target_db: Database, say: Callable[[str], None]) -> MigrateReport:
    source_name, target_name = source_db.info.display_name, target_db.info.display_name
    with target_db.reading() as session:
        filled = {name: count for name, count in _counts(session).items() if count}
    if filled:
        listed = ", ".join(f"{name} ({count})" for name, count in sorted(filled.items()))
        raise MigrateDataError(
            f"{target_name} already holds data ({listed}); the copy goes only into an empty "
            "database. Nothing was copied."
        )
    with source_db.reading() as source:
        source_counts = _counts(source)
        source_chain = verify_chain(source)
        try:
            with target_db.writing() as session:
                connection = session.connection()
                for table in _tables():
                    say(f"Copying {table.name} ({source_counts[table.name]} rows)")
                    _copy_table(source, connection, table)
                if connection.dialect.name == "postgresql":
                    _advance_sequences(connection)
        except (DBAPIError, StorageError) as exc:
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else "?"
            raise MigrateDataError(
                f"A row of {source_name} cannot be stored in {target_name}: {first_line}. "
                "Nothing was copied."
            ) from exc
    with target_db.reading() as session:
        target_counts = _counts(session)
        target_chain = verify_chain(session)
    tables = tuple(
        TableCount(table.name, source_counts[table.name], target_counts[table.name])
        for table in _tables()
    )
    return MigrateReport(source_name, target_name, tables, source_chain, target_chain)


def _copy_table(source: Session, target: Connection, table: Table) -> None:
    # Through the table's column types both ways, so datetimes, booleans and the rest arrive
    # as the target's own types; primary-key order keeps self-references (fills correcting
    # fills) pointing backwards.
    result = source.execute(select(table).order_by(*table.primary_key.columns)).yield_per(
        BATCH_ROWS
    )
    for rows in result.partitions():
        target.execute(table.insert(), [dict(row._mapping) for row in rows])


def _advance_sequences(connection: Connection) -> None:
    for table in _tables():
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            # setval(sequence, max, true): the next id is max + 1; an empty table starts at 1.
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column), "
                    f'COALESCE(MAX("{column.name}"), 1), MAX("{column.name}") IS NOT NULL) '
                    f'FROM "{table.name}"'
                ),
                {"table": table.name, "column": column.name},
            )
