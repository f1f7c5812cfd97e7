"""A refill worklist that stays instant at 100,000 episodes (issue 9).

The worklist's levels (urgent, overdue, due soon, scheduled) were a ``CASE`` on the clock, which
no index can serve, and every row needed its episode and patient read to be filtered (closed
episodes left out) and ordered (ties broken by the patient's name). Now:

- ``implanted_pumps.episode_open`` copies "the episode is open" and
  ``implanted_pumps.patient_family_name`` copies the patient's family name onto the pump. The
  database keeps them equal to ``episodes.status = 'open'`` and ``patients.family_name`` with
  triggers (an episode's status or a patient's name changing, a pump being inserted by any
  writer: the services or the bulk copy of the synthetic clinics), so no service has to
  remember them.
- ``ix_implanted_pumps_refill_worklist`` (open, not removed, dangerous flag, due day, due time,
  family name, id, urgent time) holds overdue / due soon / scheduled as index ranges already in
  the worklist's order within a level; a page and the counts are read from the index alone.
- ``ix_implanted_pumps_refill_urgent`` (open, not removed, urgent time, dangerous flag, then the
  order) holds the urgent level and its count.
- The two indexes they replace (removed_at + urgent_at / refill_due_at) are dropped.

Existing rows are brought up to date here. Downgrade removes exactly what this adds and
restores the two old indexes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "implanted_pumps"
ORDER_COLUMNS = ["refill_due_on", "refill_due_at", "patient_family_name", "id"]
WORKLIST_INDEX = "ix_implanted_pumps_refill_worklist"
WORKLIST_COLUMNS = [
    "episode_open",
    "removed_at",
    "dangerous_withdrawal",
    *ORDER_COLUMNS,
    "urgent_at",
]
URGENT_INDEX = "ix_implanted_pumps_refill_urgent"
URGENT_COLUMNS = ["episode_open", "removed_at", "urgent_at", "dangerous_withdrawal", *ORDER_COLUMNS]
OLD_INDEXES = {
    "ix_implanted_pumps_removed_at_urgent_at": ["removed_at", "urgent_at"],
    "ix_implanted_pumps_removed_at_refill_due_at": ["removed_at", "refill_due_at"],
}
# Trigger names (both back ends); PostgreSQL runs each through a function of the same name.
STATUS_TRIGGER = "implanted_pumps_follow_episode_status"
NAME_TRIGGER = "implanted_pumps_follow_patient_name"
INSERT_TRIGGER = "implanted_pumps_copy_episode_and_patient"
TRIGGER_TABLES = {STATUS_TRIGGER: "episodes", NAME_TRIGGER: "patients", INSERT_TRIGGER: TABLE}

# The episode's status and the patient's family name of the pump's episode, as SQL on ``{e}``
# (an expression giving the episode id).
_OPEN_OF = "(SELECT episodes.status = 'open' FROM episodes WHERE episodes.id = {e})"
_NAME_OF = (
    "(SELECT patients.family_name FROM episodes JOIN patients "
    "ON patients.id = episodes.patient_id WHERE episodes.id = {e})"
)
_PUMPS_OF_PATIENT = "episode_id IN (SELECT id FROM episodes WHERE patient_id = NEW.id)"


def upgrade() -> None:
    bind = op.get_bind()
    # Plain ALTER TABLE, not batch mode: SQLite adds (and, on downgrade, drops) the columns in
    # place. A batch would copy the table, which the fills' foreign keys refuse.
    op.add_column(
        TABLE, sa.Column("episode_open", sa.Boolean(), nullable=False, server_default=sa.true())
    )
    op.add_column(
        TABLE,
        sa.Column("patient_family_name", sa.String(length=100), nullable=False, server_default=""),
    )
    pump_episode = f"{TABLE}.episode_id"
    op.execute(
        f"UPDATE {TABLE} SET episode_open = coalesce({_OPEN_OF.format(e=pump_episode)}, false), "
        f"patient_family_name = coalesce({_NAME_OF.format(e=pump_episode)}, '')"
    )
    for name in OLD_INDEXES:
        op.drop_index(name, table_name=TABLE)
    op.create_index(WORKLIST_INDEX, TABLE, WORKLIST_COLUMNS, unique=False)
    op.create_index(URGENT_INDEX, TABLE, URGENT_COLUMNS, unique=False)
    if bind.dialect.name == "sqlite":
        _sqlite_triggers()
    elif bind.dialect.name == "postgresql":
        _postgresql_triggers()


def _sqlite_triggers() -> None:
    op.execute(
        f"CREATE TRIGGER {STATUS_TRIGGER} AFTER UPDATE OF status ON episodes "
        f"WHEN OLD.status IS NOT NEW.status BEGIN UPDATE {TABLE} "
        "SET episode_open = (NEW.status = 'open') WHERE episode_id = NEW.id; END"
    )
    op.execute(
        f"CREATE TRIGGER {NAME_TRIGGER} AFTER UPDATE OF family_name ON patients "
        f"WHEN OLD.family_name IS NOT NEW.family_name BEGIN UPDATE {TABLE} "
        f"SET patient_family_name = NEW.family_name WHERE {_PUMPS_OF_PATIENT}; END"
    )
    op.execute(
        f"CREATE TRIGGER {INSERT_TRIGGER} AFTER INSERT ON {TABLE} BEGIN UPDATE {TABLE} "
        f"SET episode_open = coalesce({_OPEN_OF.format(e='NEW.episode_id')}, 0), "
        f"patient_family_name = coalesce({_NAME_OF.format(e='NEW.episode_id')}, '') "
        "WHERE id = NEW.id; END"
    )


def _postgresql_triggers() -> None:
    functions = {
        STATUS_TRIGGER: f"UPDATE {TABLE} SET episode_open = (NEW.status = 'open') "
        "WHERE episode_id = NEW.id; RETURN NULL;",
        NAME_TRIGGER: f"UPDATE {TABLE} SET patient_family_name = NEW.family_name "
        f"WHERE {_PUMPS_OF_PATIENT}; RETURN NULL;",
        INSERT_TRIGGER: f"NEW.episode_open := coalesce({_OPEN_OF.format(e='NEW.episode_id')}, "
        f"false); NEW.patient_family_name := coalesce("
        f"{_NAME_OF.format(e='NEW.episode_id')}, ''); RETURN NEW;",
    }
    for name, body in functions.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} END $$"
        )
    op.execute(
        f"CREATE TRIGGER {STATUS_TRIGGER} AFTER UPDATE OF status ON episodes FOR EACH ROW "
        f"WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION {STATUS_TRIGGER}()"
    )
    op.execute(
        f"CREATE TRIGGER {NAME_TRIGGER} AFTER UPDATE OF family_name ON patients FOR EACH ROW "
        f"WHEN (OLD.family_name IS DISTINCT FROM NEW.family_name) "
        f"EXECUTE FUNCTION {NAME_TRIGGER}()"
    )
    op.execute(
        f"CREATE TRIGGER {INSERT_TRIGGER} BEFORE INSERT ON {TABLE} FOR EACH ROW "
        f"EXECUTE FUNCTION {INSERT_TRIGGER}()"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table in TRIGGER_TABLES.items():
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index(URGENT_INDEX, table_name=TABLE)
    op.drop_index(WORKLIST_INDEX, table_name=TABLE)
    for name, columns in OLD_INDEXES.items():
        op.create_index(name, TABLE, columns, unique=False)
    op.drop_column(TABLE, "patient_family_name")
    op.drop_column(TABLE, "episode_open")
