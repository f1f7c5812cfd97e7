"""Issue 8: the worklists as CSV that opens cleanly in a spreadsheet.

UTF-8 (with a byte-order mark by default, so spreadsheets read accents right), ISO 8601 dates
and UTC times, one header row. Cells a spreadsheet would run as a formula are quoted with the
same rule as the audit export (`audit_log._cell`), not a copy of it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from pathway_app.services.audit_log import _cell as safe_cell
from pathway_app.services.refill_views import RefillWorklistRow
from pathway_app.services.views import WorklistRow

REFILL_COLUMNS = (
    "patient",
    "mrn",
    "level",
    "drug",
    "dangerous_withdrawal",
    "concentration",
    "concentration_unit",
    "daily_dose",
    "dose_unit",
    "pump",
    "last_fill_utc",
    "refill_due_utc",
    "refill_due_on",
    "empty_by_worst_case_utc",
    "unverified_inputs",
)

WORKLIST_COLUMNS = (
    "patient",
    "mrn",
    "indication",
    "stage",
    "next_action",
    "next_action_kind",
    "due_on",
    "status",
    "urgent",
    "red_flags",
    "open_complications",
    "complications",
    "closed",
)


def iso(value: date | datetime | None) -> str:
    """ISO 8601: a day as YYYY-MM-DD, a moment in UTC as YYYY-MM-DDTHH:MM:SSZ."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, bom: bool) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig" if bom else "utf-8")


def refill_worklist_csv(rows: Iterable[RefillWorklistRow], *, bom: bool = True) -> bytes:
    return _table(
        REFILL_COLUMNS,
        (
            (
                r.patient_name,
                r.mrn,
                r.level.value,
                r.drug_name,
                "yes" if r.dangerous_withdrawal else "no",
                _number(r.concentration),
                r.concentration_unit,
                _number(r.daily_dose),
                r.dose_unit,
                r.pump_name,
                iso(r.last_fill_at),
                iso(r.due_at),
                iso(r.due_on),
                iso(r.empty_by_worst_at),
                ";".join(r.unverified),
            )
            for r in rows
        ),
        bom=bom,
    )


def worklist_csv(rows: Iterable[WorklistRow], *, bom: bool = True) -> bytes:
    return _table(
        WORKLIST_COLUMNS,
        (
            (
                r.patient_name,
                r.mrn,
                r.indication,
                r.stage_name,
                r.next_action,
                r.next_action_kind,
                iso(r.next_due_on),
                r.status.value,
                "yes" if r.urgent else "no",
                r.urgent_summary,
                r.open_complications,
                r.complication_summary,
                "yes" if r.closed else "no",
            )
            for r in rows
        ),
        bom=bom,
    )
