"""Queries and lookups for implanted pumps, fills and exposures. Callers own the session."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, or_, select
from sqlalchemy.orm import Session

from pathway_app.domain.errors import NotFound
from pathway_app.storage.orm import Episode, Exposure, Fill, ImplantedPump, Milestone, Patient
from pathway_app.storage.repository import _patient_matches

# Refill worklist levels, most urgent first; the numbers are the SQL sort key.
LEVEL_URGENT = 0
LEVEL_OVERDUE = 1
LEVEL_DUE_SOON = 2
LEVEL_SCHEDULED = 3


def active_pump(session: Session, episode_id: int) -> ImplantedPump | None:
    """The pump currently implanted on the episode (not removed), if any."""
    query = select(ImplantedPump).where(
        ImplantedPump.episode_id == episode_id, ImplantedPump.removed_at.is_(None)
    )
    return session.scalars(query.order_by(ImplantedPump.implanted_at.desc())).first()


def get_fill(session: Session, fill_id: int) -> Fill:
    fill = session.get(Fill, fill_id)
    if fill is None:
        raise NotFound("That fill record no longer exists.")
    return fill


def current_fills(session: Session, pump_id: int) -> Sequence[Fill]:
    """The fills in force (corrected rows left out), oldest first."""
    query = select(Fill).where(Fill.pump_id == pump_id, Fill.superseded_by_id.is_(None))
    return session.scalars(query.order_by(Fill.filled_at, Fill.id)).all()


def all_fills(session: Session, pump_id: int) -> Sequence[Fill]:
    """Every fill row, corrected ones included, newest first: the history as recorded."""
    query = select(Fill).where(Fill.pump_id == pump_id)
    return session.scalars(query.order_by(Fill.filled_at.desc(), Fill.id.desc())).all()


def latest_fill(session: Session, pump_id: int) -> Fill | None:
    query = select(Fill).where(Fill.pump_id == pump_id, Fill.superseded_by_id.is_(None))
    return session.scalars(query.order_by(Fill.filled_at.desc(), Fill.id.desc())).first()


def fill_before(session: Session, pump_id: int, filled_at: datetime) -> Fill | None:
    """The fill in force that came just before ``filled_at``."""
    query = select(Fill).where(
        Fill.pump_id == pump_id, Fill.superseded_by_id.is_(None), Fill.filled_at < filled_at
    )
    return session.scalars(query.order_by(Fill.filled_at.desc(), Fill.id.desc())).first()


def exposures(session: Session, episode_id: int) -> Sequence[Exposure]:
    query = select(Exposure).where(Exposure.episode_id == episode_id)
    return session.scalars(query.order_by(Exposure.started_on.desc(), Exposure.id.desc())).all()


def has_exposure_since(
    session: Session, episode_id: int, since: date, kinds: Collection[str]
) -> bool:
    """True when an exposure of one of ``kinds`` is still going on, or ended, on or after
    ``since`` (planned future exposures count: they will speed the pump up)."""
    query = select(Exposure.id).where(
        Exposure.episode_id == episode_id,
        Exposure.kind.in_(list(kinds)),
        or_(Exposure.ended_on.is_(None), Exposure.ended_on >= since),
    )
    return session.scalars(query.limit(1)).first() is not None


def refill_level(now: datetime, today: date, due_within_days: int) -> Any:
    """SQL expression of the refill worklist level, from the denormalised pump columns only."""
    return case(
        (ImplantedPump.urgent_at <= now, LEVEL_URGENT),
        (ImplantedPump.refill_due_on < today, LEVEL_OVERDUE),
        (ImplantedPump.refill_due_on <= today + timedelta(days=due_within_days), LEVEL_DUE_SOON),
        else_=LEVEL_SCHEDULED,
    )


def refill_worklist_query(
    *, now: datetime, today: date, due_within_days: int, search: str = ""
) -> Select[Any]:
    """Every implanted pump of an open episode with a fill on record, most urgent first.

    Within a level, drugs whose withdrawal is dangerous come first, then the earliest due.
    """
    level = refill_level(now, today, due_within_days).label("level")
    query = (
        select(ImplantedPump, Patient, level)
        .join(Episode, ImplantedPump.episode_id == Episode.id)
        .join(Patient, Episode.patient_id == Patient.id)
        .where(
            ImplantedPump.removed_at.is_(None),
            ImplantedPump.refill_due_at.is_not(None),
            Episode.status == "open",
        )
    )
    if search.strip():
        query = query.where(_patient_matches(search))
    return query.order_by(
        level,
        ImplantedPump.dangerous_withdrawal.desc(),
        ImplantedPump.refill_due_at,
        Patient.family_name,
        ImplantedPump.id,
    )


def refill_worklist(
    session: Session, query: Select[Any]
) -> list[tuple[ImplantedPump, Patient, int]]:
    return [(row[0], row[1], int(row[2])) for row in session.execute(query)]


def milestone_by_key(session: Session, episode_id: int, key: str) -> Milestone | None:
    query = select(Milestone).where(Milestone.episode_id == episode_id, Milestone.key == key)
    return session.scalars(query).first()
