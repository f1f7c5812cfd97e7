"""Preparation and procedure records (issue 5): what the readiness gate and the operation record
are computed from.

One `PreparationRecord` and one `ProcedureRecord` per episode hold the single-valued facts;
tests, medications, intakes, overrides and intra-operative events are rows of their own. Lists of
keys and names are JSON text (as on the fill rows). Nothing here is a computed verdict: the
readiness and the procedure flags are recomputed from these rows by the domain rules, so a
corrected hold table or validity window applies to every open episode at once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pathway_app.storage.orm import Base, UTCDateTime


class PreparationRecord(Base):
    """The single-valued preparation facts of one episode.

    Attributes:
        procedure_start: the scheduled start of the operation (fasting and holds are judged
            against it); None while not scheduled.
        confirmations: JSON list of confirmation keys stated true (readiness.toml).
        inr_normal: the reviewed INR is normal (True/False) or not recorded (None).
    """

    __tablename__ = "preparation_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    procedure_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trial_on: Mapped[date | None] = mapped_column(Date)
    trial_drug: Mapped[str] = mapped_column(String(200), default="")
    trial_dose: Mapped[str] = mapped_column(String(200), default="")
    trial_percent_relief: Mapped[float | None] = mapped_column(Float)
    trial_positive_response: Mapped[bool | None] = mapped_column()
    psych_done_on: Mapped[date | None] = mapped_column(Date)
    psych_by: Mapped[str] = mapped_column(String(100), default="")
    psych_cleared: Mapped[bool | None] = mapped_column()
    psych_note: Mapped[str] = mapped_column(Text, default="")
    consent_on: Mapped[date | None] = mapped_column(Date)
    # Issue 10: JSON list of the alternatives discussed at consent (outcomes.toml keys).
    consent_alternatives: Mapped[str] = mapped_column(Text, default="[]")
    confirmations: Mapped[str] = mapped_column(Text, default="[]")
    medications_reviewed: Mapped[bool] = mapped_column(default=False)
    inr_normal: Mapped[bool | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class PreopTestRecord(Base):
    """One pre-operative test of an episode: ordered → resulted → reviewed."""

    __tablename__ = "preop_tests"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    ordered_on: Mapped[date | None] = mapped_column(Date)
    resulted_on: Mapped[date | None] = mapped_column(Date)
    result: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str] = mapped_column(String(100), default="")
    reviewed_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("episode_id", "key"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class MedicationRecord(Base):
    """A drug on the episode's adjustment list, with the clinician's decision where one is
    needed (shared decision, unverified hold-table row, drug not in the table)."""

    __tablename__ = "preparation_medications"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    drug_key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    last_dose_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    instruction: Mapped[str] = mapped_column(Text, default="")
    decision_by: Mapped[str] = mapped_column(String(100), default="")
    decision_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class IntakeRecord(Base):
    """The last intake of one kind (clear fluids, light meal, ...) before the operation."""

    __tablename__ = "preparation_intakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    nothing_since: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("episode_id", "kind"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ReadinessOverride(Base):
    """An authorised decision to proceed although gates are unmet. Append-only: the newest row
    of an episode is the one in force; older rows are its history.

    Attributes:
        authorised_by: the clinician who authorised it (may differ from who typed it).
        gates: JSON list of {"key", "name", "reason"}: the unmet gates it was given for; it
            covers only these gate keys.
    """

    __tablename__ = "readiness_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    authorised_by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    gates: Mapped[str] = mapped_column(Text, default="[]")


class ProcedureRecord(Base):
    """The operation record of one episode.

    Attributes:
        steps: JSON object step key -> ISO time (UTC), in procedure order.
        personnel: JSON object role key -> list of names.
        checklist: JSON list of the WHO checklist item keys ticked.
        pump_id: the pump recorded through the refill service (its initial fill starts the
            refill schedule); None until recorded.
    """

    __tablename__ = "procedure_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), unique=True)
    anaesthesia: Mapped[str] = mapped_column(String(64), default="")
    setting: Mapped[str] = mapped_column(String(64), default="")
    personnel: Mapped[str] = mapped_column(Text, default="{}")
    steps: Mapped[str] = mapped_column(Text, default="{}")
    checklist: Mapped[str] = mapped_column(Text, default="[]")
    antibiotic: Mapped[str] = mapped_column(String(100), default="")
    antibiotic_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csf_flow_confirmed: Mapped[bool] = mapped_column(default=False)
    catheter_tip_level: Mapped[str] = mapped_column(String(64), default="")
    pocket_depth_cm: Mapped[float | None] = mapped_column(Float)
    pump_id: Mapped[int | None] = mapped_column(ForeignKey("implanted_pumps.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ProcedureEvent(Base):
    """An intra-operative event or complication: free text and risk-list categories.

    Attributes:
        categories: JSON list of complication category keys (recovery.toml).
    """

    __tablename__ = "procedure_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
    categories: Mapped[str] = mapped_column(Text, default="[]")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
