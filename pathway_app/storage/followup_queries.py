"""Queries for the hospital stay, complications, red flags, follow-up items and closures.
Callers own the session and its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pathway_app.domain.errors import NotFound
from pathway_app.storage.orm import Episode, Milestone
from pathway_app.storage.orm_followup import (
    ComplicationEntry,
    DischargeCheck,
    EpisodeClosure,
    FollowUpEntry,
    HospitalStay,
    MonitoringNote,
    RedFlagReport,
)

# Statuses that keep an item on the worklist: still to be done, or missed and not resolved.
ATTENTION_STATUSES = ("planned", "booked", "missed")
OPEN_STATUSES = ("planned", "booked")


def stay_of(session: Session, episode_id: int) -> HospitalStay | None:
    query = select(HospitalStay).where(HospitalStay.episode_id == episode_id)
    return session.scalars(query).first()


def discharge_checks(session: Session, episode_id: int) -> Sequence[DischargeCheck]:
    query = select(DischargeCheck).where(DischargeCheck.episode_id == episode_id)
    return session.scalars(query.order_by(DischargeCheck.id)).all()


def monitoring_notes(session: Session, episode_id: int) -> Sequence[MonitoringNote]:
    query = select(MonitoringNote).where(MonitoringNote.episode_id == episode_id)
    return session.scalars(query.order_by(MonitoringNote.at.desc(), MonitoringNote.id.desc())).all()


def complications(session: Session, episode_id: int) -> Sequence[ComplicationEntry]:
    query = select(ComplicationEntry).where(ComplicationEntry.episode_id == episode_id)
    return session.scalars(
        query.order_by(ComplicationEntry.onset_on.desc(), ComplicationEntry.id.desc())
    ).all()


def get_complication(session: Session, complication_id: int) -> ComplicationEntry:
    entry = session.get(ComplicationEntry, complication_id)
    if entry is None:
        raise NotFound("That complication entry no longer exists.")
    return entry


def red_flags(session: Session, episode_id: int) -> Sequence[RedFlagReport]:
    query = select(RedFlagReport).where(RedFlagReport.episode_id == episode_id)
    return session.scalars(query.order_by(RedFlagReport.raised_at.desc(), RedFlagReport.id)).all()


def get_red_flag(session: Session, report_id: int) -> RedFlagReport:
    report = session.get(RedFlagReport, report_id)
    if report is None:
        raise NotFound("That red-flag report no longer exists.")
    return report


def followup_items(session: Session, episode_id: int) -> Sequence[FollowUpEntry]:
    """All items of the episode, by due date (series in occurrence order on ties)."""
    query = select(FollowUpEntry).where(FollowUpEntry.episode_id == episode_id)
    return session.scalars(
        query.order_by(FollowUpEntry.due_on, FollowUpEntry.occurrence, FollowUpEntry.id)
    ).all()


def get_followup(session: Session, item_id: int) -> FollowUpEntry:
    item = session.get(FollowUpEntry, item_id)
    if item is None:
        raise NotFound("That follow-up item no longer exists.")
    return item


def series_items(session: Session, episode_id: int, series_id: str) -> Sequence[FollowUpEntry]:
    query = select(FollowUpEntry).where(
        FollowUpEntry.episode_id == episode_id, FollowUpEntry.series_id == series_id
    )
    return session.scalars(query.order_by(FollowUpEntry.occurrence)).all()


def overdue_open_items(
    session: Session, today: date, episode_id: int | None = None
) -> Sequence[FollowUpEntry]:
    """Planned or booked items whose due day is before ``today``: the missed-item sweep's
    candidates (uses the status/due index)."""
    query = select(FollowUpEntry).where(
        FollowUpEntry.status.in_(OPEN_STATUSES), FollowUpEntry.due_on < today
    )
    if episode_id is not None:
        query = query.where(FollowUpEntry.episode_id == episode_id)
    return session.scalars(query.order_by(FollowUpEntry.episode_id, FollowUpEntry.due_on)).all()


def attention_item(session: Session, episode_id: int) -> FollowUpEntry | None:
    """The earliest item still needing attention (planned, booked or missed)."""
    query = select(FollowUpEntry).where(
        FollowUpEntry.episode_id == episode_id,
        FollowUpEntry.status.in_(ATTENTION_STATUSES),
    )
    return session.scalars(query.order_by(FollowUpEntry.due_on, FollowUpEntry.id).limit(1)).first()


def open_complications(session: Session, episode_id: int) -> Sequence[ComplicationEntry]:
    query = select(ComplicationEntry).where(
        ComplicationEntry.episode_id == episode_id, ComplicationEntry.resolved_on.is_(None)
    )
    return session.scalars(query).all()


def open_red_flags(session: Session, episode_id: int) -> Sequence[RedFlagReport]:
    query = select(RedFlagReport).where(
        RedFlagReport.episode_id == episode_id, RedFlagReport.resolved_at.is_(None)
    )
    return session.scalars(query.order_by(RedFlagReport.raised_at, RedFlagReport.id)).all()


def closure_of(session: Session, episode_id: int) -> EpisodeClosure | None:
    query = select(EpisodeClosure).where(EpisodeClosure.episode_id == episode_id)
    return session.scalars(query).first()


def milestone(session: Session, episode_id: int, key: str) -> Milestone | None:
    query = select(Milestone).where(Milestone.episode_id == episode_id, Milestone.key == key)
    return session.scalars(query).first()


def episodes_with_overdue_items(session: Session, today: date) -> Sequence[Episode]:
    """Episodes holding an item the sweep will mark missed."""
    ids = select(FollowUpEntry.episode_id).where(
        FollowUpEntry.status.in_(OPEN_STATUSES), FollowUpEntry.due_on < today
    )
    return session.scalars(select(Episode).where(Episode.id.in_(ids))).all()
