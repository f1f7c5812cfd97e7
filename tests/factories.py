"""Records the tests build again and again, made in one place."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from pathway_app.domain.refill_records import FillDraft
from pathway_app.storage.orm import Episode, ImplantedPump, Patient


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


def episode_row(
    session: Any, now: datetime, mrn: str, family_name: str, given_name: str, *, closed: bool
) -> Episode:
    """A patient and a baclofen pump episode opened 400 days before `now`, written straight to
    the tables (flushed, so it has its id): the worklist tests build thousands of them."""
    patient = Patient(
        mrn=mrn,
        family_name=family_name,
        given_name=given_name,
        birth_date=date(1960, 1, 1),
        created_at=now - timedelta(days=400),
    )
    episode = Episode(
        patient=patient,
        template_key="constant-flow-pump",
        template_version=1,
        indication="spasticity",
        drug="baclofen",
        pump_model="m",
        planned_procedure_on=date(2025, 1, 1),
        surgeon="Dr",
        setting="hospital-or",
        status="closed" if closed else "open",
        opened_at=now - timedelta(days=400),
    )
    session.add(episode)
    session.flush()
    return episode


def pump_row(episode: Episode, now: datetime, serial: str, **fields: Any) -> ImplantedPump:
    """A 20-mL, 0.5 mL/day pump of `episode` implanted 300 days before `now`, written straight
    to the tables (not added to the session); `fields` set or override any column."""
    values: dict[str, Any] = {
        "episode_id": episode.id,
        "model_key": "m",
        "model_name": "Model",
        "serial": serial,
        "reservoir_ml": 20.0,
        "nominal_flow_ml_per_day": 0.5,
        "tolerance_pct": 15.0,
        "reserve_ml": 2.0,
        "implanted_at": now - timedelta(days=300),
        "recorded_at": now - timedelta(days=300),
        "recorded_by": "T",
        "drug_name": "Baclofen",
    }
    return ImplantedPump(**{**values, **fields})


def schedule_refill(
    pump: ImplantedPump,
    due_at: datetime,
    urgent_at: datetime | None,
    last_fill_before: timedelta = timedelta(days=60),
) -> None:
    """The worklist columns of a pump filled `last_fill_before` its refill, due at `due_at`."""
    pump.last_fill_at = due_at - last_fill_before
    pump.refill_due_at = due_at
    pump.refill_due_on = due_at.date()
    pump.empty_by_worst_at = due_at + timedelta(days=5)
    pump.urgent_at = urgent_at
