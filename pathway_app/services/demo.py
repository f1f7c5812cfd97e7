"""A demo clinic: about 30 synthetic patients spread over every stage and status.

Everything is made through the same use cases a coordinator uses, in one transaction, so the
demo data obeys the same rules as real data. Names and MRNs are invented.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.milestones import mark_done, mark_skipped
from pathway_app.services.patients import register_patient
from pathway_app.storage import repository as repo

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
# Drug and pump keys per indication, chosen among the shipped catalogue entries.
DRUG_FOR_INDICATION = {
    "noncancer-pain": "morphine",
    "cancer-pain": "morphine",
    "spasticity-spinal": "baclofen",
    "spasticity-cerebral": "baclofen",
}


def seed_demo(ctx: ServiceContext, *, patients: int = 30, seed: int = 2026) -> None:
    """Fill an empty database with a demo clinic relative to the app clock."""
    rng = random.Random(seed)
    today = ctx.today()
    now = ctx.now()
    indications = [c.key for c in ctx.template.indications]
    settings = [c.key for c in ctx.template.settings]
    pumps = sorted(ctx.catalogue.pumps)
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
                offset = int(-210 + index * 270 / patients) + rng.randint(-3, 3)
            planned = today + timedelta(days=offset)
            episode_id = open_episode(
                ctx,
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
            _progress_episode(
                ctx,
                episode_id,
                rng,
                now,
                may_forget=index not in PROCEDURE_TODAY,
                in_theatre=index == IN_THEATRE,
            )


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
        planned_on = episode.planned_procedure_on
        milestones = [(m.id, m.key, m.due_on) for m in episode.milestones]
    today = ctx.today()
    past = [item for item in milestones if item[2] is not None and item[2] < today]
    forgotten = past[-1][0] if past and may_forget and rng.random() < 0.35 else None
    for milestone_id, key, due_on in milestones:
        if milestone_id == forgotten:
            continue
        if due_on is None:
            # The first refill has no template date; long-implanted demo patients have had it.
            if key != "first-refill" or planned_on > today - timedelta(days=60):
                continue
            due_on = planned_on + timedelta(days=rng.randint(28, 45))
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
