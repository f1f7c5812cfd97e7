"""Bulk copy of a small clinic into a large one (the synthetic clinic generator, issue 9).

A clinic made through the services (every row consistent with the domain rules) is copied
many times into another database with plain ``executemany`` in one transaction: every
patient-owned row gets its ids shifted per copy (foreign keys follow), the patient gets a new
MRN and name, and the audit entries are re-chained in id order with `audit.entry_hash`, so
`verify_chain` passes on the result. Tables that belong to no patient (users) are copied once.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pathway_app.storage import audit
from pathway_app.storage.orm import Base

# Audit ``entity`` names whose ``entity_id`` is a row of a copied table.
_ENTITY_TABLES = {
    "patient": "patients",
    "episode": "episodes",
    "milestone": "milestones",
    "pump": "implanted_pumps",
    "fill": "fills",
    "exposure": "exposures",
}
AUDIT_TABLE = "audit_entries"


@dataclass(frozen=True)
class NewPatient:
    mrn: str
    family_name: str
    given_name: str


@dataclass
class _Table:
    name: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    max_id: int
    # column index -> referred table name (only tables that are copied per patient)
    shifted: dict[int, str]
    episode_col: int | None
    patient_col: int | None


def _read(source: sqlite3.Connection, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor = source.execute(f'SELECT * FROM "{name}" ORDER BY id')
    columns = [d[0] for d in cursor.description]
    return columns, cursor.fetchall()


def copy_clinic(
    source_path: str,
    target_path: str,
    *,
    episodes: int,
    new_patient: Callable[[int], NewPatient],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Copy the patients of ``source_path`` (one open episode each, patient id = episode id)
    into the empty clinic at ``target_path`` until it holds ``episodes`` episodes.

    ``new_patient(n)`` names the n-th patient written (0-based). Returns the audit entries
    written.
    """
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(target_path, isolation_level=None)
    try:
        return _copy(source, target, episodes, new_patient, progress)
    finally:
        source.close()
        target.close()


def _copy(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    episodes: int,
    new_patient: Callable[[int], NewPatient],
    progress: Callable[[int], None] | None,
) -> int:
    ordered = list(Base.metadata.sorted_tables)
    owned: set[str] = {"patients"}
    for table in ordered:
        names = {c.name for c in table.columns}
        if "episode_id" in names or "patient_id" in names:
            owned.add(table.name)
    tables: dict[str, _Table] = {}
    for table in ordered:
        columns, rows = _read(source, table.name)
        shifted = {
            columns.index(fk.parent.name): fk.column.table.name
            for fk in table.foreign_keys
            if fk.column.table.name in owned
        }
        tables[table.name] = _Table(
            name=table.name,
            columns=columns,
            rows=rows,
            max_id=max((r[0] for r in rows), default=0),
            shifted=shifted,
            episode_col=columns.index("episode_id") if "episode_id" in columns else None,
            patient_col=columns.index("patient_id") if "patient_id" in columns else None,
        )
    prototypes = tables["episodes"].max_id
    if prototypes == 0:
        raise ValueError("the source clinic has no episodes")
    # A new file filled in one go: no journal (a WAL would hold the whole clinic twice until the
    # checkpoint); the caller deletes the file if anything fails. WAL is set back at the end.
    target.execute("PRAGMA journal_mode = OFF")
    target.execute("PRAGMA synchronous = OFF")
    target.execute("BEGIN IMMEDIATE")
    try:
        existing = target.execute("SELECT count(*) FROM episodes").fetchone()[0]
        if existing:
            raise ValueError("the target database already holds episodes")
        # Secondary indexes are built once at the end: faster than keeping them during the load.
        indexes = target.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        for name, _sql in indexes:
            target.execute(f'DROP INDEX "{name}"')
        for table in ordered:
            if table.name not in owned:
                _insert(target, tables[table.name], tables[table.name].rows)
        written = 0
        copy = 0
        audit_state = [0, audit.GENESIS_HASH]
        while written < episodes:
            keep = min(prototypes, episodes - written)
            _copy_once(
                target, tables, ordered, owned, copy, keep, written, new_patient, audit_state
            )
            written += keep
            copy += 1
            if progress is not None:
                progress(written)
        for _name, sql in indexes:
            target.execute(sql)
        target.execute("COMMIT")
    except BaseException:
        target.execute("ROLLBACK")
        raise
    target.execute("PRAGMA journal_mode = WAL")
    target.execute("PRAGMA optimize")
    return audit_state[0]  # type: ignore[return-value]


def _insert(target: sqlite3.Connection, table: _Table, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    names = ", ".join(f'"{c}"' for c in table.columns)
    marks = ", ".join("?" for _ in table.columns)
    target.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)


def _copy_once(
    target: sqlite3.Connection,
    tables: dict[str, _Table],
    ordered: list[Any],
    owned: set[str],
    copy: int,
    keep: int,
    first_patient: int,
    new_patient: Callable[[int], NewPatient],
    audit_state: list[Any],
) -> None:
    offsets = {name: copy * tables[name].max_id for name in owned}
    for table_def in ordered:
        name = table_def.name
        if name not in owned or name == AUDIT_TABLE:
            continue
        table = tables[name]
        out: list[tuple[Any, ...]] = []
        full = keep >= tables["episodes"].max_id
        for row in table.rows:
            if not full and not _kept(table, row, keep):
                continue
            values = list(row)
            values[0] += offsets[name]
            for index, referred in table.shifted.items():
                if values[index] is not None:
                    values[index] += offsets[referred]
            if name == "patients":
                person = new_patient(first_patient + row[0] - 1)
                values[table.columns.index("mrn")] = person.mrn
                values[table.columns.index("family_name")] = person.family_name
                values[table.columns.index("given_name")] = person.given_name
            out.append(tuple(values))
        _insert(target, table, out)
    _copy_audit(target, tables, offsets, copy, keep, first_patient, new_patient, audit_state)


def _kept(table: _Table, row: tuple[Any, ...], keep: int) -> bool:
    if table.name in ("patients", "episodes"):
        return bool(row[0] <= keep)
    for col in (table.episode_col, table.patient_col):
        if col is not None and row[col] is not None and row[col] > keep:
            return False
    return True


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _audit_head(fields: dict[str, Any]) -> str:
    """The canonical JSON of `audit.entry_hash` up to ``entity_id`` (keys sorted), for the
    columns a copy does not change."""
    return (
        '{"action":'
        + _dumps(fields["action"])
        + ',"actor":'
        + _dumps(fields["actor"])
        + ',"at":'
        + _dumps(audit.canonical_time(fields["at"]))
        + ',"detail":'
        + _dumps(fields["detail"])
        + ',"entity":'
        + _dumps(fields["entity"])
        + ',"entity_id":'
    )


def _number(value: int | None) -> str:
    return "null" if value is None else str(value)


def _copy_audit(
    target: sqlite3.Connection,
    tables: dict[str, _Table],
    offsets: dict[str, int],
    copy: int,
    keep: int,
    first_patient: int,
    new_patient: Callable[[int], NewPatient],
    audit_state: list[Any],
) -> None:
    """Copy the audit entries, chained after the previous copy's. The hash is
    `audit.entry_hash` of the entry, built from precomputed text (same bytes; the tests verify
    the chain with `audit.verify_chain`)."""
    table = tables[AUDIT_TABLE]
    columns = table.columns
    heads = tables.setdefault("_audit_heads", _Table("", [], [], 0, {}, None, None))
    if not heads.rows:
        heads.rows = [(_audit_head(dict(zip(columns, row, strict=True))),) for row in table.rows]
    out: list[tuple[Any, ...]] = []
    last_id, previous = audit_state
    patient_offset, episode_offset = offsets["patients"], offsets["episodes"]
    full = keep >= tables["episodes"].max_id
    col = {name: columns.index(name) for name in columns}
    for row, (head,) in zip(table.rows, heads.rows, strict=True):
        if not full and not _kept(table, row, keep):
            continue
        fields = dict(zip(columns, row, strict=True))
        last_id += 1
        fields["id"] = last_id
        if fields["patient_id"] is not None:
            fields["patient_id"] += patient_offset
        if fields["episode_id"] is not None:
            fields["episode_id"] += episode_offset
        entity_table = _ENTITY_TABLES.get(fields["entity"])
        if entity_table is not None and entity_table in offsets:
            fields["entity_id"] += offsets[entity_table]
        if fields["action"] == "patient.registered" and row[col["patient_id"]] is not None:
            person = new_patient(first_patient + row[col["patient_id"]] - 1)
            detail = json.loads(fields["detail"])
            detail["new"].update(
                mrn=person.mrn, family_name=person.family_name, given_name=person.given_name
            )
            fields["detail"] = json.dumps(detail, default=str, ensure_ascii=False)
            head = _audit_head(fields)
        fields["prev_hash"] = previous
        text = (
            head
            + str(fields["entity_id"])
            + ',"episode_id":'
            + _number(fields["episode_id"])
            + ',"id":'
            + str(last_id)
            + ',"patient_id":'
            + _number(fields["patient_id"])
            + ',"prev_hash":"'
            + previous
            + '"}'
        )
        previous = hashlib.sha256(text.encode("utf-8")).hexdigest()
        fields["hash"] = previous
        out.append(tuple(fields[c] for c in columns))
    audit_state[0], audit_state[1] = last_id, previous
    _insert(target, table, out)
