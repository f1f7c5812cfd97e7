"""While the app runs, a database that refuses an action gives a readable message and keeps
nothing of the action."""

from __future__ import annotations

import sqlite3
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pathway_app.domain.errors import StorageError
from pathway_app.domain.records import PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.patients import register_patient
from pathway_app.storage.database import open_database
from pathway_app.storage.orm import Patient


def test_a_write_waits_a_bounded_time_for_a_busy_database_then_says_so(
    db_path: Path, template, catalogue, clock
) -> None:
    db = open_database(str(db_path), busy_timeout_ms=300)
    ctx = ServiceContext(db, template, catalogue, clock, "Nurse")
    other = sqlite3.connect(db_path, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another window is in the middle of saving
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"busy.*Nothing was saved"):
            register_patient(ctx, PatientDraft("B-1", "Busy", "Bea", date(1970, 1, 1)))
        waited = time.monotonic() - started
        assert 0.25 <= waited < 5
    finally:
        other.rollback()
        other.close()
    # Once the other writer is done the same action goes through.
    register_patient(ctx, PatientDraft("B-1", "Busy", "Bea", date(1970, 1, 1)))
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 1
    db.close()


def test_readers_are_not_blocked_by_a_writer(db_path: Path, ctx: ServiceContext) -> None:
    register_patient(ctx, PatientDraft("R-1", "Reader", "Rae", date(1970, 1, 1)))
    other = sqlite3.connect(ctx.db.info.url.removeprefix("sqlite:///"), timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE patients SET given_name = 'Changed'")
    try:
        with ctx.db.reading() as session:
            # WAL: a second window still sees the last committed state while one saves.
            assert session.scalars(select(Patient.given_name)).all() == ["Rae"]
    finally:
        other.rollback()
        other.close()
