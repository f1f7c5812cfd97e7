"""Patient search that stays instant at 100,000 patients (issue 9).

Both worklists and the patient finder search "name or MRN" as a substring, case-insensitively
(``repository._patient_matches``). A ``LIKE '%text%'`` cannot use a B-tree index, so:

- SQLite: an FTS5 table ``patient_search`` with the trigram tokenizer over one text per
  patient (``search_text`` below), kept current by triggers on ``patients`` so every writer
  (the services, the bulk copy of the synthetic clinics) keeps it right. Its rowid is the
  patient id. Trigram folds case per Unicode ("öztürk" finds "Öztürk").
- PostgreSQL: a GIN index with ``gin_trgm_ops`` (pg_trgm) on the same text, which serves
  ``ILIKE '%text%'``. pg_trgm is a trusted extension (the database owner may create it); when
  the server does not have it the index is left out and search still works, only slower.

Also ``ix_episodes_worklist`` (status, urgent_since, attention_due_on, current_stage,
followup_due_on, patient_id): the pathway worklist reads its urgent, dated and undated parts in
order from it and counts them, with the stage, status and search filters, without reading the
episodes.

Existing patients are indexed here. Downgrade removes exactly what this adds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Must stay byte-identical to repository.SEARCH_TEXT_SQL (the PostgreSQL index is only used for
# a query whose expression matches the indexed one). char(10)/chr(10): a newline, which a
# search box cannot hold, so no match spans two parts.
SQLITE_TEXT = (
    "{p}.given_name || ' ' || {p}.family_name || char(10) || {p}.family_name || ', ' || "
    "{p}.given_name || char(10) || {p}.mrn"
)
POSTGRES_INDEX = "ix_patients_search_trgm"


def _postgres_text() -> str:
    return (
        "(given_name || ' ' || family_name || chr(10) || family_name || ', ' || given_name "
        "|| chr(10) || mrn)"
    )


WORKLIST_INDEX = "ix_episodes_worklist"
WORKLIST_COLUMNS = [
    "status",
    "urgent_since",
    "attention_due_on",
    "current_stage",
    "followup_due_on",
    "patient_id",
]


def upgrade() -> None:
    # The pathway worklist's order and filters from one index (repository._worklist_parts).
    op.create_index(WORKLIST_INDEX, "episodes", WORKLIST_COLUMNS)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE patient_search USING fts5(search_text, tokenize='trigram')"
        )
        op.execute(
            "INSERT INTO patient_search (rowid, search_text) "
            f"SELECT p.id, {SQLITE_TEXT.format(p='p')} FROM patients AS p"
        )
        op.execute(
            "CREATE TRIGGER patient_search_insert AFTER INSERT ON patients BEGIN "
            "INSERT INTO patient_search (rowid, search_text) "
            f"VALUES (new.id, {SQLITE_TEXT.format(p='new')}); END"
        )
        op.execute(
            "CREATE TRIGGER patient_search_update AFTER UPDATE OF id, mrn, family_name, "
            "given_name ON patients BEGIN "
            "DELETE FROM patient_search WHERE rowid = old.id; "
            "INSERT INTO patient_search (rowid, search_text) "
            f"VALUES (new.id, {SQLITE_TEXT.format(p='new')}); END"
        )
        op.execute(
            "CREATE TRIGGER patient_search_delete AFTER DELETE ON patients BEGIN "
            "DELETE FROM patient_search WHERE rowid = old.id; END"
        )
    elif bind.dialect.name == "postgresql":
        available = bind.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        ).first()
        if available is None:
            return
        # A savepoint: a role that may not create the extension must not abort the upgrade.
        try:
            with bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except sa.exc.DBAPIError:
            return
        op.execute(
            f"CREATE INDEX {POSTGRES_INDEX} ON patients USING gin ({_postgres_text()} gin_trgm_ops)"
        )


def downgrade() -> None:
    op.drop_index(WORKLIST_INDEX, table_name="episodes")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("patient_search_insert", "patient_search_update", "patient_search_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS patient_search")
    elif bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {POSTGRES_INDEX}")
