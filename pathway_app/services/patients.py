"""Registering patients and finding them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.records import PatientDraft, validate_patient
from pathway_app.services.context import ServiceContext
from pathway_app.storage import repository as repo
from pathway_app.storage.orm import Patient


@dataclass(frozen=True)
class PatientSummary:
    id: int
    mrn: str
    family_name: str
    given_name: str
    birth_date: date
    has_open_episode: bool

    @property
    def display_name(self) -> str:
        return f"{self.family_name}, {self.given_name}"


def register_patient(ctx: ServiceContext, draft: PatientDraft) -> int:
    """Validate and store a new patient in one transaction; return the new id.

    Raises:
        ValidationError: a field is wrong or the MRN is already registered.
    """
    clean = validate_patient(draft, ctx.today())
    assert clean.birth_date is not None
    with ctx.db.writing() as session:
        if repo.patient_by_mrn(session, clean.mrn) is not None:
            raise ValidationError({"mrn": f"MRN {clean.mrn} is already registered."})
        patient = Patient(
            mrn=clean.mrn,
            family_name=clean.family_name,
            given_name=clean.given_name,
            birth_date=clean.birth_date,
            created_at=ctx.now(),
        )
        session.add(patient)
        session.flush()
        repo.add_audit(
            session,
            at=ctx.now(),
            actor=ctx.actor,
            action="patient.registered",
            entity="patient",
            entity_id=patient.id,
            patient_id=patient.id,
            new={
                "mrn": patient.mrn,
                "family_name": patient.family_name,
                "given_name": patient.given_name,
                "birth_date": patient.birth_date.isoformat(),
            },
        )
        return patient.id


def find_patients(ctx: ServiceContext, text: str = "") -> list[PatientSummary]:
    with ctx.db.reading() as session:
        patients = repo.search_patients(session, text)
        return [
            PatientSummary(
                p.id,
                p.mrn,
                p.family_name,
                p.given_name,
                p.birth_date,
                any(e.status == "open" for e in p.episodes),
            )
            for p in patients
        ]
