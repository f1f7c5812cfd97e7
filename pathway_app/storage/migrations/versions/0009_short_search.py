"""One- and two-character patient searches, and three header sorts, that stay instant at
100,000 episodes (issue 9).

Migration 0008's trigram indexes serve three or more characters only, so a shorter search
scanned every patient. One or two characters now mean "a word of the name or the MRN starts
with them" (``repository._patient_id_matches``), which a word-prefix index serves:

- SQLite: an FTS5 table ``patient_search_words`` (unicode61 tokenizer, diacritics kept, so it
  folds case exactly as the trigram table does; ``prefix='1 2'`` stores every word's one- and
  two-character prefixes) over "Given Family MRN", kept current by triggers on ``patients``
  like 0008's. Its rowid is the patient id.
- PostgreSQL: a GIN index on the ``simple`` text-search vector of the same text with every run
  of characters that are not letters or digits made a space (so the words are the same as
  SQLite's), which serves a ``'ga':*`` prefix query. Built in, no extension needed.

Also three indexes on episodes, (status, indication, id), (status, current_stage, id) and
(status, next_action, id): the pathway worklist's header sorts by those columns read the open
episodes in order and stop after the page (a few ms at 100,000 episodes, not 100-600 ms of
sorting every open episode for each page).

Existing patients are indexed here. Downgrade removes exactly what this adds.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "patient_search_words"
TRIGGERS = (
    "patient_search_words_insert",
    "patient_search_words_update",
    "patient_search_words_delete",
)
# Must stay the same as repository._words_text / _words_vector (PostgreSQL uses the index
# only for a query whose expression equals the indexed one).
SQLITE_TEXT = "{p}.given_name || ' ' || {p}.family_name || ' ' || {p}.mrn"
POSTGRES_INDEX = "ix_patients_search_words"
POSTGRES_VECTOR = (
    "to_tsvector('simple', regexp_replace(given_name || ' ' || family_name || ' ' || mrn, "
    "'[^[:alnum:]]+', ' ', 'g'))"
)
# ix_episodes_status_<column> on (status, <column>, id): one per header sort.
SORT_COLUMNS = ("indication", "current_stage", "next_action")


def upgrade() -> None:
    for column in SORT_COLUMNS:
        op.create_index(f"ix_episodes_status_{column}", "episodes", ["status", column, "id"])
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # detail=none: only single-word prefix queries are asked, which need no positions.
        op.execute(
            f"CREATE VIRTUAL TABLE {TABLE} USING fts5(words, "
            "tokenize='unicode61 remove_diacritics 0', prefix='1 2', detail=none)"
        )
        op.execute(
            f"INSERT INTO {TABLE} (rowid, words) "
            f"SELECT p.id, {SQLITE_TEXT.format(p='p')} FROM patients AS p"
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON patients BEGIN "
            f"INSERT INTO {TABLE} (rowid, words) VALUES (new.id, {SQLITE_TEXT.format(p='new')}); "
            "END"
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGERS[1]} AFTER UPDATE OF id, mrn, family_name, given_name "
            f"ON patients BEGIN DELETE FROM {TABLE} WHERE rowid = old.id; "
            f"INSERT INTO {TABLE} (rowid, words) VALUES (new.id, {SQLITE_TEXT.format(p='new')}); "
            "END"
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGERS[2]} AFTER DELETE ON patients BEGIN "
            f"DELETE FROM {TABLE} WHERE rowid = old.id; END"
        )
    elif bind.dialect.name == "postgresql":
        op.execute(f"CREATE INDEX {POSTGRES_INDEX} ON patients USING gin ({POSTGRES_VECTOR})")


def downgrade() -> None:
    for column in SORT_COLUMNS:
        op.drop_index(f"ix_episodes_status_{column}", table_name="episodes")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute(f"DROP TABLE IF EXISTS {TABLE}")
    elif bind.dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {POSTGRES_INDEX}")
