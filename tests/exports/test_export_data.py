"""Issue 8: the CSV, calendar and FHIR exports, parsed back and compared with what was
recorded; safe file writing."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from icalendar import Calendar

from pathway_app.services.context import ServiceContext
from pathway_app.services.export_files import ExportError, write_atomic
from pathway_app.services.exports_csv import REFILL_COLUMNS, refill_worklist_csv, worklist_csv
from pathway_app.services.exports_fhir import CPT, CPT_IMPLANT, CPT_REFILL, episode_bundle
from pathway_app.services.exports_ics import calendar_bytes, clinic_events, patient_events
from pathway_app.services.exports_summary import current_episode_id, episode_summary
from pathway_app.services.followup_views import followup_view
from pathway_app.services.refill_views import pump_view, refill_worklist
from pathway_app.services.views import worklist
from tests.conftest import FIXED_NOW

# --- files -------------------------------------------------------------------------------------


def test_write_atomic_refuses_an_existing_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    write_atomic(target, b"first")
    assert target.read_bytes() == b"first"
    assert target.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ExportError, match="already exists"):
        write_atomic(target, b"second")
    assert target.read_bytes() == b"first"
    write_atomic(target, b"second", overwrite=True)
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_write_atomic_refuses_a_missing_or_unwritable_folder(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        write_atomic(tmp_path / "nowhere" / "out.csv", b"x")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ExportError):
        write_atomic(blocker / "out.csv", b"x")
    with pytest.raises(ExportError, match="is a folder"):
        write_atomic(tmp_path, b"x")


# --- CSV ---------------------------------------------------------------------------------------


def _read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the byte-order mark spreadsheets look for
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_refill_worklist_csv_matches_the_worklist(export_ctx: ServiceContext) -> None:
    rows = refill_worklist(export_ctx)
    parsed = _read_csv(refill_worklist_csv(rows))
    assert len(parsed) == len(rows) > 5
    assert tuple(parsed[0]) == REFILL_COLUMNS
    for row, line in zip(rows, parsed, strict=True):
        assert line["mrn"] == row.mrn
        assert line["patient"] == row.patient_name
        assert line["level"] == row.level.value
        assert line["refill_due_on"] == (row.due_on.isoformat() if row.due_on else "")
        assert date.fromisoformat(line["refill_due_on"]) == row.due_on
        assert line["refill_due_utc"].endswith("Z")
    plain = refill_worklist_csv(rows, bom=False)
    assert not plain.startswith(b"\xef\xbb\xbf")


def test_csv_cells_cannot_run_as_formulas(export_ctx: ServiceContext) -> None:
    row = dataclasses.replace(
        refill_worklist(export_ctx)[0], patient_name='=HYPERLINK("http://x")', mrn="+1-2"
    )
    (line,) = _read_csv(refill_worklist_csv([row]))
    assert line["patient"] == '\'=HYPERLINK("http://x")'
    assert line["mrn"] == "'+1-2"


def test_episode_worklist_csv(export_ctx: ServiceContext) -> None:
    rows = worklist(export_ctx)
    parsed = _read_csv(worklist_csv(rows))
    assert [p["mrn"] for p in parsed] == [r.mrn for r in rows]
    assert {p["status"] for p in parsed} <= {"overdue", "due_soon", "on_track", "no_date"}


# --- calendar ----------------------------------------------------------------------------------


def _events(data: bytes) -> dict[str, object]:
    calendar = Calendar.from_ical(data)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def test_patient_calendar_has_the_refill_and_open_follow_ups(
    export_ctx: ServiceContext, pumped_episode: int
) -> None:
    events = patient_events(export_ctx, pumped_episode)
    parsed = _events(calendar_bytes(events, name="x", stamp=FIXED_NOW))
    pump = pump_view(export_ctx, pumped_episode)
    assert pump is not None and pump.due_on is not None
    refill = parsed[f"refill-episode-{pumped_episode}@care-pathway-tracker.local"]
    assert refill["DTSTART"].dt == pump.due_on  # type: ignore[index]
    follow = followup_view(export_ctx, pumped_episode)
    upcoming = [i for i in follow.items if i.is_open and i.due_on >= export_ctx.today()]
    for item in upcoming:
        event = parsed[f"followup-{item.id}@care-pathway-tracker.local"]
        assert event["DTSTART"].dt == item.due_on  # type: ignore[index]
        assert item.purpose in str(event["SUMMARY"])  # type: ignore[index]
    assert len(parsed) == 1 + len(upcoming)


def test_reexport_keeps_the_uids(export_ctx: ServiceContext, pumped_episode: int) -> None:
    first = _events(calendar_bytes(patient_events(export_ctx, pumped_episode), name="x",
                                   stamp=FIXED_NOW))  # fmt: skip
    later = FIXED_NOW + timedelta(hours=3)
    second = _events(calendar_bytes(patient_events(export_ctx, pumped_episode), name="x",
                                    stamp=later))  # fmt: skip
    assert set(first) == set(second)


def test_clinic_calendar_covers_the_range(export_ctx: ServiceContext) -> None:
    start = export_ctx.today()
    end = start + timedelta(days=30)
    events = clinic_events(export_ctx, start=start, end=end)
    parsed = _events(calendar_bytes(events, name="Clinic", stamp=FIXED_NOW))
    assert len(parsed) == len(events) > 3
    days = [e["DTSTART"].dt for e in parsed.values()]  # type: ignore[index]
    assert max(days) <= end
    refills = [r for r in refill_worklist(export_ctx) if r.due_on and r.due_on <= end]
    for row in refills:
        assert f"refill-episode-{row.episode_id}@care-pathway-tracker.local" in parsed


# --- FHIR --------------------------------------------------------------------------------------


def _references(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            found.append(node["reference"])
        for value in node.values():
            found += _references(value)
    elif isinstance(node, list):
        for value in node:
            found += _references(value)
    return found


def test_fhir_bundle_validates_resolves_and_matches_the_record(
    export_ctx: ServiceContext, pumped_episode: int
) -> None:
    bundle, omitted = episode_bundle(export_ctx, pumped_episode)
    text = bundle.model_dump_json(exclude_none=True)
    parsed = Bundle.model_validate_json(text)  # parses back with the R4B models
    assert parsed.type == "collection"
    data = json.loads(text)
    urls = {entry["fullUrl"] for entry in data["entry"]}
    assert all(ref in urls for ref in _references(data))
    by_type: dict[str, list[dict]] = {}
    for entry in data["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    pump = pump_view(export_ctx, pumped_episode)
    assert pump is not None
    (device,) = by_type["Device"]
    assert device["serialNumber"] == pump.serial
    assert device["deviceName"][0]["name"] == pump.model_name
    in_force = [f for f in pump.fills if f.in_force]
    administrations = by_type["MedicationAdministration"]
    assert len(administrations) == len(in_force)
    assert sorted(a["dosage"]["dose"]["value"] for a in administrations) == sorted(
        round(f.added_ml, 4) for f in in_force
    )
    codes = [c["code"] for p in by_type["Procedure"] for c in p["code"]["coding"]]
    assert CPT_IMPLANT in codes and "62350" in codes
    assert codes.count(CPT_REFILL) == sum(1 for f in in_force if f.kind != "initial")
    assert all(c["system"] == CPT for p in by_type["Procedure"] for c in p["code"]["coding"])
    aspirated = [f.aspirated_ml for f in in_force if f.aspirated_ml is not None]
    residuals = [
        o["valueQuantity"]["value"]
        for o in by_type["Observation"]
        if o["code"]["coding"][0]["code"] == "residual-volume-aspirated"
    ]
    assert sorted(residuals) == sorted(round(a, 4) for a in aspirated)
    (patient,) = by_type["Patient"]
    summary = episode_summary(export_ctx, pumped_episode)
    assert patient["identifier"][0]["value"] == summary.episode.mrn
    assert patient["birthDate"] == summary.episode.birth_date.isoformat()
    assert by_type["CarePlan"][0]["activity"]
    assert "EpisodeOfCare" in by_type and "Condition" in by_type
    assert omitted == episode_summary(export_ctx, pumped_episode).omitted


def test_episode_without_pump_exports_what_exists(export_ctx: ServiceContext) -> None:
    without = [r for r in worklist(export_ctx) if pump_view(export_ctx, r.episode_id) is None]
    episode_id = without[0].episode_id
    bundle, omitted = episode_bundle(export_ctx, episode_id)
    types = {e.resource.__resource_type__ for e in bundle.entry}  # type: ignore[union-attr]
    assert {"Patient", "EpisodeOfCare", "Condition", "CarePlan"} <= types
    assert "Device" not in types
    assert any("pump" in part for part in omitted)


def test_mrn_selects_the_current_episode(export_ctx: ServiceContext, pumped_episode: int) -> None:
    mrn = episode_summary(export_ctx, pumped_episode).episode.mrn
    assert current_episode_id(export_ctx, mrn) == pumped_episode
    with pytest.raises(Exception, match="MRN"):
        current_episode_id(export_ctx, "NO-SUCH-MRN")
