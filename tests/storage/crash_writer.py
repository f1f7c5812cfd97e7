"""Child process of test_crash_safety.py: performs user actions on a database as fast as it
can and prints one line per action *after* it committed ("acknowledged"), flushing each.

Usage: python crash_writer.py DB_PATH RUN_NUMBER
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

from pathway_app.app import load_configuration
from pathway_app.domain.clock import FixedClock
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.milestones import mark_done
from pathway_app.services.patients import register_patient
from pathway_app.services.views import episode_view
from pathway_app.storage.database import open_database


def main() -> None:
    path, run = sys.argv[1], int(sys.argv[2])
    template, catalogue = load_configuration()
    db = open_database(path, busy_timeout_ms=10000)
    ctx = ServiceContext(
        db, template, catalogue, FixedClock(datetime(2026, 11, 26, 10, tzinfo=UTC)), "Crash"
    )
    print("READY", flush=True)
    index = 0
    while True:
        mrn = f"K{run}-{index}"
        patient_id = register_patient(ctx, PatientDraft(mrn, "Crash", "Test", date(1970, 1, 1)))
        print(f"PATIENT {mrn}", flush=True)
        episode_id = open_episode(
            ctx,
            EpisodeDraft(
                patient_id=patient_id,
                indication="noncancer-pain",
                drug="morphine",
                pump_model="isomed-8472-20-05",
                planned_procedure_on=date(2027, 1, 12),
                surgeon="Dr Crash",
                setting="hospital-or",
            ),
        )
        print(f"EPISODE {mrn} {episode_id}", flush=True)
        first = next(m for m in episode_view(ctx, episode_id).stages[0].milestones)
        mark_done(ctx, first.id, expected_version=first.version)
        print(f"DONE {mrn} {first.id}", flush=True)
        index += 1


if __name__ == "__main__":
    main()
