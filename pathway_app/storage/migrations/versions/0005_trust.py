"""Users and the audit chain (issue 4): the users table, the hash-chain columns of
audit_entries (computed here for every existing entry, in id order, so an upgraded database
verifies), and triggers that make audit_entries append-only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pathway_app.storage.audit import GENESIS_HASH, entry_hash

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APPEND_ONLY_TRIGGERS = {
    "audit_entries_no_update": "UPDATE",
    "audit_entries_no_delete": "DELETE",
}
PG_GUARD_FUNCTION = "audit_entries_append_only"
PG_TRUNCATE_TRIGGER = "audit_entries_no_truncate"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("username_key", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username_key", name=op.f("uq_users_username_key")),
    )
    # Plain ADD COLUMN (no table copy): existing entries keep their ids and values.
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("hash", sa.String(length=64), nullable=False, server_default="")
        )

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, at, actor, action, entity, entity_id, patient_id, episode_id, detail "
            "FROM audit_entries ORDER BY id"
        )
    ).mappings()
    previous = GENESIS_HASH
    updates = []
    for row in rows:
        fields = {**row, "prev_hash": previous}
        previous = entry_hash(fields)
        updates.append({"id": row["id"], "prev_hash": fields["prev_hash"], "hash": previous})
    if updates:
        conn.execute(
            sa.text("UPDATE audit_entries SET prev_hash = :prev_hash, hash = :hash WHERE id = :id"),
            updates,
        )

    if conn.dialect.name == "sqlite":
        for name, event in APPEND_ONLY_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON audit_entries "
                "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END"
            )
    elif conn.dialect.name == "postgresql":
        # Issue 7: the same guard on PostgreSQL, where TRUNCATE (which fires no row trigger)
        # is refused as well.
        op.execute(
            f"CREATE FUNCTION {PG_GUARD_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit entries are append-only' "
            "USING ERRCODE = 'restrict_violation'; END $$"
        )
        for name, event in APPEND_ONLY_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON audit_entries "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_GUARD_FUNCTION}()"
            )
        op.execute(
            f"CREATE TRIGGER {PG_TRUNCATE_TRIGGER} BEFORE TRUNCATE ON audit_entries "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_GUARD_FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in APPEND_ONLY_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif op.get_bind().dialect.name == "postgresql":
        for name in (*APPEND_ONLY_TRIGGERS, PG_TRUNCATE_TRIGGER):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_entries")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_GUARD_FUNCTION}()")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    op.drop_table("users")
