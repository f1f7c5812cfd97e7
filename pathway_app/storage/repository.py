"""Queries and writes the services need. Callers own the session and its transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from pathway_app.domain.errors import ConcurrentEdit, NotFound
from pathway_app.domain.progress import DueStatus
from pathway_app.storage import audit
from pathway_app.storage.orm import AuditEntry, Episode, Milestone, Patient


def add_audit(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: int,
    patient_id: int | None = None,
    episode_id: int | None = None,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry, chained to the previous one, in the caller's transaction."""
    detail = json.dumps({"old": old or {}, "new": new or {}}, default=str, ensure_ascii=False)
    audit.append(
        session,
        at=at,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        patient_id=patient_id,
        episode_id=episode_id,
        detail=detail,
    )


def patient_by_mrn(session: Session, mrn: str) -> Patient | None:
    return session.scalars(select(Patient).where(Patient.mrn == mrn)).first()


def get_patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("That patient no longer exists.")
    return patient


def get_episode(session: Session, episode_id: int) -> Episode:
    episode = session.get(Episode, episode_id)
    if episode is None:
        raise NotFound("That episode no longer exists.")
    return episode


def get_milestone(session: Session, milestone_id: int) -> Milestone:
    milestone = session.get(Milestone, milestone_id)
    if milestone is None:
        raise NotFound("That milestone no longer exists.")
    return milestone


def open_episode_of(session: Session, patient_id: int) -> Episode | None:
    query = select(Episode).where(Episode.patient_id == patient_id, Episode.status == "open")
    return session.scalars(query).first()


def search_patients(session: Session, text: str = "", limit: int = 200) -> Sequence[Patient]:
    query = select(Patient).order_by(Patient.family_name, Patient.given_name, Patient.mrn)
    if text.strip():
        query = query.where(_patient_matches(text))
    return session.scalars(query.limit(limit)).all()


def _like_pattern(text: str) -> str:
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _patient_matches(text: str) -> Any:
    pattern = _like_pattern(text)
    full_name = Patient.given_name + " " + Patient.family_name
    return or_(
        Patient.mrn.ilike(pattern, escape="\\"),
        Patient.family_name.ilike(pattern, escape="\\"),
        Patient.given_name.ilike(pattern, escape="\\"),
        full_name.ilike(pattern, escape="\\"),
        (Patient.family_name + ", " + Patient.given_name).ilike(pattern, escape="\\"),
    )


def worklist_query(
    *,
    today: date,
    due_soon_days: int,
    search: str = "",
    stage: str | None = None,
    status: DueStatus | None = None,
    include_closed: bool = False,
) -> Select[Any]:
    """Open episodes with their patient, most urgent first; filters run in SQL on indexes.

    Issue 6: rows sort and filter on ``attention_due_on`` (the earlier of the next milestone
    and the earliest follow-up item). An open episode with a missed follow-up item
    (``followup_due_on`` before today) or an unresolved red flag (``urgent_since``) is never
    hidden by the stage or status filter; urgent rows come first. ``include_closed`` adds the
    closed episodes (the "show closed" option), after the open ones.
    """
    # Typed loosely: the row type parameters of Select differ between SQLAlchemy 2.0 and 2.1.
    query: Any = select(Episode, Patient).join(Patient, Episode.patient_id == Patient.id)
    if not include_closed:
        query = query.where(Episode.status == "open")
    if search.strip():
        query = query.where(_patient_matches(search))
    due = Episode.attention_due_on
    always = and_(
        Episode.status == "open",
        or_(Episode.followup_due_on < today, Episode.urgent_since.is_not(None)),
    )
    if stage:
        query = query.where(or_(Episode.current_stage == stage, always))
    soon = today + timedelta(days=due_soon_days)
    condition: Any = None
    if status is DueStatus.OVERDUE:
        condition = due < today
    elif status is DueStatus.DUE_SOON:
        condition = and_(due >= today, due <= soon)
    elif status is DueStatus.ON_TRACK:
        condition = due > soon
    elif status is DueStatus.NO_DATE:
        condition = due.is_(None)
    if condition is not None:
        query = query.where(or_(condition, always))
    return query.order_by(
        Episode.status != "open",
        Episode.urgent_since.is_(None),
        due.is_(None),
        due,
        Patient.family_name,
        Episode.id,
    )


def worklist(session: Session, query: Select[Any]) -> list[tuple[Episode, Patient]]:
    rows: Any = session.execute(query)
    return [(row[0], row[1]) for row in rows]


def episode_with_milestones(session: Session, episode_id: int) -> Episode:
    query = (
        select(Episode)
        .options(joinedload(Episode.milestones), joinedload(Episode.patient))
        .where(Episode.id == episode_id)
    )
    episode = session.scalars(query).unique().first()
    if episode is None:
        raise NotFound("That episode no longer exists.")
    return episode


def episode_history(session: Session, episode_id: int) -> Sequence[AuditEntry]:
    query = (
        select(AuditEntry)
        .where(AuditEntry.episode_id == episode_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    return session.scalars(query).all()


def count_open_episodes(session: Session) -> int:
    return session.scalar(select(func.count()).where(Episode.status == "open")) or 0


def check_version(current: int, expected: int | None) -> None:
    """Optimistic concurrency: the record must still be the version the user saw.

    Raises:
        ConcurrentEdit: someone changed it meanwhile; nothing is written.
    """
    if expected is not None and current != expected:
        raise ConcurrentEdit(
            "Someone else changed this record while you were looking at it. Nothing was "
            "overwritten; refresh to see their change and try again."
        )
