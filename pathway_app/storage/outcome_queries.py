"""Queries of the outcome entries and the IT dose history (issue 10)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from pathway_app.domain.errors import NotFound
from pathway_app.storage.orm import Fill
from pathway_app.storage.orm_outcomes import OutcomeEntry


def entries(session: Session, episode_id: int) -> Sequence[OutcomeEntry]:
    """The episode's outcome entries, oldest first."""
    return session.scalars(
        select(OutcomeEntry)
        .where(OutcomeEntry.episode_id == episode_id)
        .order_by(OutcomeEntry.assessed_on, OutcomeEntry.id)
    ).all()


def get_entry(session: Session, entry_id: int) -> OutcomeEntry:
    entry = session.get(OutcomeEntry, entry_id)
    if entry is None:
        raise NotFound("That outcome entry no longer exists.")
    return entry


def current_fills(session: Session, episode_id: int) -> Sequence[Fill]:
    """The episode's fills that are not superseded by a correction, oldest first."""
    return session.scalars(
        select(Fill)
        .where(Fill.episode_id == episode_id, Fill.superseded_by_id.is_(None))
        .order_by(Fill.filled_at, Fill.id)
    ).all()
