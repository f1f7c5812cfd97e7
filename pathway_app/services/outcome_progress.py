"""The episode's outcome summary columns (issue 10).

Called only from ``services.episodes.refresh_progress``, the one place that recomputes an
episode's worklist fields. The summary depends only on the stored entries (each entry keeps the
MME it was recorded with), so it never goes stale when ``outcomes.toml`` is edited.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from pathway_app.domain.outcomes import OutcomePoint, OutcomeSummary, summarise
from pathway_app.services.context import default_outcomes
from pathway_app.storage import outcome_queries as oq
from pathway_app.storage.orm import Episode
from pathway_app.storage.orm_outcomes import OutcomeEntry

SUMMARY_MAX = 200
FLAG_MAX = 300


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def point(entry: OutcomeEntry) -> OutcomePoint:
    return OutcomePoint(
        on=entry.assessed_on,
        kind=entry.kind,
        pain_nrs=entry.pain_nrs,
        ashworth=entry.ashworth,
        function_score=entry.function_score,
        oral_mme=entry.oral_mme,
        side_effects=frozenset(json.loads(entry.side_effects)),
        entry_id=entry.id,
    )


def episode_summary(session: Session, episode: Episode) -> OutcomeSummary:
    kind = default_outcomes().score_kind(episode.indication)
    return summarise([point(e) for e in oq.entries(session, episode.id)], kind)


def refresh_outcome_fields(session: Session, episode: Episode) -> None:
    """Set ``outcome_summary`` (change since baseline) and ``outcome_flag`` (why the outcome
    needs a look; "" when it does not)."""
    summary = episode_summary(session, episode)
    episode.outcome_summary = _clip(summary.text, SUMMARY_MAX)
    episode.outcome_flag = _clip(summary.flag_text, FLAG_MAX)
