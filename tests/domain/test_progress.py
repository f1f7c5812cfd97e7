"""Episode progress: current stage, next action and due status, as the worklist shows them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from pathway_app.domain.progress import (
    URGENCY,
    DueStatus,
    MilestonePosition,
    MilestoneState,
    Progress,
    StageState,
    due_status,
    episode_progress,
    milestone_due_on,
    stage_states,
)

TODAY = date(2026, 11, 26)
STAGES = ["prep", "proc", "stay", "follow"]

P = MilestoneState.PLANNED
D = MilestoneState.DONE
S = MilestoneState.SKIPPED


def ms(
    key: str, stage: str, position: int, due: date | None, state: MilestoneState = P
) -> MilestonePosition:
    return MilestonePosition(
        key=key,
        name=f"Name of {key}",
        stage_key=stage,
        stage_position=STAGES.index(stage),
        position=position,
        state=state,
        due_on=due,
    )


def pathway() -> list[MilestonePosition]:
    """A small pathway; in preparation the second step is due before the first."""
    return [
        ms("trial", "prep", 0, date(2026, 11, 10)),
        ms("mri", "prep", 1, date(2026, 11, 3)),
        ms("consent", "prep", 2, None),
        ms("incision", "proc", 0, date(2026, 12, 1)),
        ms("closure", "proc", 1, date(2026, 12, 1)),
        ms("discharge", "stay", 0, date(2026, 12, 3)),
        ms("wound", "follow", 0, date(2026, 12, 15)),
        ms("refill", "follow", 1, None),
    ]


def with_states(
    items: list[MilestonePosition], **states: MilestoneState
) -> list[MilestonePosition]:
    return [replace(m, state=states.get(m.key, m.state)) for m in items]


# --- episode_progress ------------------------------------------------------------------------


def test_all_planned_first_stage_is_current_and_earliest_due_is_next() -> None:
    progress = episode_progress(pathway())
    assert progress == Progress("prep", "mri", "Name of mri", date(2026, 11, 3))


def test_next_action_ignores_later_stages_even_if_they_are_due_earlier() -> None:
    items = pathway()
    items[3] = replace(items[3], due_on=date(2026, 1, 1))  # a procedure step "due" long ago
    assert episode_progress(items).next_milestone == "mri"


def test_ties_on_due_date_go_in_pathway_order() -> None:
    items = with_states(pathway(), trial=D, mri=D, consent=D)
    # Both procedure steps are due the same day; the earlier position wins, whatever the order.
    assert episode_progress(items).next_milestone == "incision"
    assert episode_progress(list(reversed(items))).next_milestone == "incision"


def test_undated_milestones_come_after_dated_ones() -> None:
    items = [
        ms("undated", "prep", 0, None),
        ms("dated", "prep", 1, date(2027, 6, 1)),
    ]
    progress = episode_progress(items)
    assert progress.next_milestone == "dated"
    assert progress.next_due_on == date(2027, 6, 1)


def test_only_undated_open_milestones_give_no_due_date() -> None:
    items = with_states(pathway(), trial=D, mri=S)
    assert episode_progress(items) == Progress("prep", "consent", "Name of consent", None)


def test_stage_advances_when_all_its_milestones_are_done_or_skipped() -> None:
    items = with_states(pathway(), trial=D, mri=S, consent=D)
    progress = episode_progress(items)
    assert progress.current_stage == "proc"
    assert progress.next_milestone == "incision"
    assert progress.next_due_on == date(2026, 12, 1)


def test_stage_does_not_advance_while_one_milestone_is_open() -> None:
    items = with_states(pathway(), trial=D, mri=D)
    assert episode_progress(items).current_stage == "prep"


def test_an_undone_milestone_in_an_earlier_stage_moves_the_stage_back() -> None:
    done = {m.key: D for m in pathway() if m.stage_key in ("prep", "proc")}
    assert episode_progress(with_states(pathway(), **done)).current_stage == "stay"
    done["mri"] = P  # the MRI mark was a mistake and is undone
    progress = episode_progress(with_states(pathway(), **done))
    assert progress.current_stage == "prep"
    assert progress.next_milestone == "mri"


def test_all_resolved_keeps_last_stage_current_with_no_next_action() -> None:
    items = with_states(pathway(), **{m.key: D for m in pathway()})
    items[-1] = replace(items[-1], state=S)
    assert episode_progress(items) == Progress("follow", None, "", None)


def test_all_resolved_last_stage_does_not_depend_on_list_order() -> None:
    items = with_states(pathway(), **{m.key: D for m in pathway()})
    assert episode_progress(list(reversed(items))).current_stage == "follow"


def test_no_milestones_gives_no_stage() -> None:
    assert episode_progress([]) == Progress(None, None, "", None)


# --- stage_states ----------------------------------------------------------------------------


def test_stage_states_before_current_done_after_upcoming() -> None:
    assert stage_states(STAGES, "stay") == {
        "prep": StageState.DONE,
        "proc": StageState.DONE,
        "stay": StageState.CURRENT,
        "follow": StageState.UPCOMING,
    }


def test_stage_states_first_stage_current() -> None:
    states = stage_states(STAGES, "prep")
    assert states["prep"] is StageState.CURRENT
    assert [states[k] for k in STAGES[1:]] == [StageState.UPCOMING] * 3


def test_stage_states_without_current_stage() -> None:
    assert set(stage_states(STAGES, None).values()) == {StageState.DONE}


# --- due_status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (date(2026, 11, 25), DueStatus.OVERDUE),  # yesterday
        (date(2025, 1, 1), DueStatus.OVERDUE),
        (date(2026, 11, 26), DueStatus.DUE_SOON),  # today
        (date(2026, 12, 10), DueStatus.DUE_SOON),  # today + 14
        (date(2026, 12, 11), DueStatus.ON_TRACK),  # today + 15
        (date(2027, 6, 1), DueStatus.ON_TRACK),
        (None, DueStatus.NO_DATE),
    ],
)
def test_due_status_boundaries(due: date | None, expected: DueStatus) -> None:
    assert due_status(due, TODAY, 14) is expected


def test_due_status_window_follows_the_parameter() -> None:
    assert due_status(date(2026, 11, 27), TODAY, 0) is DueStatus.ON_TRACK
    assert due_status(TODAY, TODAY, 0) is DueStatus.DUE_SOON
    assert due_status(date(2026, 12, 3), TODAY, 7) is DueStatus.DUE_SOON
    assert due_status(date(2026, 12, 4), TODAY, 7) is DueStatus.ON_TRACK


def test_urgency_order() -> None:
    assert URGENCY == (
        DueStatus.OVERDUE,
        DueStatus.DUE_SOON,
        DueStatus.ON_TRACK,
        DueStatus.NO_DATE,
    )


# --- milestone_due_on ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0, date(2026, 12, 1)),
        (14, date(2026, 12, 15)),
        (-28, date(2026, 11, 3)),
        (56, date(2027, 1, 26)),  # across the year end
        (None, None),
    ],
)
def test_milestone_due_on(offset: int | None, expected: date | None) -> None:
    assert milestone_due_on(date(2026, 12, 1), offset) == expected
