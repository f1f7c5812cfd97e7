"""The audit view: entries filtered by patient, user and date, and their CSV export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pathway_app.domain.users import Permission
from pathway_app.services.context import ServiceContext
from pathway_app.storage import repository as repo
from pathway_app.storage.audit import ChainReport, verify_chain
from pathway_app.storage.orm import AuditEntry, Patient

DEFAULT_LIMIT = 5000
CSV_COLUMNS = (
    "id",
    "at_utc",
    "user",
    "action",
    "record",
    "record_id",
    "patient_mrn",
    "patient",
    "episode_id",
    "changes",
    "old",
    "new",
    "hash",
)
# Characters a spreadsheet reads as the start of a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int
    patient_id: int | None
    patient_name: str
    mrn: str
    episode_id: int | None
    old: dict[str, Any]
    new: dict[str, Any]
    hash: str

    @property
    def changes(self) -> str:
        """ "field: old → new" for each field that differs, one per line."""
        lines = []
        for key in sorted(set(self.old) | set(self.new)):
            before, after = self.old.get(key), self.new.get(key)
            if before == after:
                continue
            lines.append(f"{key}: {_text(before)} → {_text(after)}")
        return "\n".join(lines)


def _text(value: object) -> str:
    if value is None or value == "":
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parse(detail: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = json.loads(detail)
        return dict(data.get("old") or {}), dict(data.get("new") or {})
    except (ValueError, AttributeError, TypeError):
        return {}, {"detail": detail}


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()


def audit_rows(
    ctx: ServiceContext,
    *,
    patient_id: int | None = None,
    actor: str | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[AuditRow]:
    """Entries newest first; `since`/`until` are local calendar days, both included."""
    query: Any = (
        select(AuditEntry, Patient.family_name, Patient.given_name, Patient.mrn)
        .outerjoin(Patient, AuditEntry.patient_id == Patient.id)
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if patient_id is not None:
        query = query.where(AuditEntry.patient_id == patient_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if since is not None:
        query = query.where(AuditEntry.at >= _local_midnight(since))
    if until is not None:
        query = query.where(AuditEntry.at < _local_midnight(until + timedelta(days=1)))
    with ctx.db.reading() as session:
        rows = []
        for entry, family, given, mrn in session.execute(query):
            old, new = _parse(entry.detail)
            rows.append(
                AuditRow(
                    id=entry.id,
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    entity=entry.entity,
                    entity_id=entry.entity_id,
                    patient_id=entry.patient_id,
                    patient_name=f"{family}, {given}" if family is not None else "",
                    mrn=mrn or "",
                    episode_id=entry.episode_id,
                    old=old,
                    new=new,
                    hash=entry.hash,
                )
            )
        return rows


def audit_actors(ctx: ServiceContext) -> list[str]:
    """Everyone who appears in the audit trail, for the user filter."""
    with ctx.db.reading() as session:
        return sorted(session.scalars(select(AuditEntry.actor).distinct()).all(), key=str.casefold)


def verify(ctx: ServiceContext) -> ChainReport:
    with ctx.db.reading() as session:
        return verify_chain(session)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A leading quote keeps a spreadsheet from running text as a formula (CSV injection).
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(rows: Iterable[AuditRow], target: Path) -> int:
    """Write rows as UTF-8 CSV (with a byte-order mark so spreadsheets read accents right),
    times in ISO 8601 UTC; the file is created owner-only. Returns the number of rows."""
    count = 0
    fd = target.open("w", encoding="utf-8-sig", newline="")
    try:
        target.chmod(0o600)
        writer = csv.writer(fd)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    _cell(v)
                    for v in (
                        row.id,
                        row.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        row.actor,
                        row.action,
                        row.entity,
                        row.entity_id,
                        row.mrn,
                        row.patient_name,
                        row.episode_id if row.episode_id is not None else "",
                        row.changes,
                        json.dumps(row.old, ensure_ascii=False, sort_keys=True),
                        json.dumps(row.new, ensure_ascii=False, sort_keys=True),
                        row.hash,
                    )
                ]
            )
            count += 1
    finally:
        fd.close()
    return count


def export_csv(ctx: ServiceContext, rows: list[AuditRow], target: Path) -> int:
    """Write the rows shown and record the export (patient data left the app) in the trail."""
    count = write_csv(rows, target)
    with ctx.db.writing(Permission.OWN_ACCOUNT.value) as session:
        repo.add_audit(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action="audit.exported",
            entity="audit",
            entity_id=0,
            new={"rows": count, "file": target.name},
        )
    return count


def audit_patients(ctx: ServiceContext) -> list[tuple[int, str]]:
    """(patient id, "Family, Given (MRN)") of every patient, for the patient filter."""
    query = select(Patient.id, Patient.family_name, Patient.given_name, Patient.mrn).order_by(
        Patient.family_name, Patient.given_name, Patient.mrn
    )
    with ctx.db.reading() as session:
        return [(pid, f"{fam}, {giv} ({mrn})") for pid, fam, giv, mrn in session.execute(query)]
