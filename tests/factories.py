"""Records the tests build again and again, made in one place."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from pathway_app.domain.refill_records import FillDraft


def morphine_fill(at: datetime, **changes: object) -> FillDraft:
    """A complete, valid fill: 20 mL of morphine 10 mg/mL, double-checked; `changes` override
    any field."""
    draft = FillDraft(
        filled_at=at,
        added_ml=20.0,
        drug_key="morphine",
        concentration=10.0,
        concentration_unit="mg/mL",
        operator="Nurse A",
        second_checker="Nurse B",
        lot="LOT-1",
        expiry_on=date(2027, 6, 1),
        needle="Non-coring refill needle",
        location_method="template",
    )
    return replace(draft, **changes)  # type: ignore[arg-type]
