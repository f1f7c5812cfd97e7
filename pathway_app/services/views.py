"""Read models for the screens, built inside the session so no ORM object reaches Qt."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pathway_app.domain.progress import DueStatus, StageState, due_status, stage_states
from pathway_app.services.context import ServiceContext
from pathway_app.storage import repository as repo

# Re-exported: the worklist screen builds filters without importing storage.
from pathway_app.storage.repository import WorklistCursor as WorklistCursor
from pathway_app.storage.repository import WorklistFilter as WorklistFilter
from pathway_app.storage.repository import worklist_order_indexed as worklist_order_indexed


@dataclass(frozen=True)
class WorklistRow:
    episode_id: int
    patient_id: int
    patient_name: str
    mrn: str
    indication: str
    stage_key: str | None
    stage_name: str
    next_action: str
    next_due_on: date | None
    status: DueStatus
    # --- Issue 6: follow-up, complications, red flags, closed episodes ---
    # "milestone", "followup" (an open follow-up item is next) or "missed" (a follow-up item's
    # due day has passed: it stays until resolved, whatever the filters).
    next_action_kind: str = "milestone"
    urgent: bool = False
    urgent_summary: str = ""
    open_complications: int = 0
    complication_summary: str = ""
    closed: bool = False
    # --- Issue 10: outcome change since baseline and its flag ("" = not flagged) ---
    outcome_summary: str = ""
    outcome_flag: str = ""


@dataclass(frozen=True)
class MilestoneView:
    id: int
    key: str
    name: str
    detail: str
    gate: bool
    stage_key: str
    state: str
    due_on: date | None
    done_at: datetime | None
    done_by: str | None
    skip_reason: str | None
    note: str | None
    status: DueStatus | None  # None once the milestone is resolved
    version: int = 0  # what the user saw; marks pass it back (optimistic concurrency)


@dataclass(frozen=True)
class StageView:
    key: str
    name: str
    state: StageState
    milestones: tuple[MilestoneView, ...]

    @property
    def resolved_count(self) -> int:
        return sum(1 for m in self.milestones if m.state != "planned")


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    milestone: str
    detail: dict[str, dict[str, object]]


@dataclass(frozen=True)
class EpisodeView:
    id: int
    patient_id: int
    patient_name: str
    mrn: str
    birth_date: date
    indication: str
    drug: str
    pump_model: str
    planned_procedure_on: date
    surgeon: str
    setting: str
    status: str
    current_stage: str | None
    next_action: str
    next_due_on: date | None
    due_status: DueStatus
    stages: tuple[StageView, ...]
    history: tuple[HistoryEntry, ...]
    # As on the worklist (`next_action_of`): "milestone", "followup" or "missed".
    next_action_kind: str = "milestone"


def worklist_filter(
    ctx: ServiceContext,
    *,
    search: str = "",
    stage: str | None = None,
    status: DueStatus | None = None,
    include_closed: bool = False,
    sort: str = "urgency",
    descending: bool = False,
) -> WorklistFilter:
    """The worklist's filters with today's date and the template's "due soon" window;
    ``sort`` is "urgency" (the worklist's own order) or a key of
    ``repository.WORKLIST_SORTS``."""
    return WorklistFilter(
        today=ctx.today(),
        due_soon_days=ctx.template.parameter("due_soon_days"),
        search=search,
        stage=stage,
        status=status,
        include_closed=include_closed,
        sort=sort,
        descending=descending,
    )


def worklist(
    ctx: ServiceContext,
    *,
    search: str = "",
    stage: str | None = None,
    status: DueStatus | None = None,
    include_closed: bool = False,
) -> list[WorklistRow]:
    """The open episodes (and the closed ones with ``include_closed``), most urgent first,
    filtered in the database. A missed follow-up item or an open red flag is never filtered
    out by stage or status (see ``repository.worklist_query``).

    Every row at once (exports, tests); the screen pages with `worklist_page` instead."""
    where = worklist_filter(
        ctx, search=search, stage=stage, status=status, include_closed=include_closed
    )
    query = repo.worklist_query(
        today=where.today,
        due_soon_days=where.due_soon_days,
        search=search,
        stage=stage,
        status=status,
        include_closed=include_closed,
    )
    with ctx.db.reading() as session:
        return [
            _worklist_row(ctx, row, where.today, where.due_soon_days)
            for row in repo.worklist(session, query)
        ]


@dataclass(frozen=True)
class WorklistPage:
    """Some rows of the worklist and how many rows it has in all (issue 9). ``cursor`` is
    where the page ended (None when empty): pass it as ``after`` for the next page."""

    rows: tuple[WorklistRow, ...]
    total: int
    cursor: repo.WorklistCursor | None = None


def worklist_page(
    ctx: ServiceContext,
    where: WorklistFilter,
    *,
    offset: int = 0,
    limit: int = 100,
    with_total: bool = True,
    after: repo.WorklistCursor | None = None,
) -> WorklistPage:
    """Rows ``offset`` to ``offset + limit`` of the worklist in its order (the same rows as
    `worklist`), read in one transaction with the total (-1 without ``with_total``).

    With ``after``, the previous page's ``cursor``, the page continues after that page's last
    row through the index (the cost does not grow with the depth); it is ignored when it does
    not end at ``offset``. Safe to call from a worker thread: the session is its own."""
    with ctx.db.reading() as session:
        total = repo.worklist_count(session, where) if with_total else -1
        found = repo.worklist_page(session, where, offset, limit, after)
        rows = tuple(_worklist_row(ctx, row, where.today, where.due_soon_days) for row in found)
    cursor = repo.worklist_cursor(found[-1], offset + len(found)) if found else None
    return WorklistPage(rows=rows, total=total, cursor=cursor)


def next_action_of(
    milestone_action: str,
    milestone_due_on: date | None,
    followup_action: str,
    followup_due_on: date | None,
    today: date,
) -> tuple[str, date | None, str]:
    """What is next for an episode: (action, due day, kind), kind being "milestone",
    "followup" or "missed". The follow-up item is next when it is missed (its due day has
    passed: it must not hide behind an overdue milestone) or due no later than the next
    milestone. The worklist row and the episode's header both say this."""
    follow = followup_due_on
    if follow is not None and (
        milestone_due_on is None
        or follow <= milestone_due_on
        or follow < today
        or not milestone_action
    ):
        return followup_action, follow, "missed" if follow < today else "followup"
    return milestone_action, milestone_due_on, "milestone"


def _worklist_row(ctx: ServiceContext, row: Any, today: date, soon: int) -> WorklistRow:
    """One row from the stored columns only (``repository.WORKLIST_COLUMNS``; no per-row
    queries)."""
    action, due, kind = next_action_of(
        row.next_action, row.next_due_on, row.followup_action, row.followup_due_on, today
    )
    return WorklistRow(
        episode_id=row.id,
        patient_id=row.patient_id,
        patient_name=f"{row.family_name}, {row.given_name}",
        mrn=row.mrn,
        indication=ctx.indication_name(row.indication),
        stage_key=row.current_stage,
        stage_name=ctx.stage_name(row.current_stage),
        next_action=action,
        next_due_on=due,
        status=due_status(row.attention_due_on, today, soon),
        next_action_kind=kind,
        urgent=row.urgent_since is not None and row.status == "open",
        urgent_summary=row.urgent_summary,
        open_complications=row.open_complications,
        complication_summary=row.complication_summary,
        closed=row.status != "open",
        outcome_summary=row.outcome_summary,  # issue 10
        outcome_flag=row.outcome_flag,
    )


def episode_view(ctx: ServiceContext, episode_id: int) -> EpisodeView:
    today = ctx.today()
    soon = ctx.template.parameter("due_soon_days")
    with ctx.db.reading() as session:
        episode = repo.episode_with_milestones(session, episode_id)
        stage_order: list[tuple[str, str]] = []
        for m in episode.milestones:
            if (m.stage_key, m.stage_name) not in stage_order:
                stage_order.append((m.stage_key, m.stage_name))
        states = stage_states([key for key, _ in stage_order], episode.current_stage)
        stages = tuple(
            StageView(
                key=key,
                name=name,
                state=states[key],
                milestones=tuple(
                    MilestoneView(
                        id=m.id,
                        key=m.key,
                        name=m.name,
                        detail=m.detail,
                        gate=m.gate,
                        stage_key=m.stage_key,
                        state=m.state,
                        due_on=m.due_on,
                        done_at=m.done_at,
                        done_by=m.done_by,
                        skip_reason=m.skip_reason,
                        note=m.note,
                        status=due_status(m.due_on, today, soon) if m.state == "planned" else None,
                        version=m.version,
                    )
                    for m in episode.milestones
                    if m.stage_key == key
                ),
            )
            for key, name in stage_order
        )
        names = {m.id: m.name for m in episode.milestones}
        history = tuple(
            HistoryEntry(
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                milestone=names.get(entry.entity_id, "") if entry.entity == "milestone" else "",
                detail=json.loads(entry.detail),
            )
            for entry in repo.episode_history(session, episode_id)
        )
        patient = episode.patient
        action, due, kind = next_action_of(
            episode.next_action,
            episode.next_due_on,
            episode.followup_action,
            episode.followup_due_on,
            today,
        )
        return EpisodeView(
            id=episode.id,
            patient_id=patient.id,
            patient_name=f"{patient.family_name}, {patient.given_name}",
            mrn=patient.mrn,
            birth_date=patient.birth_date,
            indication=ctx.indication_name(episode.indication),
            drug=ctx.drug_name(episode.drug),
            pump_model=ctx.pump_name(episode.pump_model),
            planned_procedure_on=episode.planned_procedure_on,
            surgeon=episode.surgeon,
            setting=ctx.setting_name(episode.setting),
            status=episode.status,
            current_stage=episode.current_stage,
            next_action=action,
            next_due_on=due,
            # The flag the worklist shows: the earliest thing needing attention.
            due_status=due_status(episode.attention_due_on, today, soon),
            stages=stages,
            history=history,
            next_action_kind=kind,
        )
