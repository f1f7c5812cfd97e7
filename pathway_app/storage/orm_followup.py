"""Models of the hospital stay, recovery and follow-up (issue 6).

Rows copy what they need from ``recovery.toml`` when they are written (checklist names,
complication and severity names, red-flag names, restriction texts), so a later edit of the
file never rewrites a patient's history. The episode's worklist columns that summarise these
rows live on `Episode` (orm.py) and are recomputed by ``services.episodes.refresh_progress``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pathway_app.storage.orm import Base, UTCDateTime


class HospitalStay(Base):
    """The stay after the operation: admission, discharge, restrictions and wound care.

    Attributes:
        restrictions: JSON list of the restriction texts given to this patient (copied from
            ``recovery.toml`` at admission; the coordinator can edit them).
        restrictions_end_on: last day the restrictions apply (inclusive).
        discharge_overridden: discharged with checklist items open; then
            ``discharge_override_reason`` and ``discharge_open_items`` (JSON list of keys) say
            why and what.
    """

    __tablename__ = "hospital_stays"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    admitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    discharged_by: Mapped[str | None] = mapped_column(String(100))
    discharge_overridden: Mapped[bool] = mapped_column(default=False)
    discharge_override_reason: Mapped[str] = mapped_column(Text, default="")
    discharge_open_items: Mapped[str] = mapped_column(Text, default="[]")
    restrictions: Mapped[str] = mapped_column(Text, default="[]")
    restrictions_end_on: Mapped[date | None] = mapped_column(Date)
    wound_care_given_by: Mapped[str | None] = mapped_column(String(100))
    wound_care_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wound_care_notes: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class DischargeCheck(Base):
    """A ticked item of the discharge checklist; unticking deletes the row (the audit keeps it)."""

    __tablename__ = "discharge_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    ticked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ticked_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("episode_id", "key"),)


class MonitoringNote(Base):
    """A post-operative monitoring note (CSF leak, wound, pump operation)."""

    __tablename__ = "monitoring_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    author: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))


class ComplicationEntry(Base):
    """One entry of the episode's complication log; open while ``resolved_on`` is empty.

    ``severity_rank`` is the severity's position in the file (0 = mildest), copied so the
    worklist summary orders entries without the configuration.
    """

    __tablename__ = "complications"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    category: Mapped[str] = mapped_column(String(64))
    category_name: Mapped[str] = mapped_column(String(200))
    onset_on: Mapped[date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(32))
    severity_name: Mapped[str] = mapped_column(String(100))
    severity_rank: Mapped[int] = mapped_column(Integer, default=0)
    action_taken: Mapped[str] = mapped_column(Text, default="")
    resolved_on: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_complications_episode_id_resolved_on", "episode_id", "resolved_on"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class RedFlagReport(Base):
    """A red-flag symptom ticked during a call: an urgent worklist item until resolved."""

    __tablename__ = "red_flag_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    flag_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raised_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolution: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_red_flag_reports_episode_id_resolved_at", "episode_id", "resolved_at"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class FollowUpEntry(Base):
    """One follow-up item (see ``domain.followup.FollowUpItem``; same fields, stored).

    ``status`` is what was last written; an open item whose due day has passed is shown as
    missed at once (the read models apply ``evaluate_missed`` with the app clock) and is
    written as missed by the next sweep, with ``missed_on``.
    """

    __tablename__ = "followup_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"))
    key: Mapped[str] = mapped_column(String(64), default="")
    purpose: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date] = mapped_column(Date)
    window_opens_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    notes: Mapped[str] = mapped_column(Text, default="")
    series_id: Mapped[str | None] = mapped_column(String(64))
    occurrence: Mapped[int | None] = mapped_column(Integer)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missed_on: Mapped[date | None] = mapped_column(Date)
    resolution: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_followup_items_episode_id_status_due_on", "episode_id", "status", "due_on"),
        Index("ix_followup_items_status_due_on", "status", "due_on"),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class EpisodeClosure(Base):
    """Why and when an episode was closed (pump explanted, patient transferred, deceased)."""

    __tablename__ = "episode_closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_by: Mapped[str] = mapped_column(String(100))
