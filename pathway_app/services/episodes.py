"""Opening episodes and keeping their worklist fields current."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.progress import (
    MilestonePosition,
    MilestoneState,
    episode_progress,
    milestone_due_on,
)
from pathway_app.domain.records import EpisodeDraft, validate_episode
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup_progress import refresh_followup_fields
from pathway_app.services.outcome_progress import refresh_outcome_fields  # issue 10
from pathway_app.storage import preparation_queries as pq  # issue 5: readiness override
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Episode, Milestone


def open_episode(ctx: ServiceContext, draft: EpisodeDraft) -> int:
    """Validate and open an episode with the template's milestones; return its id.

    Raises:
        ValidationError: a field is wrong, or the patient already has an open episode.
    """
    with ctx.db.writing() as session:
        patient = repo.get_patient(session, draft.patient_id) if draft.patient_id else None
        clean = validate_episode(
            draft,
            ctx.template,
            today=ctx.today(),
            known_drugs=set(ctx.catalogue.drugs),
            known_pump_models=set(ctx.catalogue.pumps),
            birth_date=patient.birth_date if patient else None,
        )
        assert patient is not None and clean.planned_procedure_on is not None
        if repo.open_episode_of(session, patient.id) is not None:
            raise ValidationError(
                {
                    "patient": f"{patient.family_name}, {patient.given_name} already has an open "
                    "episode; open it from the worklist instead."
                }
            )
        episode = Episode(
            patient_id=patient.id,
            template_key=ctx.template.key,
            template_version=ctx.template.version,
            indication=clean.indication,
            drug=clean.drug,
            pump_model=clean.pump_model,
            planned_procedure_on=clean.planned_procedure_on,
            surgeon=clean.surgeon,
            setting=clean.setting,
            status="open",
            opened_at=ctx.now(),
            next_action="",
        )
        session.add(episode)
        session.flush()
        for stage_position, stage in enumerate(ctx.template.stages):
            for position, item in enumerate(stage.milestones):
                if not item.applies_to(clean.indication):
                    continue
                session.add(
                    Milestone(
                        episode_id=episode.id,
                        stage_key=stage.key,
                        stage_name=stage.name,
                        stage_position=stage_position,
                        key=item.key,
                        name=item.name,
                        detail=item.detail,
                        gate=item.gate,
                        position=position,
                        due_on=milestone_due_on(clean.planned_procedure_on, item.offset_days),
                        state=MilestoneState.PLANNED.value,
                    )
                )
        session.flush()
        refresh_progress(session, episode)
        repo.add_audit(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action="episode.opened",
            entity="episode",
            entity_id=episode.id,
            patient_id=patient.id,
            episode_id=episode.id,
            new={
                "indication": clean.indication,
                "drug": clean.drug,
                "pump_model": clean.pump_model,
                "planned_procedure_on": clean.planned_procedure_on.isoformat(),
                "surgeon": clean.surgeon,
                "setting": clean.setting,
            },
        )
        return episode.id


_DEFERRED = "refresh_progress_deferred"


@contextmanager
def deferred_progress(session: Session) -> Iterator[None]:
    """Inside one write transaction, recompute each touched episode's worklist fields once when
    the block ends instead of after every action (bulk seeding: the demo and the synthetic
    clinic, issue 9). Nothing inside the block may read those fields."""
    if _DEFERRED in session.info:  # nested: the outer block refreshes
        yield
        return
    pending: dict[int, Episode] = {}
    session.info[_DEFERRED] = pending
    try:
        yield
    finally:
        del session.info[_DEFERRED]
    for episode in pending.values():
        refresh_progress(session, episode)


def refresh_progress(session: Session, episode: Episode) -> None:
    """Recompute the episode's worklist fields: current stage and next action from its
    milestones, then the follow-up, complication and red-flag fields (issue 6) and the outcome
    summary (issue 10)."""
    pending = session.info.get(_DEFERRED)
    if pending is not None:  # see deferred_progress
        pending[episode.id] = episode
        return
    session.refresh(episode, ["milestones"])
    # Issue 5: a readiness gate still open but covered by the override in force counts as
    # passed, so an authorised override lets the episode move on to the Procedure stage.
    overridden = pq.overridden_gate_keys(session, episode.id)

    def state(m: Milestone) -> MilestoneState:
        if m.gate and m.state == MilestoneState.PLANNED.value and m.key in overridden:
            return MilestoneState.SKIPPED
        return MilestoneState(m.state)

    progress = episode_progress(
        [
            MilestonePosition(
                key=m.key,
                name=m.name,
                stage_key=m.stage_key,
                stage_position=m.stage_position,
                position=m.position,
                state=state(m),
                due_on=m.due_on,
            )
            for m in episode.milestones
        ]
    )
    episode.current_stage = progress.current_stage
    episode.next_action = progress.next_action
    episode.next_due_on = progress.next_due_on
    # Issue 6: follow-up items, complications and red flags, and attention_due_on.
    refresh_followup_fields(session, episode)
    # Issue 10: outcome change since baseline and its flag.
    refresh_outcome_fields(session, episode)
