"""Issue 8: what the patient's refill card shows (painted by `pathway_app.ui.print_card`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pathway_app.domain.clinic import (
    CLINIC_FILE,
    WARNINGS_FILE,
    ClinicContact,
    WarningSigns,
    load_clinic,
    load_warning_signs,
)
from pathway_app.resources import resource_path
from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import pump_view
from pathway_app.services.views import episode_view


@dataclass(frozen=True)
class RefillCard:
    """Attributes:
    notices: what the card could not say (clinic not configured, no refill date yet, ...),
        shown to whoever makes the card; the card itself prints "not configured" in place.
    """

    patient_name: str
    mrn: str
    birth_date: date
    pump_model: str
    pump_serial: str
    drug_name: str
    concentration: str  # e.g. "2 mg/mL", "" when no fill is recorded
    daily_dose: str
    next_refill_on: date | None
    empty_by_worst_at: datetime | None
    dangerous_withdrawal: bool
    clinic: ClinicContact
    signs: WarningSigns
    printed_on: date
    notices: tuple[str, ...]


def refill_card(ctx: ServiceContext, episode_id: int) -> RefillCard:
    episode = episode_view(ctx, episode_id)
    pump = pump_view(ctx, episode_id)
    clinic = load_clinic(resource_path(CLINIC_FILE))
    notices: list[str] = []
    if not clinic.configured:
        notices.append(
            f"The clinic's {' and '.join(clinic.missing)} are not configured "
            f"(edit {CLINIC_FILE}); the card says 'not configured' in their place."
        )
    drug_key, drug_name = "", episode.drug
    concentration = dose = ""
    if pump is None:
        notices.append(
            "No pump implant is recorded: pump, concentration and refill date are blank."
        )
        model, serial, due_on, empty_by, dangerous = episode.pump_model, "", None, None, False
    else:
        model, serial = pump.model_name, pump.serial
        due_on, empty_by, dangerous = pump.due_on, pump.empty_by_worst_at, pump.dangerous_withdrawal
        drug_name = pump.drug_name or drug_name
        if pump.latest_fill is not None:
            drug_key = pump.latest_fill.drug_key
        if pump.concentration is not None:
            concentration = f"{pump.concentration:g} {pump.concentration_unit}"
        if pump.daily_dose is not None:
            dose = f"{pump.daily_dose:g} {pump.dose_unit}"
        if due_on is None:
            notices.append("No fill is recorded: the card has no next refill date.")
    if not drug_key:
        drug_key = next(
            (k for k, d in ctx.catalogue.drugs.items() if d.name == drug_name), episode.drug
        )
    return RefillCard(
        patient_name=episode.patient_name,
        mrn=episode.mrn,
        birth_date=episode.birth_date,
        pump_model=model,
        pump_serial=serial,
        drug_name=drug_name,
        concentration=concentration,
        daily_dose=dose,
        next_refill_on=due_on,
        empty_by_worst_at=empty_by,
        dangerous_withdrawal=dangerous,
        clinic=clinic,
        signs=load_warning_signs(resource_path(WARNINGS_FILE), drug_key),
        printed_on=ctx.today(),
        notices=tuple(notices),
    )
