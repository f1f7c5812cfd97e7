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
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
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
    version: Mapped[int] = mapped_column(Integer, default=1)

    patient: Mapped[Patient] = relationship(back_populates="episodes")
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="episode", order_by="(Milestone.stage_position, Milestone.position)"
    )

    __table_args__ = (Index("ix_episodes_status_next_due_on", "status", "next_due_on"),)
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
