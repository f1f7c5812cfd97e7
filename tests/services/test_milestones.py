"""Marking milestones, undoing marks, the worklist and the episode view, on a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.errors import InvalidTransition, ValidationError
from pathway_app.domain.progress import DueStatus, StageState
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.milestones import mark_done, mark_skipped, undo_mark
from pathway_app.services.patients import register_patient
from pathway_app.services.views import episode_view, worklist
from pathway_app.storage.orm import Episode, Milestone

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
TODAY = date(2026, 11, 26)
PLANNED = date(2027, 1, 12)  # screening trial due 2026-12-15, on track today
LEAD_DAYS = 28  # the first preparation milestones are due 28 days before the procedure


def make_episode(
    ctx: ServiceContext,
    mrn: str = "MRN-1001",
    family: str = "Müller",
    given: str = "Jürgen",
    planned: date = PLANNED,
    indication: str = "noncancer-pain",
) -> int:
    patient_id = register_patient(ctx, PatientDraft(mrn, family, given, date(1960, 1, 1)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient_id=patient_id,
            indication=indication,
            drug="morphine",
            pump_model="isomed-8472-20-05",
            planned_procedure_on=planned,
            surgeon="Dr A. Lindgren",
            setting="hospital-or",
        ),
    )


def due_on(ctx: ServiceContext, mrn: str, first_due: date, family: str = "Rossi") -> int:
    """An episode whose next action (the screening trial) is due on `first_due`."""
    return make_episode(ctx, mrn, family, "Ana", first_due + timedelta(days=LEAD_DAYS))


def ids(ctx: ServiceContext, episode_id: int) -> dict[str, int]:
    with ctx.db.reading() as session:
        query = select(Milestone.key, Milestone.id).where(Milestone.episode_id == episode_id)
        return {key: mid for key, mid in session.execute(query)}


def milestone(ctx: ServiceContext, milestone_id: int) -> Milestone:
    with ctx.db.reading() as session:
        row = session.get(Milestone, milestone_id)
        assert row is not None
        session.expunge(row)
        return row


def episode(ctx: ServiceContext, episode_id: int) -> Episode:
    with ctx.db.reading() as session:
        row = session.get(Episode, episode_id)
        assert row is not None
        session.expunge(row)
        return row


def complete_stage(ctx: ServiceContext, episode_id: int, stage: str) -> None:
    with ctx.db.reading() as session:
        query = (
            select(Milestone.id)
            .where(Milestone.episode_id == episode_id, Milestone.stage_key == stage)
            .order_by(Milestone.position)
        )
        milestone_ids = list(session.scalars(query))
    for milestone_id in milestone_ids:
        mark_done(ctx, milestone_id)


# --- mark_done -------------------------------------------------------------------------------


def test_mark_done_records_who_and_when_and_moves_the_next_action(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    assert episode(ctx, episode_id).next_action == "Screening trial documented"
    when = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
    mark_done(ctx, keys["screening-trial"], done_at=when, note="  50 % relief ")
    done = milestone(ctx, keys["screening-trial"])
    assert done.state == "done"
    assert done.done_at == when
    assert done.done_by == "Nurse Tester"
    assert done.note == "50 % relief"
    after = episode(ctx, episode_id)
    assert after.next_action == "Psychological evaluation"
    assert after.next_due_on == date(2026, 12, 15)
    mark_done(ctx, keys["psych-evaluation"])
    after = episode(ctx, episode_id)
    assert after.next_action == "MRI of the spine reviewed"
    assert after.next_due_on == date(2026, 12, 22)


def test_mark_done_defaults_to_now(ctx: ServiceContext) -> None:
    keys = ids(ctx, make_episode(ctx))
    mark_done(ctx, keys["mri-spine"])
    assert milestone(ctx, keys["mri-spine"]).done_at == NOW


def test_done_at_in_the_future_is_refused(ctx: ServiceContext) -> None:
    keys = ids(ctx, make_episode(ctx))
    with pytest.raises(ValidationError) as info:
        mark_done(ctx, keys["consent"], done_at=NOW + timedelta(minutes=1))
    assert set(info.value.field_errors) == {"done_at"}
    assert milestone(ctx, keys["consent"]).state == "planned"


def test_done_at_without_time_zone_is_refused(ctx: ServiceContext) -> None:
    keys = ids(ctx, make_episode(ctx))
    with pytest.raises(ValidationError):
        mark_done(ctx, keys["consent"], done_at=datetime(2026, 11, 25, 9, 0))
    assert milestone(ctx, keys["consent"]).state == "planned"


def test_marking_an_already_done_milestone_is_an_invalid_transition(ctx: ServiceContext) -> None:
    keys = ids(ctx, make_episode(ctx))
    first = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    mark_done(ctx, keys["consent"], done_at=first)
    with pytest.raises(InvalidTransition, match="already marked done"):
        mark_done(ctx, keys["consent"])
    with pytest.raises(InvalidTransition):
        mark_skipped(ctx, keys["consent"], "Not needed")
    assert milestone(ctx, keys["consent"]).done_at == first


# --- mark_skipped ----------------------------------------------------------------------------


def test_mark_skipped_requires_a_reason(ctx: ServiceContext) -> None:
    keys = ids(ctx, make_episode(ctx))
    with pytest.raises(ValidationError) as info:
        mark_skipped(ctx, keys["psych-evaluation"], "   ")
    assert set(info.value.field_errors) == {"reason"}
    assert milestone(ctx, keys["psych-evaluation"]).state == "planned"


def test_mark_skipped_stores_the_reason(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    mark_skipped(ctx, keys["psych-evaluation"], "  Evaluation from the referring clinic. ")
    skipped = milestone(ctx, keys["psych-evaluation"])
    assert skipped.state == "skipped"
    assert skipped.skip_reason == "Evaluation from the referring clinic."
    assert skipped.done_by == "Nurse Tester"
    view = episode_view(ctx, episode_id)
    assert view.history[0].action == "milestone.skipped"
    assert view.history[0].detail["new"]["skip_reason"] == "Evaluation from the referring clinic."


# --- undo_mark -------------------------------------------------------------------------------


def test_undo_returns_the_milestone_to_planned_and_restores_the_next_action(
    ctx: ServiceContext, clock: FixedClock
) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    before = episode(ctx, episode_id)
    mark_done(ctx, keys["screening-trial"], note="wrong patient")
    assert episode(ctx, episode_id).next_action != before.next_action
    clock.set(NOW + timedelta(minutes=5))
    undo_mark(ctx, keys["screening-trial"])
    undone = milestone(ctx, keys["screening-trial"])
    assert (undone.state, undone.done_at, undone.done_by, undone.note) == (
        "planned",
        None,
        None,
        None,
    )
    after = episode(ctx, episode_id)
    assert (after.current_stage, after.next_action, after.next_due_on) == (
        before.current_stage,
        before.next_action,
        before.next_due_on,
    )


def test_undo_keeps_the_mark_and_the_correction_in_the_audit_log(
    ctx: ServiceContext, clock: FixedClock
) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    mark_done(ctx, keys["consent"])
    clock.set(NOW + timedelta(minutes=5))
    undo_mark(ctx, keys["consent"])
    history = episode_view(ctx, episode_id).history
    assert [h.action for h in history] == ["milestone.undone", "milestone.done", "episode.opened"]
    undone, done, _ = history
    assert done.milestone == undone.milestone == "Consent signed"
    assert done.detail["old"]["state"] == "planned"
    assert done.detail["new"]["state"] == "done"
    assert done.detail["new"]["done_by"] == "Nurse Tester"
    assert done.detail["new"]["done_at"] == NOW.isoformat()
    assert undone.detail["old"]["state"] == "done"
    assert undone.detail["old"]["done_at"] == NOW.isoformat()
    assert undone.detail["new"]["state"] == "planned"
    assert undone.detail["new"]["done_at"] is None
    assert undone.at == NOW + timedelta(minutes=5)
    assert undone.actor == "Nurse Tester"


def test_undo_on_a_planned_milestone_is_an_invalid_transition(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    with pytest.raises(InvalidTransition, match="nothing to undo"):
        undo_mark(ctx, keys["consent"])
    assert [h.action for h in episode_view(ctx, episode_id).history] == ["episode.opened"]


def test_completing_preparation_moves_to_procedure_and_undo_moves_back(
    ctx: ServiceContext,
) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    complete_stage(ctx, episode_id, "preparation")
    moved = episode(ctx, episode_id)
    assert moved.current_stage == "procedure"
    assert moved.next_action == "WHO checklist: sign in"
    assert moved.next_due_on == PLANNED
    undo_mark(ctx, keys["blood-tests"])
    back = episode(ctx, episode_id)
    assert back.current_stage == "preparation"
    assert back.next_action == "Blood count and coagulation (INR) resulted and reviewed"
    assert back.next_due_on == date(2026, 12, 29)


def test_a_skipped_milestone_also_lets_the_stage_end(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    mark_skipped(ctx, keys["psych-evaluation"], "Not needed")
    for key in ids(ctx, episode_id):
        if key != "psych-evaluation" and milestone(ctx, keys[key]).stage_key == "preparation":
            mark_done(ctx, keys[key])
    assert episode(ctx, episode_id).current_stage == "procedure"


# --- worklist --------------------------------------------------------------------------------


@pytest.fixture
def clinic(ctx: ServiceContext) -> dict[str, int]:
    """Four patients whose names exercise the search."""
    return {
        "muller": make_episode(ctx, "MRN-1001", "Müller", "Jürgen", date(2027, 1, 12)),
        "obrien": make_episode(ctx, "MRN-2002", "O'Brien", "Siobhán", date(2027, 1, 20)),
        "percent": make_episode(ctx, "AB_7", "Hundred%", "Sami", date(2027, 2, 1)),
        "rossi": make_episode(ctx, "ABC7", "Rossi", "Ana", date(2027, 2, 10)),
    }


def found(ctx: ServiceContext, search: str) -> set[str]:
    return {row.mrn for row in worklist(ctx, search=search)}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("Müller", {"MRN-1001"}),  # family name
        ("Siobhán", {"MRN-2002"}),  # given name
        ("Jürgen Müller", {"MRN-1001"}),  # "Given Family"
        ("O'Brien, Siob", {"MRN-2002"}),  # "Family, Given"
        ("2002", {"MRN-2002"}),  # MRN substring
        ("mrn-", {"MRN-1001", "MRN-2002"}),
        ("ROSSI", {"ABC7"}),  # case-insensitive
        ("o'brien", {"MRN-2002"}),
        ("  rossi  ", {"ABC7"}),  # surrounding spaces ignored
        ("", {"MRN-1001", "MRN-2002", "AB_7", "ABC7"}),
        ("Nobody", set()),
    ],
)
def test_worklist_search(
    ctx: ServiceContext, clinic: dict[str, int], search: str, expected: set[str]
) -> None:
    assert found(ctx, search) == expected


def test_search_treats_like_wildcards_literally(
    ctx: ServiceContext, clinic: dict[str, int]
) -> None:
    assert found(ctx, "%") == {"AB_7"}
    assert found(ctx, "B_7") == {"AB_7"}  # as a wildcard "_" would also match "ABC7"
    assert found(ctx, "_") == {"AB_7"}
    assert found(ctx, "d%s") == set()  # as a wildcard "%" would match "Hundred%" + "Sami"…
    assert found(ctx, "\\") == set()


def test_search_is_case_insensitive_beyond_ascii(ctx: ServiceContext) -> None:
    make_episode(ctx, "MRN-3003", "Öztürk", "Émile")
    assert found(ctx, "öztürk") == {"MRN-3003"}
    assert found(ctx, "émile") == {"MRN-3003"}


def test_worklist_stage_filter(ctx: ServiceContext, clinic: dict[str, int]) -> None:
    complete_stage(ctx, clinic["obrien"], "preparation")
    assert {r.mrn for r in worklist(ctx, stage="procedure")} == {"MRN-2002"}
    assert {r.mrn for r in worklist(ctx, stage="preparation")} == {"MRN-1001", "AB_7", "ABC7"}
    assert worklist(ctx, stage="stay") == []
    (row,) = worklist(ctx, stage="procedure")
    assert row.stage_name == "Procedure"
    assert row.patient_name == "O'Brien, Siobhán"


def test_worklist_search_and_stage_combine(ctx: ServiceContext, clinic: dict[str, int]) -> None:
    complete_stage(ctx, clinic["obrien"], "preparation")
    assert {r.mrn for r in worklist(ctx, search="MRN", stage="procedure")} == {"MRN-2002"}
    assert worklist(ctx, search="Rossi", stage="procedure") == []


@pytest.fixture
def statuses(ctx: ServiceContext) -> dict[str, int]:
    """One episode on each side of each status boundary (today 2026-11-26, window 14 days)."""
    episodes = {
        "yesterday": due_on(ctx, "D-YESTERDAY", date(2026, 11, 25), "Aalto"),
        "today": due_on(ctx, "D-TODAY", date(2026, 11, 26), "Berg"),
        "plus14": due_on(ctx, "D-PLUS14", date(2026, 12, 10), "Costa"),
        "plus15": due_on(ctx, "D-PLUS15", date(2026, 12, 11), "Dahl"),
        "undated": make_episode(ctx, "D-NONE", "Ek", "Ola", date(2026, 10, 1)),
    }
    # Everything but the first refill (which has no date of its own) is done.
    keys = ids(ctx, episodes["undated"])
    for key, milestone_id in sorted(keys.items(), key=lambda item: item[1]):
        if key != "first-refill":
            mark_done(ctx, milestone_id)
    return episodes


def test_statuses_fixture_is_what_it_claims(ctx: ServiceContext, statuses: dict[str, int]) -> None:
    undated = episode(ctx, statuses["undated"])
    assert (undated.current_stage, undated.next_action, undated.next_due_on) == (
        "follow-up",
        "First reservoir refill",
        None,
    )
    assert episode(ctx, statuses["today"]).next_due_on == TODAY


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (DueStatus.OVERDUE, {"D-YESTERDAY"}),
        (DueStatus.DUE_SOON, {"D-TODAY", "D-PLUS14"}),
        (DueStatus.ON_TRACK, {"D-PLUS15"}),
        (DueStatus.NO_DATE, {"D-NONE"}),
    ],
)
def test_worklist_status_filter_boundaries(
    ctx: ServiceContext, statuses: dict[str, int], status: DueStatus, expected: set[str]
) -> None:
    rows = worklist(ctx, status=status)
    assert {r.mrn for r in rows} == expected
    assert {r.status for r in rows} == {status}


def test_worklist_default_order_is_most_urgent_first(
    ctx: ServiceContext, statuses: dict[str, int]
) -> None:
    rows = worklist(ctx)
    assert [r.mrn for r in rows] == ["D-YESTERDAY", "D-TODAY", "D-PLUS14", "D-PLUS15", "D-NONE"]
    assert [r.status for r in rows] == [
        DueStatus.OVERDUE,
        DueStatus.DUE_SOON,
        DueStatus.DUE_SOON,
        DueStatus.ON_TRACK,
        DueStatus.NO_DATE,
    ]


def test_worklist_order_follows_due_date_not_registration(ctx: ServiceContext) -> None:
    due_on(ctx, "LATE", date(2027, 3, 1), "Zeta")
    due_on(ctx, "EARLY", date(2026, 12, 1), "Alpha")
    due_on(ctx, "MIDDLE", date(2027, 1, 1), "Mu")
    assert [r.mrn for r in worklist(ctx)] == ["EARLY", "MIDDLE", "LATE"]


# --- episode_view ----------------------------------------------------------------------------


def test_episode_view_stages_in_order_with_states(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    complete_stage(ctx, episode_id, "preparation")
    view = episode_view(ctx, episode_id)
    assert [(s.key, s.name, s.state) for s in view.stages] == [
        ("preparation", "Preparation", StageState.DONE),
        ("procedure", "Procedure", StageState.CURRENT),
        ("stay", "Hospital stay", StageState.UPCOMING),
        ("follow-up", "Follow-up", StageState.UPCOMING),
    ]
    preparation = view.stages[0]
    assert preparation.resolved_count == len(preparation.milestones) == 8
    assert all(m.status is None for m in preparation.milestones)
    assert view.stages[1].milestones[0].status is DueStatus.ON_TRACK
    assert view.current_stage == "procedure"
    assert view.patient_name == "Müller, Jürgen"
    assert view.indication == "Chronic non-cancer pain"
    assert view.setting == "Hospital operating room"
    assert view.planned_procedure_on == PLANNED


def test_episode_view_history_is_newest_first(ctx: ServiceContext, clock: FixedClock) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    clock.set(NOW + timedelta(hours=1))
    mark_done(ctx, keys["screening-trial"])
    clock.set(NOW + timedelta(hours=2))
    mark_skipped(ctx, keys["psych-evaluation"], "Done elsewhere")
    history = episode_view(ctx, episode_id).history
    assert [(h.action, h.milestone) for h in history] == [
        ("milestone.skipped", "Psychological evaluation"),
        ("milestone.done", "Screening trial documented"),
        ("episode.opened", ""),
    ]
    assert [h.at for h in history] == [
        NOW + timedelta(hours=2),
        NOW + timedelta(hours=1),
        NOW,
    ]


def test_episode_view_history_same_moment_keeps_newest_first(ctx: ServiceContext) -> None:
    episode_id = make_episode(ctx)
    keys = ids(ctx, episode_id)
    mark_done(ctx, keys["mri-spine"])
    undo_mark(ctx, keys["mri-spine"])
    actions = [h.action for h in episode_view(ctx, episode_id).history]
    assert actions == ["milestone.undone", "milestone.done", "episode.opened"]
