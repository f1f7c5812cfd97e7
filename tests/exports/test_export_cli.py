"""Issue 8: ``pathway-app export``, run as a user runs it."""

from __future__ import annotations

import csv
from pathlib import Path

from icalendar import Calendar
from pypdf import PdfReader

from tests.test_cli import Runner
from tests.test_cli import run as run

SIGNED_IN = {"PATHWAY_PASSWORD": "demo-password", "PATHWAY_NOW": "2026-11-26T10:00Z"}


def test_every_kind_exports(run: Runner, demo_db_path: Path, tmp_path: Path) -> None:
    db = str(demo_db_path)
    out = tmp_path / "worklist.csv"
    done = run("--db", db, "--user", "viewer", "export", "csv", "--out", str(out), **SIGNED_IN)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) > 5
    mrn = rows[0]["mrn"]
    ics = tmp_path / "clinic.ics"
    done = run("--db", db, "--user", "nurse", "export", "ics", "--out", str(ics),
               "--from", "2026-11-26", "--to", "2027-01-31", **SIGNED_IN)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Calendar.from_ical(ics.read_bytes()).walk("VEVENT")
    for kind, name in (("summary-pdf", "s.pdf"), ("refill-card", "c.pdf"), ("fhir", "b.json")):
        target = tmp_path / name
        done = run("--db", db, "--user", "nurse", "export", kind, "--mrn", mrn,
                   "--out", str(target), **SIGNED_IN)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert target.stat().st_size > 1000
    assert len(PdfReader(tmp_path / "c.pdf").pages) == 1
    verified = run("--db", db, "verify")
    assert verified.returncode == 0, verified.stderr  # the exports are in the audit chain


def test_refusals_are_one_line_and_write_nothing(
    run: Runner, demo_db_path: Path, tmp_path: Path
) -> None:
    db = str(demo_db_path)
    existing = tmp_path / "there.csv"
    existing.write_text("keep me")
    refused = run("--db", db, "--user", "nurse", "export", "csv", "--out", str(existing),
                  **SIGNED_IN)  # fmt: skip
    assert refused.returncode == 9
    assert refused.stderr.strip().count("\n") == 0 and "already exists" in refused.stderr
    assert existing.read_text() == "keep me"
    missing = tmp_path / "no-folder" / "x.ics"
    refused = run("--db", db, "--user", "nurse", "export", "ics", "--out", str(missing),
                  **SIGNED_IN)  # fmt: skip
    assert refused.returncode == 9 and "does not exist" in refused.stderr
    unknown = run("--db", db, "--user", "nurse", "export", "fhir", "--mrn", "NOPE",
                  "--out", str(tmp_path / "b.json"), **SIGNED_IN)  # fmt: skip
    assert unknown.returncode == 9 and "NOPE" in unknown.stderr
    assert not (tmp_path / "b.json").exists()
    no_mrn = run("--db", db, "--user", "nurse", "export", "refill-card",
                 "--out", str(tmp_path / "c.pdf"), **SIGNED_IN)  # fmt: skip
    assert no_mrn.returncode == 2
    wrong = run("--db", db, "--user", "nurse", "export", "csv", "--out", str(tmp_path / "w.csv"),
                PATHWAY_PASSWORD="wrong")  # fmt: skip
    assert wrong.returncode == 6
    left = {p.name for p in tmp_path.rglob("*")}
    assert not {"b.json", "c.pdf", "w.csv"} & left
    assert not [name for name in left if name.endswith(".part")]
