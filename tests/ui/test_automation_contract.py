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
