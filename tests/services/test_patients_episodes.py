"""Registering patients and opening episodes through the services, on a real database."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pathway_app.domain.clock import FixedClock
from pathway_app.domain.errors import ValidationError
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.template import PathwayTemplate
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import find_patients, register_patient
from pathway_app.storage.orm import AuditEntry, Episode, Milestone, Patient

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
PLANNED = date(2027, 1, 12)
PATIENT = PatientDraft("MRN-1001", "Müller", "Jürgen", date(1958, 4, 2))


def episode_draft(
    patient_id: int, indication: str = "noncancer-pain", **change: Any
) -> EpisodeDraft:
    draft = EpisodeDraft(
        patient_id=patient_id,
        indication=indication,
        drug="morphine",
        pump_model="isomed-8472-20-05",
        planned_procedure_on=PLANNED,
        surgeon="Dr A. Lindgren",
        setting="hospital-or",
    )
    return replace(draft, **change)


def count(ctx: ServiceContext, model: type) -> int:
    with ctx.db.reading() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def milestones_of(ctx: ServiceContext, episode_id: int) -> list[Milestone]:
    with ctx.db.reading() as session:
        query = (
            select(Milestone)
            .where(Milestone.episode_id == episode_id)
            .order_by(Milestone.stage_position, Milestone.position)
        )
        rows = list(session.scalars(query))
        session.expunge_all()  # keep the loaded values after the read session ends
        return rows


def audit_entries(ctx: ServiceContext) -> list[AuditEntry]:
    with ctx.db.reading() as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
        session.expunge_all()
        return rows


# --- register_patient ------------------------------------------------------------------------


def test_register_patient_stores_a_trimmed_patient(ctx: ServiceContext) -> None:
    patient_id = register_patient(
        ctx, PatientDraft("  MRN-1001 ", " Müller ", "Jürgen  ", date(1958, 4, 2))
    )
    with ctx.db.reading() as session:
        patient = session.get(Patient, patient_id)
        assert patient is not None
        assert (patient.mrn, patient.family_name, patient.given_name) == (
            "MRN-1001",
            "Müller",
            "Jürgen",
        )
        assert patient.birth_date == date(1958, 4, 2)
        assert patient.created_at == NOW


def test_register_patient_writes_an_audit_entry(ctx: ServiceContext) -> None:
    patient_id = register_patient(ctx, PATIENT)
    (entry,) = audit_entries(ctx)
    assert entry.action == "patient.registered"
    assert entry.actor == "Nurse Tester"
    assert entry.at == NOW
    assert entry.entity == "patient"
    assert entry.entity_id == patient_id
    assert entry.patient_id == patient_id
    detail = json.loads(entry.detail)
    assert detail["new"]["mrn"] == "MRN-1001"
    assert detail["new"]["family_name"] == "Müller"
    assert detail["new"]["birth_date"] == "1958-04-02"


def test_audit_time_follows_the_clock(ctx: ServiceContext, clock: FixedClock) -> None:
    later = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    clock.set(later)
    register_patient(ctx, PATIENT)
    assert audit_entries(ctx)[0].at == later


def test_duplicate_mrn_is_refused(ctx: ServiceContext) -> None:
    register_patient(ctx, PATIENT)
    with pytest.raises(ValidationError) as info:
        register_patient(ctx, PatientDraft(" MRN-1001", "Other", "Person", date(1970, 1, 1)))
    assert set(info.value.field_errors) == {"mrn"}
    assert "MRN-1001" in info.value.field_errors["mrn"]
    assert count(ctx, Patient) == 1
    assert count(ctx, AuditEntry) == 1


def test_invalid_patient_leaves_no_row_and_no_audit_entry(ctx: ServiceContext) -> None:
    with pytest.raises(ValidationError) as info:
        register_patient(ctx, PatientDraft("MRN-1", "", "Anna", date(2027, 1, 1)))
    assert set(info.value.field_errors) == {"family_name", "birth_date"}
    assert count(ctx, Patient) == 0
    assert count(ctx, AuditEntry) == 0


def test_find_patients_reports_open_episode(ctx: ServiceContext) -> None:
    with_episode = register_patient(ctx, PATIENT)
    register_patient(ctx, PatientDraft("MRN-2002", "Müller", "Anna", date(1990, 1, 1)))
    open_episode(ctx, episode_draft(with_episode))
    found = {p.mrn: p for p in find_patients(ctx, "müller")}
    assert set(found) == {"MRN-1001", "MRN-2002"}
    assert found["MRN-1001"].has_open_episode is True
    assert found["MRN-2002"].has_open_episode is False
    assert found["MRN-2002"].display_name == "Müller, Anna"


# --- open_episode ----------------------------------------------------------------------------


def test_open_episode_creates_the_template_milestones_in_order(
    ctx: ServiceContext, template: PathwayTemplate
) -> None:
    patient_id = register_patient(ctx, PATIENT)
    episode_id = open_episode(ctx, episode_draft(patient_id))
    rows = milestones_of(ctx, episode_id)
    expected = [(s.key, m.key) for s in template.stages for m in s.milestones]
    assert [(m.stage_key, m.key) for m in rows] == expected
    assert {m.state for m in rows} == {"planned"}
    assert all(m.done_at is None and m.done_by is None for m in rows)
    assert rows[0].stage_name == "Preparation"
    assert rows[0].gate is True


def test_open_episode_computes_due_dates_from_the_planned_date(ctx: ServiceContext) -> None:
    patient_id = register_patient(ctx, PATIENT)
    episode_id = open_episode(ctx, episode_draft(patient_id))
    due = {m.key: m.due_on for m in milestones_of(ctx, episode_id)}
    assert due["fasting"] == PLANNED
    assert due["wound-check"] == PLANNED + timedelta(days=14) == date(2027, 1, 26)
    assert due["screening-trial"] == date(2026, 12, 15)
    assert due["consent"] == date(2027, 1, 5)
    assert due["discharge"] == date(2027, 1, 14)
    assert due["restrictions-end"] == date(2027, 3, 9)
    assert due["first-refill"] is None


def test_psych_evaluation_only_for_non_cancer_pain(ctx: ServiceContext) -> None:
    cancer = register_patient(ctx, PATIENT)
    non_cancer = register_patient(ctx, PatientDraft("MRN-2", "Rossi", "Ana", date(1970, 1, 1)))
    cancer_keys = [
        m.key for m in milestones_of(ctx, open_episode(ctx, episode_draft(cancer, "cancer-pain")))
    ]
    other_keys = [m.key for m in milestones_of(ctx, open_episode(ctx, episode_draft(non_cancer)))]
    assert "psych-evaluation" not in cancer_keys
    assert "psych-evaluation" in other_keys
    assert set(other_keys) - set(cancer_keys) == {"psych-evaluation"}


def test_open_episode_sets_the_worklist_fields(ctx: ServiceContext) -> None:
    patient_id = register_patient(ctx, PATIENT)
    episode_id = open_episode(ctx, episode_draft(patient_id, surgeon="  Dr M. Okoye "))
    with ctx.db.reading() as session:
        episode = session.get(Episode, episode_id)
        assert episode is not None
        assert episode.status == "open"
        assert episode.current_stage == "preparation"
        # Screening trial and psych evaluation are both due 28 days before; the first one wins.
        assert episode.next_action == "Screening trial documented"
        assert episode.next_due_on == date(2026, 12, 15)
        assert episode.surgeon == "Dr M. Okoye"
        assert episode.template_key == "constant-flow-pump"
        assert episode.opened_at == NOW
    actions = [e.action for e in audit_entries(ctx)]
    assert actions == ["patient.registered", "episode.opened"]
    opened = audit_entries(ctx)[1]
    assert opened.episode_id == episode_id
    assert json.loads(opened.detail)["new"]["planned_procedure_on"] == "2027-01-12"


def test_second_open_episode_for_the_same_patient_is_refused(ctx: ServiceContext) -> None:
    patient_id = register_patient(ctx, PATIENT)
    open_episode(ctx, episode_draft(patient_id))
    with pytest.raises(ValidationError) as info:
        open_episode(ctx, episode_draft(patient_id, indication="cancer-pain"))
    assert set(info.value.field_errors) == {"patient"}
    assert "already has an open episode" in info.value.field_errors["patient"]
    assert count(ctx, Episode) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [({"drug": "unobtainium"}, "drug"), ({"pump_model": "pump-9000"}, "pump_model")],
)
def test_unknown_drug_or_pump_is_refused(
    ctx: ServiceContext, change: dict[str, str], field: str
) -> None:
    patient_id = register_patient(ctx, PATIENT)
    with pytest.raises(ValidationError) as info:
        open_episode(ctx, episode_draft(patient_id, **change))
    assert set(info.value.field_errors) == {field}
    assert count(ctx, Episode) == 0
    assert count(ctx, Milestone) == 0
    assert count(ctx, AuditEntry) == 1  # only the registration


def test_planned_date_before_birth_is_refused_using_the_stored_birth_date(
    ctx: ServiceContext,
) -> None:
    baby = register_patient(ctx, PatientDraft("MRN-B", "Xu", "Mei", date(2026, 10, 1)))
    with pytest.raises(ValidationError) as info:
        open_episode(ctx, episode_draft(baby, planned_procedure_on=date(2026, 9, 30)))
    assert "birth" in info.value.field_errors["planned_procedure_on"]
    assert count(ctx, Episode) == 0
