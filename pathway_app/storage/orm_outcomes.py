"""Outcome entries (issue 10): scores, oral opioids and side effects at baseline and each visit.

Each row copies what it needs when it is written (the oral opioids with the MME factor used and
whether it was verified), so a later edit of ``outcomes.toml`` never rewrites a patient's
history. The episode's outcome summary columns live on `Episode` (orm.py) and are recomputed
by ``services.episodes.refresh_progress``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pathway_app.storage.orm import Base, UTCDateTime


class OutcomeEntry(Base):
    """One outcome assessment.

    Attributes:
        kind: "baseline", "follow-up" or "refill".
        pain_nrs: pain intensity 0-10 (LOINC 72514-3) or None.
        ashworth: Modified Ashworth grade ("0", "1", "1+", "2", "3", "4") or None.
        oral_doses: JSON list of {drug, name, amount, unit, factor, mme, verified}.
        oral_mme: total oral MME/day; ``mme_verified`` False when any factor was unverified.
        side_effects: JSON list of side-effect keys (domain.outcomes.SIDE_EFFECTS).
    """

    __tablename__ = "outcome_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    assessed_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    pain_nrs: Mapped[int | None] = mapped_column(Integer)
    ashworth: Mapped[str | None] = mapped_column(String(4))
    function_text: Mapped[str] = mapped_column(String(200), default="")
    function_score: Mapped[int | None] = mapped_column(Integer)
    oral_doses: Mapped[str] = mapped_column(Text, default="[]")
    oral_mme: Mapped[float] = mapped_column(Float, default=0.0)
    mme_verified: Mapped[bool] = mapped_column(default=True)
    side_effects: Mapped[str] = mapped_column(Text, default="[]")
    side_effect_other: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_outcome_entries_episode_id_assessed_on", "episode_id", "assessed_on"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
