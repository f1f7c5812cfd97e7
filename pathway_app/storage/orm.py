"""SQLAlchemy 2 typed models.

Rows copy what they need from the template at creation (stage and milestone names, order), so a
later edit of the template never changes the history of an existing episode.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as naive UTC and hands them back aware, on every back end."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(32), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    episodes: Mapped[list[Episode]] = relationship(back_populates="patient")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Episode(Base):
    """One patient's journey through the pathway, with the worklist fields kept current."""

    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    template_key: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int] = mapped_column(Integer)
    indication: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(String(64))
    pump_model: Mapped[str] = mapped_column(String(64))
    planned_procedure_on: Mapped[date] = mapped_column(Date)
    surgeon: Mapped[str] = mapped_column(String(100))
    setting: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Denormalised from the milestones on every write, so the worklist is one indexed query.
    current_stage: Mapped[str | None] = mapped_column(String(64))
    next_action: Mapped[str] = mapped_column(String(200), default="")
    next_due_on: Mapped[date | None] = mapped_column(Date)
    # --- Follow-up, complications and red flags (issue 6), kept by refresh_progress ---
    # Earliest due date of a planned, booked or missed follow-up item (a missed one keeps its
    # past date, so it stays earliest until resolved) and that item's purpose.
    followup_due_on: Mapped[date | None] = mapped_column(Date)
    followup_action: Mapped[str] = mapped_column(String(200), default="")
    # min(next_due_on, followup_due_on): what the worklist sorts and filters by.
    attention_due_on: Mapped[date | None] = mapped_column(Date)
    open_complications: Mapped[int] = mapped_column(Integer, default=0)
    complication_summary: Mapped[str] = mapped_column(String(500), default="")
    # Earliest unresolved red flag: the row is urgent while this is set.
    urgent_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    urgent_summary: Mapped[str] = mapped_column(String(500), default="")
    # --- end issue 6 ---
    # --- Outcomes (issue 10), kept by refresh_progress: change since baseline and the flag ---
    outcome_summary: Mapped[str] = mapped_column(String(200), default="")
    outcome_flag: Mapped[str] = mapped_column(String(300), default="")  # "" = not flagged
    # --- end issue 10 ---
    version: Mapped[int] = mapped_column(Integer, default=1)

    patient: Mapped[Patient] = relationship(back_populates="episodes")
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="episode", order_by="(Milestone.stage_position, Milestone.position)"
    )

    __table_args__ = (
        Index("ix_episodes_status_next_due_on", "status", "next_due_on"),
        Index("ix_episodes_status_attention_due_on", "status", "attention_due_on"),  # issue 6
        # Issue 9 (migration 0008): the pathway worklist's parts (urgent / dated / undated) in
        # order, and their counts with the stage/status filters and the search (a patient_id
        # list) from the index alone.
        Index(
            "ix_episodes_worklist",
            "status",
            "urgent_since",
            "attention_due_on",
            "current_stage",
            "followup_due_on",
            "patient_id",
        ),
        # Issue 9 (migration 0009): the header sorts by indication, stage and next action read
        # the open episodes in order (ties by id) and stop after the page.
        *(
            Index(f"ix_episodes_status_{column}", "status", column, "id")
            for column in ("indication", "current_stage", "next_action")
        ),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Milestone(Base):
    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    stage_key: Mapped[str] = mapped_column(String(64))
    stage_name: Mapped[str] = mapped_column(String(100))
    stage_position: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    gate: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="planned")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(100))
    skip_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    episode: Mapped[Episode] = relationship(back_populates="milestones")

    __table_args__ = (UniqueConstraint("episode_id", "key"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class AuditEntry(Base):
    """Append-only history of every write; the app never updates or deletes a row here."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"), index=True)
    # JSON text of {"old": {...}, "new": {...}} so a reader sees what changed.
    detail: Mapped[str] = mapped_column(Text, default="{}")
    # Hash chain (storage/audit.py): SHA-256 of every column above plus the previous entry's
    # hash, so an entry changed or removed outside the app breaks the chain.
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    hash: Mapped[str] = mapped_column(String(64), default="")


# --- Refills (issue 3) -------------------------------------------------------------------------


class ImplantedPump(Base):
    """A pump implanted on an episode, with the numbers that drive its refill dates copied in.

    The model's reservoir, flow, tolerance, reserve and exposure factor are copied from the
    catalogue (or the device label) at implant, so a later catalogue edit never rewrites the
    history of a patient. ``unverified`` keeps which of those copies are unverified defaults.

    The ``refill_*`` fields are the current projection, denormalised from the latest fill on
    every write so the clinic-wide refill worklist is one indexed query.
    """

    __tablename__ = "implanted_pumps"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    model_key: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(200))
    serial: Mapped[str] = mapped_column(String(64))
    reservoir_ml: Mapped[float] = mapped_column(Float)
    nominal_flow_ml_per_day: Mapped[float] = mapped_column(Float)
    tolerance_pct: Mapped[float] = mapped_column(Float)
    reserve_ml: Mapped[float] = mapped_column(Float)
    exposure_factor: Mapped[float | None] = mapped_column(Float)
    catheter_volume_ml: Mapped[float | None] = mapped_column(Float)
    # Comma-separated catalogue field names (PumpModel.unverified) that are unverified here.
    unverified: Mapped[str] = mapped_column(String(200), default="")
    implanted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))

    # Current projection, kept in step with the latest (uncorrected) fill and the exposure log.
    last_fill_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refill_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refill_due_on: Mapped[date | None] = mapped_column(Date)
    empty_by_nominal_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    empty_by_worst_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # empty_by_worst_at minus the scheduling buffer: from then on the refill is urgent.
    urgent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    drug_key: Mapped[str] = mapped_column(String(64), default="")
    drug_name: Mapped[str] = mapped_column(String(200), default="")
    dangerous_withdrawal: Mapped[bool] = mapped_column(default=False)
    concentration: Mapped[float | None] = mapped_column(Float)
    concentration_unit: Mapped[str] = mapped_column(String(16), default="")
    daily_dose: Mapped[float | None] = mapped_column(Float)
    dose_unit: Mapped[str] = mapped_column(String(16), default="")
    projection_limited_by: Mapped[str] = mapped_column(String(16), default="")
    # Comma-separated project_refill input names that set the date and are unverified.
    projection_unverified: Mapped[str] = mapped_column(String(200), default="")
    # JSON list of the projection's warnings.
    projection_warnings: Mapped[str] = mapped_column(Text, default="[]")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Issue 9: copies of "the episode is open" and of the patient's family name, kept equal to
    # episodes.status and patients.family_name by the triggers of migration 0007, so the refill
    # worklist filters, orders and counts from one index without reading episodes or patients.
    episode_open: Mapped[bool] = mapped_column(default=True, server_default=true())
    patient_family_name: Mapped[str] = mapped_column(String(100), default="", server_default="")

    __table_args__ = (
        # The refill worklist's levels as index ranges in its order (refill_queries, issue 9).
        Index(
            "ix_implanted_pumps_refill_worklist",
            "episode_open",
            "removed_at",
            "dangerous_withdrawal",
            "refill_due_on",
            "refill_due_at",
            "patient_family_name",
            "id",
            "urgent_at",
        ),
        Index(
            "ix_implanted_pumps_refill_urgent",
            "episode_open",
            "removed_at",
            "urgent_at",
            "dangerous_withdrawal",
            "refill_due_on",
            "refill_due_at",
            "patient_family_name",
            "id",
        ),
    )
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Fill(Base):
    """One filling of a pump: the initial fill at implant or a refill.

    Rows are never changed after they are written, except ``superseded_by_id``: a correction is
    a new row whose ``corrects_id`` points at the row it replaces, with a reason.
    """

    __tablename__ = "fills"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed with filled_at below: every read of a pump's fills is ordered by time.
    pump_id: Mapped[int] = mapped_column(ForeignKey("implanted_pumps.id"))
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "initial" or "refill"
    filled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    # What was entered.
    aspirated_ml: Mapped[float | None] = mapped_column(Float)
    residual_left_ml: Mapped[float] = mapped_column(Float, default=0.0)
    added_ml: Mapped[float] = mapped_column(Float)
    drug_key: Mapped[str] = mapped_column(String(64))
    drug_name: Mapped[str] = mapped_column(String(200))
    concentration: Mapped[float] = mapped_column(Float)
    concentration_unit: Mapped[str] = mapped_column(String(16))
    residual_concentration: Mapped[float | None] = mapped_column(Float)
    lot: Mapped[str] = mapped_column(String(64))
    expiry_on: Mapped[date | None] = mapped_column(Date)
    operator: Mapped[str] = mapped_column(String(100))
    second_checker: Mapped[str] = mapped_column(String(100))
    needle: Mapped[str] = mapped_column(String(100))
    location_method: Mapped[str] = mapped_column(String(100))
    notes: Mapped[str] = mapped_column(Text, default="")
    over_max_confirmed: Mapped[bool] = mapped_column(default=False)
    over_max_reason: Mapped[str] = mapped_column(Text, default="")
    # Reconciliation against the previous fill (refills only).
    interval_days: Mapped[float | None] = mapped_column(Float)
    expected_residual_ml: Mapped[float | None] = mapped_column(Float)
    actual_flow_ml_per_day: Mapped[float | None] = mapped_column(Float)
    flow_error_pct: Mapped[float | None] = mapped_column(Float)
    discrepancy_ml: Mapped[float | None] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(default=False)
    flag_reasons: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    explanation: Mapped[str | None] = mapped_column(String(32))
    explanation_note: Mapped[str] = mapped_column(Text, default="")
    # Pocket-fill check (refills only, migration 0010): the reservoir volume measured after the
    # refill, when one was taken, and the alert it raised, kept as shown when it was saved.
    post_refill_volume_ml: Mapped[float | None] = mapped_column(Float)
    pocket_fill_alert: Mapped[str | None] = mapped_column(Text)
    # Dose and volume.
    volume_after_ml: Mapped[float] = mapped_column(Float)
    effective_concentration: Mapped[float] = mapped_column(Float)
    daily_dose: Mapped[float] = mapped_column(Float)
    effective_daily_dose: Mapped[float] = mapped_column(Float)
    dose_unit: Mapped[str] = mapped_column(String(16))
    # The projection made at this fill, with the inputs it used.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    empty_by_nominal_at: Mapped[datetime] = mapped_column(UTCDateTime)
    empty_by_worst_at: Mapped[datetime] = mapped_column(UTCDateTime)
    worst_case_flow_ml_per_day: Mapped[float] = mapped_column(Float)
    limited_by: Mapped[str] = mapped_column(String(16))
    reserve_ml_used: Mapped[float] = mapped_column(Float)
    buffer_days_used: Mapped[float] = mapped_column(Float)
    stability_days_used: Mapped[int | None] = mapped_column(Integer)
    dangerous_withdrawal: Mapped[bool] = mapped_column(default=False)
    unverified_inputs: Mapped[str] = mapped_column(String(200), default="")
    warnings: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    # Correction chain.
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("fills.id"))
    correction_reason: Mapped[str] = mapped_column(Text, default="")
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("fills.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_fills_pump_id_filled_at", "pump_id", "filled_at"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Exposure(Base):
    """A fever, heat, altitude or diving episode in the patient's exposure log."""

    __tablename__ = "exposures"

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(ForeignKey("episodes.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    started_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


# Hospital stay, recovery and follow-up (issue 6): registers its models on Base.metadata.
from pathway_app.storage import orm_followup as _orm_followup  # noqa: E402,F401

# Outcomes (issue 10): registers its models on Base.metadata.
from pathway_app.storage import orm_outcomes as _orm_outcomes  # noqa: E402,F401

# --- Preparation and procedure (issue 5): registers its models on Base.metadata ---------------
from pathway_app.storage import orm_preparation as _orm_preparation  # noqa: E402,F401

# Users and the audit chain (issue 4): registers its models on Base.metadata.
from pathway_app.storage import orm_trust as _orm_trust  # noqa: E402,F401
