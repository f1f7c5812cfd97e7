"""docs/automation.md is a public API: every documented name must exist in the running app,
be unique, and carry an accessible name; every name in object_names.py must be documented."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

from PySide6.QtWidgets import QWidget

from pathway_app.domain.records import PatientDraft
from pathway_app.services.demo import seed_demo
from pathway_app.services.patients import register_patient
from pathway_app.services.refill_views import pump_view, refill_worklist
from pathway_app.ui import object_names
from pathway_app.ui.dialogs.episode_dialog import EpisodeDialog
from pathway_app.ui.dialogs.mark_dialogs import DoneDialog, SkipDialog
from pathway_app.ui.dialogs.patient_dialog import PatientDialog
from pathway_app.ui.dialogs.refill_dialog import ExposureDialog, ImplantDialog, RefillDialog

DOC = Path(__file__).resolve().parents[2] / "docs" / "automation.md"
ROW = re.compile(r"^\|\s*`([A-Za-z][A-Za-z0-9]*)`\s*\|", re.MULTILINE)


def documented_names() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    for extra in sorted(DOC.parent.glob("automation-*.md")):
        text += extra.read_text(encoding="utf-8")
    return ROW.findall(text)


def named_widgets(root: QWidget) -> list[QWidget]:
    return [root, *root.findChildren(QWidget)]


def test_the_document_and_the_names_module_agree():
    documented = documented_names()
    assert len(documented) == len(set(documented)), "a name is documented twice"
    assert set(documented) == set(object_names.all_names().values())


def test_every_documented_name_exists_once_with_an_accessible_name(ctx, make_window, qtbot):
    patient_id = register_patient(ctx, PatientDraft("A-1", "Berg", "Ola", date(1970, 1, 1)))
    window = make_window(ctx)
    window.worklist.reload()
    windows = [
        window,
        PatientDialog(ctx),
        EpisodeDialog(ctx, None, patient_id),
        DoneDialog(ctx, 1, "A milestone", None),
        SkipDialog(ctx, 1, "A milestone", None),
    ]
    # Refill dialogs need a pump with a fill history: the demo clinic has them.
    seed_demo(ctx)
    pump = pump_view(ctx, refill_worklist(ctx)[0].episode_id)
    assert pump is not None
    windows += [
        RefillDialog(ctx, pump),
        ImplantDialog(ctx, pump.episode_id, "isomed-8472-20-05", "morphine"),
        ExposureDialog(ctx, pump.episode_id),
    ]
    # Issue 4: sign-in, first administrator, audit log and users dialogs (the lock screen is
    # part of the main window).
    from pathway_app.ui.dialogs.audit_dialog import AuditDialog
    from pathway_app.ui.dialogs.users_dialog import UsersDialog
    from pathway_app.ui.sign_in import FirstAdminDialog, SignInDialog

    windows += [SignInDialog(ctx), FirstAdminDialog(ctx), AuditDialog(ctx), UsersDialog(ctx)]
    # Issue 6: stay, follow-up, complication, red-flag and close dialogs.
    from pathway_app.domain.followup import FollowUpStatus
    from pathway_app.services.followup import propose_followup_plan
    from pathway_app.services.followup_views import FollowUpItemView
    from pathway_app.ui.dialogs import followup_dialogs as fd

    item = FollowUpItemView(
        id=1,
        key="",
        purpose="Wound check",
        due_on=date(2027, 1, 1),
        window_opens_on=None,
        status=FollowUpStatus.PLANNED,
        notes="",
        series_id="s",
        occurrence=0,
        series_size=2,
        cancel_reason="",
        done_at=None,
        missed_on=None,
        resolution="",
    )
    episode_id = pump.episode_id
    windows += [
        fd.AdmissionDialog(ctx, episode_id, None),
        fd.DischargeDialog(ctx, episode_id, ["Implant card issued"]),
        fd.RestrictionsDialog(ctx, episode_id, date(2027, 1, 1), ["No lifting"]),
        fd.WoundCareDialog(ctx, episode_id),
        fd.MonitoringNoteDialog(ctx, episode_id),
        fd.PlanDialog(ctx, propose_followup_plan(ctx, episode_id)),
        fd.FollowUpAddDialog(ctx, episode_id),
        fd.FollowUpMoveDialog(ctx, item),
        fd.FollowUpStatusDialog(ctx, item),
        fd.ComplicationDialog(ctx, episode_id),
        fd.RedFlagDialog(ctx, episode_id),
        fd.ResolveRedFlagDialog(ctx, 1, "Red flag: Fever"),
        fd.CloseEpisodeDialog(ctx, episode_id),
    ]
    # Issue 5: the preparation and procedure dialogs (the pages are in the main window).
    from pathway_app.services.preparation import preparation_view
    from pathway_app.ui.dialogs.preparation_dialogs import (
        EventDialog,
        MedicationDialog,
        OverrideDialog,
        PreopTestDialog,
    )

    prep = preparation_view(ctx, pump.episode_id)
    windows += [
        MedicationDialog(ctx, pump.episode_id),
        PreopTestDialog(ctx, pump.episode_id, prep.tests[0]),
        OverrideDialog(ctx, pump.episode_id, prep.gates),
        EventDialog(ctx, pump.episode_id),
    ]
    # Issue 10: the outcome dialog, correcting an entry (so the reason field is there too).
    from pathway_app.domain.outcomes import OutcomeDraft
    from pathway_app.services.outcomes import outcomes_view, record_outcome
    from pathway_app.ui.dialogs.outcome_dialog import OutcomeDialog

    draft = OutcomeDraft(date(2026, 11, 1), "follow-up", pain_nrs=6, ashworth="2")
    record_outcome(ctx, episode_id, draft)
    entry = outcomes_view(ctx, episode_id).entries[0]
    windows.append(OutcomeDialog(ctx, episode_id, "pain", entry, has_baseline=True))
    for w in windows[1:]:
        qtbot.addWidget(w)
    found: Counter[str] = Counter()
    for top in windows:
        widgets = named_widgets(top)
        for widget in widgets:
            if widget.objectName():
                found[widget.objectName()] += 1
        for widget in widgets:
            name = widget.objectName()
            if name in object_names.all_names().values() and not name.endswith("Error"):
                assert widget.accessibleName(), f"{name} has no accessible name"
    for name in documented_names():
        assert found[name] == 1, f"{name} found {found[name]} times"
