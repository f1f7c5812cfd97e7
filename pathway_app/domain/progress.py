"""Where an episode stands: the current stage, the next action and how urgent it is.

The services store the result on the episode row whenever a milestone changes, so the worklist
reads it with one indexed query instead of recomputing every episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class MilestoneState(StrEnum):
    PLANNED = "planned"
    DONE = "done"
    SKIPPED = "skipped"


class StageState(StrEnum):
    DONE = "done"
    CURRENT = "current"
    UPCOMING = "upcoming"


class DueStatus(StrEnum):
    """Worklist flag; the order of `URGENCY` is the order a coordinator works through."""

    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    ON_TRACK = "on_track"
    NO_DATE = "no_date"


URGENCY: tuple[DueStatus, ...] = (
    DueStatus.OVERDUE,
    DueStatus.DUE_SOON,
    DueStatus.ON_TRACK,
    DueStatus.NO_DATE,
)


@dataclass(frozen=True)
class MilestonePosition:
    """The few facts about a milestone that progress depends on."""

    key: str
    name: str
    stage_key: str
    stage_position: int
    position: int
    state: MilestoneState
    due_on: date | None


@dataclass(frozen=True)
class Progress:
    """Attributes:
    current_stage: key of the first stage with an open milestone; the last stage once all
        are resolved, because follow-up goes on for as long as the pump is implanted.
    next_milestone: key of the open milestone to act on next, None when nothing is open.
    next_action: its name, or an empty string.
    next_due_on: the earliest due date among the open milestones of the current stage.
    """

    current_stage: str | None
    next_milestone: str | None
    next_action: str
    next_due_on: date | None


def episode_progress(milestones: Sequence[MilestonePosition]) -> Progress:
    """Work out the current stage and the next action from the milestones' states.

    The next action is the open milestone of the current stage that is due first (undated ones
    after dated ones, ties in pathway order), because an overdue task must not hide behind an
    earlier step that has a later date.
    """
    open_items = [m for m in milestones if m.state is MilestoneState.PLANNED]
    if not open_items:
        if not milestones:
            return Progress(None, None, "", None)
        last = max(milestones, key=lambda m: (m.stage_position, m.position))
        return Progress(last.stage_key, None, "", None)
    current = min(open_items, key=lambda m: (m.stage_position, m.position))
    in_stage = [m for m in open_items if m.stage_key == current.stage_key]
    nxt = min(
        in_stage,
        key=lambda m: (m.due_on is None, m.due_on or date.max, m.position),
    )
    return Progress(current.stage_key, nxt.key, nxt.name, nxt.due_on)


def stage_states(stage_keys: Sequence[str], current_stage: str | None) -> dict[str, StageState]:
    """Each stage before the current one is done, the current one current, the rest upcoming."""
    if current_stage is None:
        return {key: StageState.DONE for key in stage_keys}
    states: dict[str, StageState] = {}
    seen_current = False
    for key in stage_keys:
        if key == current_stage:
            states[key] = StageState.CURRENT
            seen_current = True
        else:
            states[key] = StageState.UPCOMING if seen_current else StageState.DONE
    return states


def due_status(due_on: date | None, today: date, due_soon_days: int) -> DueStatus:
    """Classify a due date against today: overdue after the due day, due soon within the window."""
    if due_on is None:
        return DueStatus.NO_DATE
    if due_on < today:
        return DueStatus.OVERDUE
    if due_on <= today + timedelta(days=due_soon_days):
        return DueStatus.DUE_SOON
    return DueStatus.ON_TRACK


def milestone_due_on(planned_procedure_on: date, offset_days: int | None) -> date | None:
    """Due date of a template milestone for an episode's planned procedure date."""
    if offset_days is None:
        return None
    return planned_procedure_on + timedelta(days=offset_days)
