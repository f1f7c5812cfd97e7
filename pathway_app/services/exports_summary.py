"""Issue 8: everything a pathway summary, a refill card or a FHIR export shows about one
episode, gathered from the screens' read models (no Qt here; the PDFs are painted in
`pathway_app.ui.print_summary`/`print_card`).

A part that cannot be read (no pump implanted yet, no operation record, ...) is left out and
named in ``omitted``, so every document says what it does not contain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from pathway_app.domain.errors import DomainError
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup_views import FollowUpView, StayView, followup_view, stay_view
from pathway_app.services.preparation import PreparationView, preparation_view
from pathway_app.services.procedure import ProcedureView, procedure_view
from pathway_app.services.refill_views import PumpView, pump_view
from pathway_app.services.views import EpisodeView, episode_view
from pathway_app.storage.orm import Episode, Patient


class NoSuchPatient(DomainError):
    """No patient (or no episode) for the medical record number given."""


def current_episode_id(ctx: ServiceContext, mrn: str) -> int:
    """The patient's current episode: the newest open one, else the newest one."""
    query = (
        select(Episode.id, Episode.status)
        .join(Patient, Episode.patient_id == Patient.id)
        .where(Patient.mrn == mrn.strip())
        .order_by(Episode.opened_at.desc(), Episode.id.desc())
    )
    with ctx.db.reading() as session:
        rows = session.execute(query).all()
    if not rows:
        raise NoSuchPatient(f"No patient with an episode has the MRN {mrn.strip()!r}.")
    open_rows = [r for r in rows if r.status == "open"]
    return int((open_rows or rows)[0].id)


@dataclass(frozen=True)
class EpisodeSummary:
    """Attributes:
    omitted: the parts left out because nothing is recorded for them, one phrase each.
    """

    generated_at: datetime
    generated_by: str
    episode: EpisodeView
    preparation: PreparationView | None
    procedure: ProcedureView | None
    stay: StayView | None
    followup: FollowUpView | None
    pump: PumpView | None
    omitted: tuple[str, ...] = field(default=())


def episode_summary(ctx: ServiceContext, episode_id: int) -> EpisodeSummary:
    episode = episode_view(ctx, episode_id)
    omitted: list[str] = []

    def part(name: str, read, present=lambda v: v is not None):  # type: ignore[no-untyped-def]
        try:
            value = read(ctx, episode_id)
        except DomainError:
            value = None
        if value is None or not present(value):
            omitted.append(name)
            return None
        return value

    preparation = part("preparation (no record)", preparation_view)
    procedure = part("operation record (not recorded yet)", procedure_view, lambda v: v.recorded)
    stay = part("hospital stay (no admission recorded)", stay_view, lambda v: v.admitted)
    follow = part("follow-up plan", followup_view)
    pump = part("pump, drug and refill history (no implant recorded)", pump_view)
    if pump is not None and not pump.fills:
        omitted.append("refill history (no fill recorded)")
    return EpisodeSummary(
        generated_at=ctx.now(),
        generated_by=ctx.actor,
        episode=episode,
        preparation=preparation,
        procedure=procedure,
        stay=stay,
        followup=follow,
        pump=pump,
        omitted=tuple(omitted),
    )
