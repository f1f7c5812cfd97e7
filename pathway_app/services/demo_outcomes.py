"""Demo outcomes (issue 10): a baseline and a few visits for several operated demo episodes,
one with a pain score that rose at two consecutive visits and a new side effect. Deterministic
(no randomness) and fast (a handful of entries)."""

from __future__ import annotations

from datetime import date, timedelta

from pathway_app.domain.outcomes import OralDose, OutcomeDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.outcomes import record_outcome
from pathway_app.storage import repository as repo

DEMO_EPISODES = 5
VISIT_EVERY_DAYS = 42
# Per demo episode: pain (or Ashworth rank) at baseline and each visit, oral morphine mg/day.
PAIN_COURSES = (
    ((8, 5, 4, 3), (120, 80, 60, 40)),
    ((7, 3, 4, 6), (60, 30, 30, 45)),  # rose at two consecutive visits
    ((9, 6, 5, 5), (90, 60, 45, 30)),
)
ASHWORTH_COURSES = (("3", "2", "1+", "1"), ("4", "3", "2", "2"))


def seed_outcomes_demo(ctx: ServiceContext, operated: list[int]) -> None:
    """Record outcomes for the first few operated episodes, from before the operation to today."""
    today = ctx.today()
    pain_index = spastic_index = 0
    with ctx.db.writing() as session:  # joins the seeding transaction
        episodes = [repo.get_episode(session, e) for e in operated]
        plan = [(e.id, e.indication, e.planned_procedure_on) for e in episodes]
    for episode_id, indication, operated_on in plan[:DEMO_EPISODES]:
        kind = ctx.outcomes.score_kind(indication)
        dates = [operated_on - timedelta(days=10)]
        while len(dates) < 4 and dates[-1] + timedelta(days=VISIT_EVERY_DAYS) <= today:
            dates.append(max(dates[-1], operated_on) + timedelta(days=VISIT_EVERY_DAYS))
        if kind == "spasticity":
            if spastic_index >= len(ASHWORTH_COURSES):
                continue
            grades = ASHWORTH_COURSES[spastic_index]
            spastic_index += 1
            for n, on in enumerate(dates):
                _record(ctx, episode_id, on, n, ashworth=grades[n], function=3 + n)
        else:
            if pain_index >= len(PAIN_COURSES):
                continue
            scores, oral = PAIN_COURSES[pain_index]
            rising = pain_index == 1
            pain_index += 1
            for n, on in enumerate(dates):
                effects = frozenset({"constipation"} if n else set())
                if rising and n == len(dates) - 1 and n >= 3:
                    effects = effects | {"itching"}
                _record(
                    ctx,
                    episode_id,
                    on,
                    n,
                    pain=scores[n],
                    oral=(OralDose("morphine", float(oral[n])),),
                    effects=effects,
                    function=3 + n,
                )


def _record(
    ctx: ServiceContext,
    episode_id: int,
    on: date,
    n: int,
    *,
    pain: int | None = None,
    ashworth: str | None = None,
    oral: tuple[OralDose, ...] = (),
    effects: frozenset[str] = frozenset(),
    function: int | None = None,
) -> None:
    record_outcome(
        ctx,
        episode_id,
        OutcomeDraft(
            assessed_on=on,
            kind="baseline" if n == 0 else ("refill" if n % 2 == 0 else "follow-up"),
            pain_nrs=pain,
            ashworth=ashworth,
            function_text="walks to the shop" if n else "housebound most days",
            function_score=function,
            oral=oral,
            side_effects=effects,
        ),
    )
