"""What every episode-scoped use case does first and last: load the episode, refusing a closed
one, and append the audit entry tied to its patient and episode."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from pathway_app.domain.errors import InvalidTransition
from pathway_app.services.context import ServiceContext
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Episode


def open_episode_row(session: Session, episode_id: int) -> Episode:
    """The episode, or `InvalidTransition` when it is closed (nothing is recorded on it)."""
    episode = repo.get_episode(session, episode_id)
    if episode.status != "open":
        raise InvalidTransition("The episode is closed.")
    return episode


def audit_episode(
    ctx: ServiceContext,
    session: Session,
    episode: Episode,
    action: str,
    entity: str,
    entity_id: int,
    *,
    old: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry for a change on `episode`, by the acting user, at the app clock."""
    repo.add_audit(
        session,
        at=ctx.now(),
        actor=ctx.actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        patient_id=episode.patient_id,
        episode_id=episode.id,
        old=old,
        new=new,
    )
