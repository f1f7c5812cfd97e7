"""A demo clinic: about 30 synthetic patients spread over every stage and status.

Everything is made through the same use cases a coordinator uses, in one transaction, so the
demo data obeys the same rules as real data. Names and MRNs are invented.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from pathway_app.domain.catalogues import Drug
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.errors import ValidationError
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import LOCATION_METHODS, FillDraft, ImplantDraft
from pathway_app.domain.refills import Explanation
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import deferred_progress, open_episode
from pathway_app.services.milestones import mark_done, mark_skipped
from pathway_app.services.patients import register_patient
from pathway_app.services.refills import record_implant, record_refill
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import ImplantedPump

FAMILY_NAMES = (
    "Andersen",
    "Baptiste",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fontaine",
    "García",
    "Haddad",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "O'Brien",
    "Petrov",
    "Quintero",
    "Rossi",
    "Schneider",
    "Tanaka",
    "Urquhart",
    "Virtanen",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Novak",
    "Silva",
    "Okafor",
    "Müller",
    "Horvath",
    "Lefèvre",
)
GIVEN_NAMES = (
    "Anna",
    "Ben",
    "Chiara",
    "David",
    "Elif",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kaja",
    "Luis",
    "Maja",
    "Nils",
    "Olga",
    "Pavel",
    "Rosa",
    "Sami",
    "Tereza",
    "Umar",
    "Vera",
    "Wim",
    "Yara",
    "Zofia",
)
SURGEONS = ("Dr A. Lindgren", "Dr M. Okoye", "Dr S. Petit", "Dr R. Haas")
# Patient index -> procedure day relative to today, for the stages that last only a day or two.
PROCEDURE_TODAY = {4: 0, 11: 0, 17: -1, 23: -2}
IN_THEATRE = 4
OPEN_BEFORE_DAYS = 300
# Drug and pump keys per indication, chosen among the shipped catalogue entries.
DRUG_FOR_INDICATION = {
    "noncancer-pain": "morphine",
    "cancer-pain": "morphine",
    "spasticity-spinal": "baclofen",
    "spasticity-cerebral": "baclofen",
}


def seed_demo(
    ctx: ServiceContext, *, patients: int = 30, seed: int = 2026, history_days: int = 210
) -> None:
    """Fill an empty database with a demo clinic relative to the app clock.

    ``history_days``: how far back the earliest procedure is (the synthetic clinic generator,
    `services/synthetic.py`, asks for years of history)."""
    rng = random.Random(seed)
    today = ctx.today()
    now = ctx.now()
    indications = [c.key for c in ctx.template.indications]
    settings = [c.key for c in ctx.template.settings]
    pumps = sorted(ctx.catalogue.pumps)
    episode_ids: list[int] = []
    with ctx.db.writing():
        for index in range(patients):
            patient_id = register_patient(
                ctx,
                PatientDraft(
                    mrn=f"DEMO-{1001 + index}",
                    family_name=FAMILY_NAMES[index % len(FAMILY_NAMES)],
                    given_name=GIVEN_NAMES[(index * 7) % len(GIVEN_NAMES)],
                    birth_date=today.replace(year=today.year - rng.randint(19, 84), day=1)
                    - timedelta(days=rng.randint(0, 360)),
                ),
            )
            indication = indications[index % len(indications)]
            drug = DRUG_FOR_INDICATION.get(indication, "")
            if drug not in ctx.catalogue.drugs:
                drug = sorted(ctx.catalogue.drugs)[0]
            # Spread the procedure dates from about seven months ago to two months ahead so
            # that overdue, due-soon and on-track items appear; a few operations are today or
            # yesterday so the procedure and hospital-stay stages are populated too.
            offset = PROCEDURE_TODAY.get(index)
            if offset is None:
                offset = int(-history_days + index * (history_days + 60) / patients)
                offset += rng.randint(-3, 3)
            planned = today + timedelta(days=offset)
            # An episode of years ago was opened back then (the domain refuses a planned date
            # more than a year past); the demo's own dates never go that far back.
            opening = ctx
            if offset < -OPEN_BEFORE_DAYS:
                opened = datetime.combine(planned - timedelta(days=OPEN_BEFORE_DAYS), time(9))
                opening = replace(ctx, clock=FixedClock(opened.replace(tzinfo=UTC)))
            episode_id = open_episode(
                opening,
                EpisodeDraft(
                    patient_id=patient_id,
                    indication=indication,
                    drug=drug,
                    pump_model=pumps[rng.randrange(len(pumps))],
                    planned_procedure_on=planned,
                    surgeon=SURGEONS[index % len(SURGEONS)],
                    setting=settings[index % len(settings)],
                ),
            )
            with ctx.db.writing() as session, deferred_progress(session):
                _progress_episode(
                    ctx,
                    episode_id,
                    rng,
                    now,
                    may_forget=index not in PROCEDURE_TODAY,
                    in_theatre=index == IN_THEATRE,
                )
            episode_ids.append(episode_id)
        _seed_refills(ctx, episode_ids, random.Random(seed + 1))
        _seed_followup(ctx, episode_ids)  # issue 6
        _seed_preparation(ctx, episode_ids)  # issue 5
        _seed_outcomes(ctx, episode_ids)  # issue 10


def _progress_episode(
    ctx: ServiceContext,
    episode_id: int,
    rng: random.Random,
    now: datetime,
    *,
    may_forget: bool,
    in_theatre: bool = False,
) -> None:
    """Mark what would be finished by now; about a third of the episodes leave their most
    recent task open past its date, so the worklist has overdue items."""
    with ctx.db.writing() as session:
        episode = repo.episode_with_milestones(session, episode_id)
        milestones = [(m.id, m.key, m.due_on) for m in episode.milestones]
    today = ctx.today()
    past = [item for item in milestones if item[2] is not None and item[2] < today]
    forgotten = past[-1][0] if past and may_forget and rng.random() < 0.35 else None
    for milestone_id, key, due_on in milestones:
        if milestone_id == forgotten:
            continue
        if due_on is None:
            # The first refill gets its date from the refill engine once the implant is
            # recorded, and is marked done by the first refill (`_seed_refills`).
            continue
        if due_on > today or (due_on == today and not in_theatre):
            continue
        if in_theatre and due_on == today:
            # An operation under way: everything up to the pump placement is done.
            mark_done(ctx, milestone_id, done_at=now - timedelta(minutes=30))
            if key == "pump-placement":
                in_theatre = False
            continue
        if key == "psych-evaluation" and rng.random() < 0.3:
            mark_skipped(ctx, milestone_id, "Evaluation from the referring clinic accepted.")
            continue
        moment = time(8 + rng.randint(0, 8), rng.choice((0, 15, 30, 45)))
        done_at = min(datetime.combine(due_on, moment).replace(tzinfo=UTC), now)
        mark_done(ctx, milestone_id, done_at=done_at)


def demo_context(ctx: ServiceContext) -> ServiceContext:
    """The same context acting as the demo user, so demo entries are recognisable in history."""
    return replace(ctx, actor="demo")


# --- pumps and refills -------------------------------------------------------------------------

NURSES = ("N. Berg", "L. Mensah", "K. Ito", "P. Laine")
# Demo episodes whose history ends in a state the refill worklist must show.
ROLE_URGENT = "urgent"  # the first baclofen patient with a long history: nobody came back
ROLE_OVERDUE = "overdue"  # the first other patient with a long history
LONG_HISTORY_DAYS = 90
SLOW_FLOW_ML_PER_DAY = 1.0


def _seed_refills(ctx: ServiceContext, episode_ids: list[int], rng: random.Random) -> None:
    """Record the implant and initial fill of every episode past its pump placement, then
    refills a few days before each due date the engine computes."""
    now = ctx.now()
    roles: dict[str, int] = {}
    implanted: list[tuple[int, datetime, str]] = []
    models: dict[int, str] = {}
    with ctx.db.writing() as session:
        for episode_id in episode_ids:
            episode = repo.episode_with_milestones(session, episode_id)
            placement = next((m for m in episode.milestones if m.key == "pump-placement"), None)
            if placement is not None and placement.state == "done" and placement.done_at:
                implanted.append((episode_id, placement.done_at, episode.drug))
                models[episode_id] = episode.pump_model
    for episode_id, implanted_at, drug in implanted:
        if now - implanted_at < timedelta(days=LONG_HISTORY_DAYS):
            continue
        flow = ctx.catalogue.pump(models[episode_id]).nominal_flow_ml_per_day
        if flow is not None and flow > SLOW_FLOW_ML_PER_DAY:
            # A fast pump reaches its reserve within hours of the due date: too short an
            # "overdue" window to show reliably, and refills too frequent to read.
            continue
        if drug == "baclofen" and ROLE_URGENT not in roles:
            roles[ROLE_URGENT] = episode_id
        elif drug != "baclofen" and ROLE_OVERDUE not in roles:
            roles[ROLE_OVERDUE] = episode_id
    role_of = {episode_id: role for role, episode_id in roles.items()}
    flag_pending = [True]
    for episode_id, implanted_at, _drug in implanted:
        with ctx.db.writing() as session, deferred_progress(session):
            _seed_pump(ctx, episode_id, implanted_at, rng, role_of.get(episode_id), flag_pending)


def _fill_draft(
    drug: Drug, at: datetime, added: float, concentration: float, rng: random.Random
) -> FillDraft:
    operator, checker = rng.sample(NURSES, 2)
    return FillDraft(
        filled_at=at,
        added_ml=added,
        drug_key=drug.key,
        concentration=concentration,
        concentration_unit=drug.concentration_unit,
        operator=operator,
        second_checker=checker,
        lot=f"DEMO-{rng.randint(10000, 99999)}",
        expiry_on=(at + timedelta(days=180)).date(),
        needle="Non-coring refill needle (pump kit)",
        location_method=rng.choice(LOCATION_METHODS[:2]),
    )


def _seed_pump(
    ctx: ServiceContext,
    episode_id: int,
    implanted_at: datetime,
    rng: random.Random,
    role: str | None,
    flag_pending: list[bool],
) -> None:
    """Implant, initial fill and refills of one episode; ``flag_pending[0]`` asks for one
    refill with a discrepancy (explained by fever), and is cleared once it is made."""
    now = ctx.now()
    with ctx.db.writing() as session:
        episode = repo.get_episode(session, episode_id)
        model = ctx.catalogue.pump(episode.pump_model)
        drug = ctx.catalogue.drug(episode.drug)
    # Models whose catalogue entry lacks a number get one "read from the label".
    reservoir = model.reservoir_ml or 20.0
    flow = model.nominal_flow_ml_per_day or rng.choice((0.3, 0.5))
    from_label = model.reservoir_ml is None or model.nominal_flow_ml_per_day is None
    target = rng.uniform(1.5, 4.0) if drug.dose_unit == "mg/day" else rng.uniform(250.0, 600.0)
    concentration = round(target / flow, 1)
    pump_id = record_implant(
        ctx,
        ImplantDraft(
            episode_id=episode_id,
            model_key=model.key,
            serial=f"SN{rng.randint(100000, 999999)}",
            reservoir_ml=reservoir if from_label else None,
            nominal_flow_ml_per_day=flow if from_label else None,
            read_from_label=from_label,
            implanted_at=implanted_at,
            fill=_fill_draft(drug, implanted_at, reservoir, concentration, rng),
        ),
    )
    with ctx.db.writing() as session:
        pump = session.get(ImplantedPump, pump_id)
        assert pump is not None and pump.refill_due_at and pump.urgent_at
        to_due = pump.refill_due_at - implanted_at
        to_urgent = pump.urgent_at - implanted_at
    # Where the last refill must fall for the episode to end up urgent or overdue today.
    last_at = {
        ROLE_URGENT: now - to_urgent - timedelta(days=1.5),
        ROLE_OVERDUE: now - to_due - (to_urgent - to_due) / 2,
    }.get(role or "")
    filled_at, volume, count = implanted_at, reservoir, 0
    while True:
        at = filled_at + to_due - timedelta(days=rng.uniform(0.0, 4.0))
        at = at.replace(hour=8 + rng.randint(0, 7), minute=rng.choice((0, 15, 30, 45)))
        # The last refill lands exactly where the role needs it, not a day after another one.
        final = last_at is not None and at >= last_at - 0.4 * to_due
        if final and last_at is not None:
            at = last_at
        if at <= filled_at or (last_at is None and at >= now):
            break
        days = (at - filled_at) / timedelta(days=1)
        expected = max(0.0, volume - flow * days)
        aspirated = max(0.0, round(expected + rng.uniform(-0.2, 0.2), 1))
        explanation = None
        note = ""
        count += 1
        if flag_pending[0] and role is None and count == 2:
            flag_pending[0] = False
            aspirated = max(0.0, round(expected - 3.5, 1))
            explanation = Explanation.FEVER_HEAT
            note = "Febrile chest infection for a week since the last refill."
        draft = replace(
            _fill_draft(drug, at, reservoir, concentration, rng),
            aspirated_ml=aspirated,
            explanation=explanation,
            explanation_note=note,
        )
        try:
            record_refill(ctx, episode_id, draft)
        except ValidationError as exc:
            if set(exc.field_errors) != {"explanation"}:
                raise
            # Rounding on very short intervals can cross the tolerance; say so, as a nurse would.
            draft = replace(draft, explanation=Explanation.OTHER, explanation_note="Demo data.")
            record_refill(ctx, episode_id, draft)
        filled_at, volume = at, reservoir
        if final:
            break


# --- preparation and procedure records (issue 5) -----------------------------------------------


def _seed_preparation(ctx: ServiceContext, episode_ids: list[int]) -> None:
    """Partial preparation records for the next three operations at least two days away (some
    gates met, one blocked by a warfarin hold, one overridden), and a procedure record for every
    episode already operated on (see `demo_preparation.seed_preparation_demo`)."""
    from pathway_app.services.demo_preparation import seed_preparation_demo

    soon = ctx.today() + timedelta(days=2)
    preparing: list[tuple[object, int]] = []
    operated: list[int] = []
    with ctx.db.writing() as session:  # joins the seeding transaction
        for episode_id in episode_ids:
            episode = repo.episode_with_milestones(session, episode_id)
            states = {m.key: m.state for m in episode.milestones}
            if states.get("incision") == "done":
                operated.append(episode_id)
            elif episode.current_stage == "preparation" and episode.planned_procedure_on >= soon:
                preparing.append((episode.planned_procedure_on, episode_id))
    seed_preparation_demo(ctx, [e for _, e in sorted(preparing)][:3], operated)


# --- hospital stay and follow-up (issue 6) -------------------------------------------------------


def _seed_followup(ctx: ServiceContext, episode_ids: list[int]) -> None:
    """Stays, discharges, accepted plans (one missed item), one open complication and one
    ticked red flag for the episodes past their pump placement (see `demo_followup`)."""
    from pathway_app.services.demo_followup import seed_followup_demo

    operated: list[int] = []
    with ctx.db.writing() as session:  # joins the seeding transaction
        for episode_id in episode_ids:
            episode = repo.episode_with_milestones(session, episode_id)
            if any(m.key == "pump-placement" and m.state == "done" for m in episode.milestones):
                operated.append(episode_id)
    seed_followup_demo(ctx, operated)


# --- outcomes (issue 10) -------------------------------------------------------------------------


def _seed_outcomes(ctx: ServiceContext, episode_ids: list[int]) -> None:
    """Baselines and a few visits for some operated episodes (see `demo_outcomes`)."""
    from pathway_app.services.demo_outcomes import seed_outcomes_demo

    operated: list[int] = []
    with ctx.db.writing() as session:  # joins the seeding transaction
        for episode_id in episode_ids:
            episode = repo.episode_with_milestones(session, episode_id)
            if any(m.key == "pump-placement" and m.state == "done" for m in episode.milestones):
                operated.append(episode_id)
    seed_outcomes_demo(ctx, operated)
