"""The audit trail's hash chain, computed in this one place.

Every entry stores ``prev_hash`` (the previous entry's ``hash``; 64 zeros for the first) and
``hash`` = SHA-256 of a canonical JSON of all its columns and ``prev_hash``. Changing, removing
or inserting an entry outside the app breaks the chain at that entry, and `verify_chain`
reports the first broken link. (Someone who rewrites the whole chain from the first changed
entry onwards is not detected by the chain alone; keep backups, which hold the old chain.)

Entries are appended inside the caller's write transaction (SQLite ``BEGIN IMMEDIATE``, so two
windows never read the same "previous" entry), and SQLite triggers created by migration 0005
refuse UPDATE and DELETE on the table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pathway_app.storage.orm import AuditEntry

GENESIS_HASH = "0" * 64
_TAIL_KEY = "audit_chain_tail"
# Every column of an entry except ``hash`` itself, in a fixed order. A new column on
# audit_entries must be added here (tests/storage/test_audit_chain.py checks it).
HASHED_COLUMNS = (
    "id",
    "at",
    "actor",
    "action",
    "entity",
    "entity_id",
    "patient_id",
    "episode_id",
    "detail",
    "prev_hash",
)


def canonical_time(value: datetime | str) -> str:
    """The stored instant as text: UTC, microseconds, 'Z'. Accepts what SQLite returns."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry's columns (see `HASHED_COLUMNS`)."""
    payload = {name: fields[name] for name in HASHED_COLUMNS}
    payload["at"] = canonical_time(payload["at"])
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int,
    patient_id: int | None,
    episode_id: int | None,
    detail: str,
) -> AuditEntry:
    """Add the next entry of the chain to the caller's transaction.

    The chain's tail is read once per transaction and then kept in ``session.info``: the write
    lock (BEGIN IMMEDIATE) keeps other windows from appending meanwhile, and every entry of the
    app goes through here.
    """
    tail = session.info.get(_TAIL_KEY)
    if tail is None:
        last = session.execute(
            select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
        ).first()
        tail = (last[0], last[1]) if last else (0, GENESIS_HASH)
    fields: dict[str, Any] = {
        "id": tail[0] + 1,
        "at": at,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "patient_id": patient_id,
        "episode_id": episode_id,
        "detail": detail,
        "prev_hash": tail[1],
    }
    entry = AuditEntry(**fields, hash=entry_hash(fields))
    session.add(entry)
    session.info[_TAIL_KEY] = (entry.id, entry.hash)
    return entry


@dataclass(frozen=True)
class ChainReport:
    """Attributes:
    ok: the whole chain verifies.
    checked: entries read.
    first_broken_id: the id of the first entry that does not verify (None when ok).
    problem: what is wrong with it, in words.
    """

    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str = ""


def check_rows(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Verify entries given in id order, each a mapping with the hashed columns and ``hash``."""
    previous = GENESIS_HASH
    checked = 0
    for row in rows:
        checked += 1
        if row["prev_hash"] != previous:
            problem = (
                "the entry before it was changed or removed"
                if checked > 1
                else "the first entry is not the start of the chain (entries were removed)"
            )
            return ChainReport(False, checked, row["id"], problem)
        if entry_hash(row) != row["hash"]:
            return ChainReport(False, checked, row["id"], "the entry was changed")
        previous = row["hash"]
    return ChainReport(True, checked)


def verify_chain(session: Session) -> ChainReport:
    """Read the whole audit trail in id order and check every link."""
    columns = [getattr(AuditEntry, name) for name in (*HASHED_COLUMNS, "hash")]
    result = session.execute(select(*columns).order_by(AuditEntry.id)).yield_per(2000)
    return check_rows(dict(row._mapping) for row in result)
