"""Preparation and procedure records for the demo clinic (and for tests that need an episode
ready for its operation). Everything goes through the same use cases a coordinator uses.

Deterministic: no randomness, every time derived from the episode's dates and the app clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.procedure import StepTime
from pathway_app.domain.readiness import Evaluation, Intake, PreopTest, ScreeningTrial
from pathway_app.services.context import ServiceContext
from pathway_app.services.preparation import (
    EvaluationsDraft,
    MedicationDraft,
    override_gates,
    save_evaluations,
    save_fasting,
    save_medication,
    save_test,
    set_medication_review,
)
from pathway_app.services.procedure import ProcedureDraft, save_procedure
from pathway_app.storage import repository as repo

REVIEWER = "Dr A. Lindgren"
STEP_MINUTES = (0, 15, 30, 50, 65, 80)  # incision ... closure, from the start


def at(ctx: ServiceContext, moment: datetime) -> ServiceContext:
    """The context with its clock fixed at `moment` (to record history as it happened)."""
    return replace(ctx, clock=FixedClock(moment))


def record_evaluations(ctx: ServiceContext, episode_id: int, on: date) -> None:
    """A successful screening trial, the evaluation where required, consent, no infection."""
    with ctx.db.writing() as session:  # joins the demo's transaction
        indication = repo.get_episode(session, episode_id).indication
    config = ctx.readiness
    pain = indication in config.trial.pain_indications
    trial = ScreeningTrial(
        trial_on=on,
        drug="Morphine" if pain else "Baclofen",
        dose="1 mg intrathecal bolus" if pain else "50 µg intrathecal bolus",
        percent_relief=70.0 if pain else None,
        positive_response=None if pain else True,
    )
    psych = None
    if indication in config.psych_indications:
        psych = Evaluation(on, "Dr P. Varga (psychology)", True, "No contraindication.")
    save_evaluations(
        ctx,
        episode_id,
        EvaluationsDraft(trial, psych, on, frozenset(c.key for c in config.confirmations)),
    )


def record_tests(ctx: ServiceContext, episode_id: int, resulted_on: date) -> None:
    """Every configured test ordered, resulted and reviewed on `resulted_on`."""
    for test in ctx.readiness.tests:
        result = {"mri-spine": "No lesion at the catheter entry level."}.get(test.key, "Normal")
        save_test(
            ctx,
            episode_id,
            PreopTest(
                test.key,
                resulted_on - timedelta(days=2),
                resulted_on,
                result,
                REVIEWER,
                resulted_on,
            ),
        )


def record_fasting(ctx: ServiceContext, episode_id: int, start: datetime) -> None:
    """Nothing by mouth from 9 h before the start (only what is already in the past)."""
    last = start - timedelta(hours=9)
    intakes = (
        tuple(Intake(k.key, last, nothing_since=True) for k in ctx.readiness.fasting if k.required)
        if last <= ctx.now()
        else ()
    )
    save_fasting(ctx, episode_id, start, intakes)


def record_complete_preparation(ctx: ServiceContext, episode_id: int, start: datetime) -> None:
    """Every gate met for an operation at `start` (fasting only once its times are past)."""
    today = ctx.today()
    day = min(today, start.date())
    record_evaluations(ctx, episode_id, day - timedelta(days=20))
    record_tests(ctx, episode_id, day - timedelta(days=7))
    set_medication_review(ctx, episode_id, True, True)
    record_fasting(ctx, episode_id, start)


def record_operation(ctx: ServiceContext, episode_id: int, start: datetime) -> None:
    """A complete, uneventful operation record starting at `start` (clock must be after it)."""
    config = ctx.readiness.procedure
    steps = tuple(
        StepTime(s.key, start + timedelta(minutes=m))
        for s, m in zip(config.steps, STEP_MINUTES, strict=False)
        if start + timedelta(minutes=m) <= ctx.now()
    )
    with ctx.db.writing() as session:  # joins the demo's transaction
        setting = repo.get_episode(session, episode_id).setting
    save_procedure(
        ctx,
        episode_id,
        ProcedureDraft(
            anaesthesia="general",
            setting=setting,
            personnel={
                "implanting-physician": (REVIEWER,),
                "anaesthesia-provider": ("Dr K. Osei",),
                "scrub-nurse": ("N. Berg",),
            },
            steps=steps,
            # The sign-out pause is done only once the patient is closed.
            checklist=frozenset(
                i.key
                for p in config.checklist
                for i in p.items
                if p.key != "sign-out" or len(steps) == len(config.steps)
            ),
            antibiotic="Cefazolin 2 g IV",
            antibiotic_at=start - timedelta(minutes=30),
            csf_flow_confirmed=True,
            catheter_tip_level="T10",
            pocket_depth_cm=2.0,
        ),
    )


# --- demo clinic -------------------------------------------------------------------------------


def seed_preparation_demo(ctx: ServiceContext, preparing: list[int], operated: list[int]) -> None:
    """Records for the demo: the first three episodes still in preparation get partial
    records (some gates met; one blocked by a warfarin hold; one with an override), and the
    episodes already operated on get a procedure record at the time of their operation."""
    now = ctx.now()
    roles = iter(("partial", "blocked", "overridden"))
    for episode_id, role in zip(preparing, roles, strict=False):
        with ctx.db.writing() as session:  # joins the demo's transaction
            planned = repo.get_episode(session, episode_id).planned_procedure_on
        start = datetime.combine(planned, time(8, 0), tzinfo=UTC)
        record_evaluations(ctx, episode_id, ctx.today() - timedelta(days=3))
        if role == "partial":
            continue
        record_tests(ctx, episode_id, ctx.today() - timedelta(days=2))
        save_fasting(ctx, episode_id, start, ())
        if role == "blocked":
            save_medication(
                ctx,
                episode_id,
                MedicationDraft(
                    "warfarin",
                    "",
                    now - timedelta(hours=20),
                    "Last dose taken yesterday evening; stop warfarin, INR on the morning.",
                ),
            )
            set_medication_review(ctx, episode_id, True, None)
        else:
            save_medication(
                ctx,
                episode_id,
                MedicationDraft(
                    "clopidogrel",
                    "",
                    now - timedelta(days=8),
                    "Stopped 8 days before, as advised by cardiology.",
                ),
            )
            set_medication_review(ctx, episode_id, True, True)
            override_gates(
                ctx,
                episode_id,
                "Operating slot moved forward at short notice; the surgeon and the anaesthetist "
                "confirm fasting and the clopidogrel decision on admission.",
                "Dr M. Okoye",
            )
    for episode_id in operated:
        with ctx.db.writing() as session:  # joins the demo's transaction
            episode = repo.episode_with_milestones(session, episode_id)
            incision = next((m for m in episode.milestones if m.key == "incision"), None)
        if incision is None or incision.done_at is None:
            continue
        start = incision.done_at
        record_operation(at(ctx, min(now, start + timedelta(hours=3))), episode_id, start)
