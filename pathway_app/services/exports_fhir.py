"""Issue 8: one episode as a FHIR R4 Bundle (type collection), built and validated with the
`fhir.resources` R4B models (R4B is wire-compatible with R4 for every resource used here).

Mapping (domain.md §8.1): Patient; EpisodeOfCare (the pathway); Condition (the indication);
CarePlan (each stage's milestones and the follow-up plan as activities; R4 ``activity.detail``);
Procedure (pump implant CPT 62361 [U verbatim], catheter CPT 62350 [V]; each refill CPT 95990
[V]); Device (the pump: model, serial, reservoir, flow, tolerance as ``Device.property``);
MedicationAdministration for each fill in force (drug, concentration, volume added, period
until the next fill, rate = nominal flow); Observation for the measured and expected residual
volume and the flow error of each refill; Appointment for booked follow-ups.

Codes and systems follow domain.md §8.2: CPT ``http://www.ama-assn.org/go/cpt``, UCUM units.
No verified SNOMED CT or LOINC code exists for the pump-specific observations, so they use this
app's local code system (`LOCAL`); LOINC 72514-3 (pain NRS) does not apply to anything exported
here and is not used. Every reference is a ``urn:uuid`` that is the fullUrl of an entry, with
uuids derived from the database ids, so re-exporting the same episode gives the same ids.

Catheter: the record does not say whether a laminectomy was done; the export uses 62350
(without laminectomy), the usual case, and says so in the Procedure's note.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure

from pathway_app.domain.followup import FollowUpStatus
from pathway_app.services.context import ServiceContext
from pathway_app.services.exports_summary import EpisodeSummary, episode_summary
from pathway_app.services.refill_views import FillView

CPT = "http://www.ama-assn.org/go/cpt"
UCUM = "http://unitsofmeasure.org"
LOCAL = "http://care-pathway-tracker.local/fhir/CodeSystem/pump-pathway"  # local codes
MRN_SYSTEM = "http://care-pathway-tracker.local/fhir/sid/mrn"  # the clinic's MRN namespace
_NAMESPACE = uuid.UUID("6f1c1e4e-5b1a-4c55-9a43-3b9e1f0c8a11")

CPT_IMPLANT = "62361"  # [U verbatim] non-programmable intrathecal/epidural pump (domain.md §2.5)
CPT_CATHETER = "62350"  # [V] tunnelled IT/epidural catheter, without laminectomy
CPT_CATHETER_LAMINECTOMY = "62351"  # [V] the same with laminectomy (not known from the record)
CPT_REFILL = "95990"  # [V] refill and maintenance of an implanted pump (spinal/brain)

RESOURCE_MODELS: dict[str, Any] = {
    "Patient": Patient,
    "EpisodeOfCare": EpisodeOfCare,
    "Condition": Condition,
    "CarePlan": CarePlan,
    "Procedure": Procedure,
    "Device": Device,
    "MedicationAdministration": MedicationAdministration,
    "Observation": Observation,
    "Appointment": Appointment,
}


def _uuid(episode_id: int, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"episode/{episode_id}/{name}"))


def _ref(entry_id: str, display: str | None = None) -> dict[str, str]:
    ref = {"reference": f"urn:uuid:{entry_id}"}
    if display:
        ref["display"] = display
    return ref


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _qty(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": round(value, 4), "unit": unit, "system": UCUM, "code": code}


def _local(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOCAL, "code": code, "display": display}], "text": display}


def _cpt(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": CPT, "code": code, "display": display}], "text": display}


_ACTIVITY_STATUS = {"planned": "not-started", "done": "completed", "skipped": "cancelled"}


class _Builder:
    def __init__(self, summary: EpisodeSummary) -> None:
        self.summary = summary
        self.episode_id = summary.episode.id
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def add(self, name: str, resource: dict[str, Any]) -> str:
        entry_id = _uuid(self.episode_id, name)
        resource["id"] = entry_id
        model = RESOURCE_MODELS[resource["resourceType"]]
        model.model_validate(resource)  # refuse anything the R4B model does not accept
        self.entries.append((entry_id, resource))
        return entry_id

    def build(self) -> dict[str, Any]:
        s = self.summary
        ep = s.episode
        family, _, given = ep.patient_name.partition(", ")
        patient = self.add(
            "patient",
            {
                "resourceType": "Patient",
                "identifier": [{"system": MRN_SYSTEM, "value": ep.mrn}],
                "name": [{"family": family, "given": [given] if given else []}],
                "birthDate": ep.birth_date.isoformat(),
            },
        )
        who = _ref(patient, ep.patient_name)
        condition = self.add(
            "condition",
            {
                "resourceType": "Condition",
                # No verified SNOMED CT concept for the indications: text only (§8.2).
                "code": {"text": ep.indication},
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "subject": who,
            },
        )
        done = [m.done_at for st in ep.stages for m in st.milestones if m.done_at is not None]
        start = min(done) if done else None
        episode_resource: dict[str, Any] = {
            "resourceType": "EpisodeOfCare",
            "status": "active" if ep.status == "open" else "finished",
            "type": [
                _local("constant-flow-pump-pathway", "Implantable constant-flow pump pathway")
            ],
            "diagnosis": [{"condition": _ref(condition, ep.indication)}],
            "patient": who,
        }
        if start is not None:
            episode_resource["period"] = {"start": _instant(start)}
        episode = self.add("episode", episode_resource)
        context = _ref(episode)

        pump = s.pump
        device = None
        if pump is not None:
            device = self.add(
                "device",
                {
                    "resourceType": "Device",
                    "status": "active",
                    "serialNumber": pump.serial or None,
                    "deviceName": [{"name": pump.model_name, "type": "model-name"}],
                    "type": {"text": "Implantable constant-flow infusion pump"},
                    "patient": who,
                    "property": [
                        {
                            "type": _local("reservoir-volume", "Reservoir volume"),
                            "valueQuantity": [_qty(pump.reservoir_ml, "mL", "mL")],
                        },
                        {
                            "type": _local("nominal-flow", "Nominal flow rate"),
                            "valueQuantity": [_qty(pump.nominal_flow_ml_per_day, "mL/d", "mL/d")],
                        },
                        {
                            "type": _local("flow-tolerance", "Flow rate tolerance (±)"),
                            "valueQuantity": [_qty(pump.tolerance_pct, "%", "%")],
                        },
                    ],
                },
            )
            for key in ("serialNumber",):
                if self.entries[-1][1].get(key) is None:
                    self.entries[-1][1].pop(key, None)

        proc = s.procedure
        if pump is not None or proc is not None:
            implanted_at = pump.implanted_at if pump is not None else None
            steps = proc.steps if proc is not None else ()
            performed: dict[str, Any] = {}
            if steps:
                performed = {
                    "performedPeriod": {
                        "start": _instant(steps[0].at),
                        "end": _instant(steps[-1].at),
                    }
                }
            elif implanted_at is not None:
                performed = {"performedDateTime": _instant(implanted_at)}
            performer = [{"actor": {"display": ep.surgeon}}] if ep.surgeon else []
            implant: dict[str, Any] = {
                "resourceType": "Procedure",
                "status": "completed",
                "code": _cpt(
                    CPT_IMPLANT,
                    "Implantation of intrathecal or epidural drug infusion device; "
                    "non-programmable pump",
                ),
                "subject": who,
                "encounter": None,
                **performed,
                "performer": performer,
                "reasonReference": [_ref(condition)],
            }
            implant.pop("encounter")
            if device is not None:
                implant["focalDevice"] = [
                    {"action": {"text": "implanted"}, "manipulated": _ref(device)}
                ]
            if not performer:
                implant.pop("performer")
            self.add("procedure/implant", implant)
            catheter = dict(implant)
            catheter.pop("focalDevice", None)
            catheter["code"] = _cpt(
                CPT_CATHETER,
                "Implantation of tunnelled intrathecal or epidural catheter, without laminectomy",
            )
            catheter["note"] = [
                {
                    "text": "Laminectomy not recorded; 62350 assumed (62351 if a laminectomy "
                    "was done)."
                }
            ]
            if proc is not None and proc.catheter_tip_level:
                catheter["note"].append({"text": f"Catheter tip level {proc.catheter_tip_level}"})
            self.add("procedure/catheter", catheter)

        if pump is not None:
            in_force = sorted((f for f in pump.fills if f.in_force), key=lambda f: f.filled_at)
            for index, fill in enumerate(in_force):
                following = in_force[index + 1] if index + 1 < len(in_force) else None
                self._fill(fill, following, who, context, device, pump.nominal_flow_ml_per_day)

        follow = s.followup
        activities: list[dict[str, Any]] = []
        for stage in ep.stages:
            for m in stage.milestones:
                detail: dict[str, Any] = {
                    "code": {"text": m.name},
                    "status": _ACTIVITY_STATUS.get(m.state, "unknown"),
                    "description": f"{stage.name}: {m.name}" + (" (gate)" if m.gate else ""),
                }
                if m.due_on is not None:
                    detail["scheduledString"] = f"due {m.due_on.isoformat()}"
                if m.state == "skipped" and m.skip_reason:
                    detail["statusReason"] = {"text": m.skip_reason}
                activities.append({"detail": detail})
        if follow is not None:
            for item in follow.items:
                if not item.is_open:
                    continue
                activity: dict[str, Any] = {}
                if item.status is FollowUpStatus.BOOKED:
                    appointment = self.add(
                        f"appointment/{item.id}",
                        {
                            "resourceType": "Appointment",
                            "status": "booked",
                            "description": item.purpose,
                            # Only the day is recorded: the whole local day.
                            "start": _instant(_local_midnight(item.due_on)),
                            "end": _instant(_local_midnight(item.due_on + timedelta(days=1))),
                            "comment": "All-day: the tracker records the day, not the time.",
                            "participant": [{"actor": who, "status": "accepted"}],
                        },
                    )
                    activity["reference"] = _ref(appointment, item.purpose)
                activity["detail"] = {
                    "kind": "Appointment",
                    "code": {"text": item.purpose},
                    "status": "scheduled" if item.status is FollowUpStatus.BOOKED
                    else "not-started",
                    "scheduledString": f"due {item.due_on.isoformat()}",
                }  # fmt: skip
                activities.append(activity)
        if pump is not None and pump.due_on is not None:
            activities.append(
                {
                    "detail": {
                        "code": _cpt(CPT_REFILL, "Pump refill and maintenance"),
                        "status": "not-started",
                        "scheduledString": f"due {pump.due_on.isoformat()}",
                    }
                }
            )
        careplan: dict[str, Any] = {
            "resourceType": "CarePlan",
            "status": "active" if ep.status == "open" else "completed",
            "intent": "plan",
            "title": "Implantable constant-flow pump pathway",
            "subject": who,
            "addresses": [_ref(condition)],
            "activity": activities,
        }
        self.add("careplan", careplan)
        return {
            "resourceType": "Bundle",
            "id": _uuid(self.episode_id, "bundle"),
            "type": "collection",
            "timestamp": _instant(s.generated_at),
            "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in self.entries],
        }

    def _fill(
        self,
        fill: FillView,
        following: FillView | None,
        who: dict[str, str],
        context: dict[str, str],
        device: str | None,
        flow: float,
    ) -> None:
        part_of = None
        if fill.kind != "initial":
            procedure: dict[str, Any] = {
                "resourceType": "Procedure",
                "status": "completed",
                "code": _cpt(CPT_REFILL, "Refill and maintenance of implantable pump (spinal)"),
                "subject": who,
                "performedDateTime": _instant(fill.filled_at),
            }
            if fill.operator:
                procedure["performer"] = [{"actor": {"display": fill.operator}}]
            if device is not None:
                procedure["focalDevice"] = [
                    {"action": {"text": "manipulated"}, "manipulated": _ref(device)}
                ]
            part_of = self.add(f"procedure/refill/{fill.id}", procedure)
        period: dict[str, str] = {"start": _instant(fill.filled_at)}
        if following is not None:
            period["end"] = _instant(following.filled_at)
        administration: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "status": "completed" if following is not None else "in-progress",
            "medicationCodeableConcept": {
                "text": f"{fill.drug_name} {fill.concentration:g} {fill.concentration_unit}"
            },
            "subject": who,
            "context": context,
            "effectivePeriod": period,
            "note": [
                {
                    "text": f"Reservoir fill: {fill.added_ml:g} mL of {fill.drug_name} "
                    f"{fill.concentration:g} {fill.concentration_unit}; daily dose "
                    f"{fill.daily_dose:g} {fill.dose_unit}; lot {fill.lot or '—'}."
                }
            ],
            "dosage": {
                "text": f"{fill.daily_dose:g} {fill.dose_unit} by constant intrathecal flow",
                # Intrathecal route: SNOMED CT 72607000 is [U] (domain.md §8.2): text only.
                "route": {"text": "Intrathecal"},
                "dose": _qty(fill.added_ml, "mL", "mL"),
                "rateQuantity": _qty(flow, "mL/d", "mL/d"),
            },
        }
        if device is not None:
            administration["device"] = [_ref(device)]
        if part_of is not None:
            administration["partOf"] = [_ref(part_of)]
        self.add(f"administration/{fill.id}", administration)
        observations = (
            ("aspirated", "residual-volume-aspirated", "Residual volume aspirated",
             fill.aspirated_ml, "mL", "mL"),
            ("expected", "residual-volume-expected", "Expected residual volume",
             fill.expected_residual_ml, "mL", "mL"),
            ("flow-error", "flow-error", "Flow error", fill.flow_error_pct, "%", "%"),
        )  # fmt: skip
        for name, code, display, value, unit_text, ucum in observations:
            if value is None:
                continue
            observation: dict[str, Any] = {
                "resourceType": "Observation",
                "status": "final",
                "code": _local(code, display),  # no verified LOINC code (domain.md §8.1)
                "subject": who,
                "effectiveDateTime": _instant(fill.filled_at),
                "valueQuantity": _qty(value, unit_text, ucum),
            }
            if device is not None:
                observation["device"] = _ref(device)
            if part_of is not None:
                observation["partOf"] = [_ref(part_of)]
            if name == "flow-error" and fill.flagged:
                observation["interpretation"] = [{"text": "; ".join(fill.flag_reasons)}]
            self.add(f"observation/{fill.id}/{name}", observation)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone()


def episode_bundle(ctx: ServiceContext, episode_id: int) -> tuple[Bundle, tuple[str, ...]]:
    """The episode as a validated R4B Bundle, and what was left out (nothing recorded)."""
    summary = episode_summary(ctx, episode_id)
    data = _Builder(summary).build()
    return Bundle.model_validate(data), summary.omitted


def episode_bundle_json(ctx: ServiceContext, episode_id: int) -> tuple[bytes, tuple[str, ...]]:
    bundle, omitted = episode_bundle(ctx, episode_id)
    return bundle.model_dump_json(indent=2, exclude_none=True).encode("utf-8"), omitted
