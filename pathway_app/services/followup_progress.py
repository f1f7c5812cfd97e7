"""The episode's worklist fields for follow-up, complications and red flags (issue 6).

Called only from ``services.episodes.refresh_progress``, the one place that recomputes an
episode's worklist fields, after the milestone fields are set. Nothing here depends on the
clock: whether an item is missed is decided in SQL against today (``followup_due_on < today``),
so the stored fields never go stale overnight.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from pathway_app.storage import followup_queries as fq
from pathway_app.storage.orm import Episode

SUMMARY_MAX = 500


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def refresh_followup_fields(session: Session, episode: Episode) -> None:
    """Set ``followup_due_on/followup_action`` (the earliest planned, booked or missed item),
    ``attention_due_on`` (the earlier of it and the next milestone), the open complications
    and the earliest unresolved red flag."""
    item = fq.attention_item(session, episode.id)
    episode.followup_due_on = item.due_on if item is not None else None
    episode.followup_action = item.purpose if item is not None else ""
    dates = [d for d in (episode.next_due_on, episode.followup_due_on) if d is not None]
    episode.attention_due_on = min(dates) if dates else None

    entries = sorted(
        fq.open_complications(session, episode.id),
        key=lambda c: (-c.severity_rank, c.onset_on, c.id),
    )
    episode.open_complications = len(entries)
    episode.complication_summary = _clip(
        "; ".join(f"{c.category_name} ({c.severity_name})" for c in entries)
    )

    flags = fq.open_red_flags(session, episode.id)
    episode.urgent_since = flags[0].raised_at if flags else None
    titles = dict.fromkeys(f.title for f in flags)
    episode.urgent_summary = _clip("; ".join(titles))
