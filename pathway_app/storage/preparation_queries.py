"""Queries and lookups for preparation and procedure records. Callers own the session."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from pathway_app.domain.errors import NotFound
from pathway_app.storage.orm import Milestone
from pathway_app.storage.orm_preparation import (
    IntakeRecord,
    MedicationRecord,
    PreopTestRecord,
    PreparationRecord,
    ProcedureEvent,
    ProcedureRecord,
    ReadinessOverride,
)


def preparation(session: Session, episode_id: int) -> PreparationRecord | None:
    query = select(PreparationRecord).where(PreparationRecord.episode_id == episode_id)
    return session.scalars(query).first()


def tests(session: Session, episode_id: int) -> Sequence[PreopTestRecord]:
    query = select(PreopTestRecord).where(PreopTestRecord.episode_id == episode_id)
    return session.scalars(query.order_by(PreopTestRecord.id)).all()


def test(session: Session, episode_id: int, key: str) -> PreopTestRecord | None:
    query = select(PreopTestRecord).where(
        PreopTestRecord.episode_id == episode_id, PreopTestRecord.key == key
    )
    return session.scalars(query).first()


def medications(session: Session, episode_id: int) -> Sequence[MedicationRecord]:
    query = select(MedicationRecord).where(MedicationRecord.episode_id == episode_id)
    return session.scalars(query.order_by(MedicationRecord.id)).all()


def get_medication(session: Session, medication_id: int) -> MedicationRecord:
    row = session.get(MedicationRecord, medication_id)
    if row is None:
        raise NotFound("That medication is no longer on the list.")
    return row


def intakes(session: Session, episode_id: int) -> Sequence[IntakeRecord]:
    query = select(IntakeRecord).where(IntakeRecord.episode_id == episode_id)
    return session.scalars(query.order_by(IntakeRecord.id)).all()


def overrides(session: Session, episode_id: int) -> Sequence[ReadinessOverride]:
    """Every override of the episode, newest first (the first is the one in force)."""
    query = select(ReadinessOverride).where(ReadinessOverride.episode_id == episode_id)
    return session.scalars(
        query.order_by(ReadinessOverride.at.desc(), ReadinessOverride.id.desc())
    ).all()


def current_override(session: Session, episode_id: int) -> ReadinessOverride | None:
    found = overrides(session, episode_id)
    return found[0] if found else None


def overridden_gate_keys(session: Session, episode_id: int) -> frozenset[str]:
    """Gate keys covered by the override in force (an override covers the gates it was given
    for, and only those)."""
    row = current_override(session, episode_id)
    if row is None:
        return frozenset()
    return frozenset(str(g["key"]) for g in json.loads(row.gates or "[]"))


def procedure(session: Session, episode_id: int) -> ProcedureRecord | None:
    query = select(ProcedureRecord).where(ProcedureRecord.episode_id == episode_id)
    return session.scalars(query).first()


def events(session: Session, episode_id: int) -> Sequence[ProcedureEvent]:
    query = select(ProcedureEvent).where(ProcedureEvent.episode_id == episode_id)
    return session.scalars(query.order_by(ProcedureEvent.at, ProcedureEvent.id)).all()


def stage_milestones(session: Session, episode_id: int, stage_key: str) -> Sequence[Milestone]:
    query = select(Milestone).where(
        Milestone.episode_id == episode_id, Milestone.stage_key == stage_key
    )
    return session.scalars(query.order_by(Milestone.position)).all()
