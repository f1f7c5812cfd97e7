"""Preparation and Procedure pages driven by their automation names: the preparation stage
completed through the UI, a blocked gate, an override with its reason, and the procedure record
with the pump and initial fill (which starts the refill schedule)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QWidget,
)

from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import register_patient
from pathway_app.services.preparation import preparation_view
from pathway_app.services.procedure import procedure_view
from pathway_app.services.refill_views import pump_view
from pathway_app.storage.orm import Episode
from pathway_app.ui import object_names as names
from pathway_app.ui.common import to_qdate, to_qdatetime
from pathway_app.ui.main_window import MainWindow

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
START = NOW + timedelta(hours=2)


def child(parent: QWidget, kind: type, name: str):
    widget = parent.findChild(kind, name)
    assert widget is not None, name
    return widget


def click(qtbot, parent: QWidget, name: str) -> None:
    button = child(parent, QPushButton, name)
    assert button.isEnabled(), f"{name} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def make_episode(ctx: ServiceContext) -> int:
    patient = register_patient(ctx, PatientDraft("UI-5", "Okafor", "Greta", date(1966, 8, 9)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient,
            "noncancer-pain",
            "morphine",
            "isomed-8472-20-05",
            NOW.date(),
            "Dr A",
            "hospital-or",
        ),
    )


def open_page(window: MainWindow, episode_id: int, page: QWidget) -> None:
    window.open_episode(episode_id)
    window.episode_view.tabs.setCurrentWidget(page)


def stage(ctx: ServiceContext, episode_id: int) -> str | None:
    with ctx.db.reading() as session:
        row = session.get(Episode, episode_id)
        assert row is not None
        return row.current_stage


def fill_evaluations(page: QWidget, qtbot) -> None:
    day = to_qdate(date(2026, 11, 2))
    child(page, QDateEdit, names.PREP_TRIAL_DATE_EDIT).setDate(day)
    child(page, QLineEdit, names.PREP_TRIAL_DRUG_EDIT).setText("Morphine")
    child(page, QLineEdit, names.PREP_TRIAL_DOSE_EDIT).setText("1 mg bolus")
    child(page, QLineEdit, names.PREP_TRIAL_RELIEF_EDIT).setText("70")
    child(page, QDateEdit, names.PREP_PSYCH_DATE_EDIT).setDate(day)
    child(page, QLineEdit, names.PREP_PSYCH_BY_EDIT).setText("Dr P. Varga")
    outcome = child(page, QComboBox, names.PREP_PSYCH_OUTCOME_COMBO)
    outcome.setCurrentIndex(outcome.findData(True))
    child(page, QDateEdit, names.PREP_CONSENT_DATE_EDIT).setDate(to_qdate(date(2026, 11, 20)))
    child(page, QCheckBox, "prepConfirmationCheck-no-active-infection").setChecked(True)
    click(qtbot, page, names.PREP_EVALUATIONS_SAVE_BUTTON)


def record_tests(window: MainWindow, page: QWidget, on_dialog, qtbot) -> None:
    tests = child(page, QTreeWidget, names.PREP_TEST_LIST)
    for row in range(tests.topLevelItemCount()):
        tests.setCurrentItem(tests.topLevelItem(row))

        def fill(dialog: QWidget) -> None:
            child(dialog, QDateEdit, names.PREOP_TEST_ORDERED_EDIT).setDate(
                to_qdate(date(2026, 11, 16))
            )
            child(dialog, QDateEdit, names.PREOP_TEST_RESULTED_EDIT).setDate(
                to_qdate(date(2026, 11, 18))
            )
            child(dialog, QLineEdit, names.PREOP_TEST_RESULT_EDIT).setText("Normal")
            child(dialog, QLineEdit, names.PREOP_TEST_REVIEWED_BY_EDIT).setText("Dr A")
            child(dialog, QDateEdit, names.PREOP_TEST_REVIEWED_EDIT).setDate(
                to_qdate(date(2026, 11, 19))
            )
            click(qtbot, dialog, names.PREOP_TEST_SAVE_BUTTON)

        on_dialog(names.PREOP_TEST_DIALOG, fill)
        click(qtbot, page, names.PREP_TEST_EDIT_BUTTON)


def test_completing_preparation_through_the_ui_opens_the_procedure(
    ctx: ServiceContext, make_window, on_dialog, qtbot
) -> None:
    episode_id = make_episode(ctx)
    window = make_window(ctx)
    page = window.preparation_page
    open_page(window, episode_id, page)
    banner = child(page, QLabel, names.PREP_BANNER_LABEL)
    assert "NOT READY" in banner.text() and "Consent not recorded" in banner.text()

    fill_evaluations(page, qtbot)
    record_tests(window, page, on_dialog, qtbot)
    child(page, QCheckBox, names.PREP_MEDICATIONS_REVIEWED_CHECK).setChecked(True)
    inr = child(page, QComboBox, names.PREP_INR_COMBO)
    inr.setCurrentIndex(inr.findData(True))
    click(qtbot, page, names.PREP_MEDICATION_REVIEW_SAVE_BUTTON)

    # Fasting: the verdict follows the start time as it is typed, before saving.
    child(page, QCheckBox, names.PREP_START_CHECK).setChecked(True)
    start = child(page, QDateTimeEdit, names.PREP_START_EDIT)
    start.setDateTime(to_qdatetime(START))
    for kind, hours in (("clear_fluids", 3), ("light_meal", 7), ("fatty_meal", 10)):
        child(page, QCheckBox, f"prepIntakeCheck-{kind}").setChecked(True)
        child(page, QDateTimeEdit, f"prepIntakeEdit-{kind}").setDateTime(
            to_qdatetime(START - timedelta(hours=hours))
        )
    summary = child(page, QLabel, names.PREP_FASTING_SUMMARY_LABEL)
    assert "✓ Every minimum fast is met" in summary.text()
    start.setDateTime(to_qdatetime(START - timedelta(hours=3)))  # moved earlier: not met
    assert "not met" in summary.text() and "Earliest start" in summary.text()
    assert "Not met" in child(page, QLabel, "prepIntakeStatus-fatty_meal").text()
    start.setDateTime(to_qdatetime(START))
    click(qtbot, page, names.PREP_FASTING_SAVE_BUTTON)

    assert "READY" in banner.text() and "NOT READY" not in banner.text()
    assert stage(ctx, episode_id) == "procedure"
    view = preparation_view(ctx, episode_id)
    assert view.may_proceed and view.check.readiness.ready

    # The procedure page is open for recording now.
    proc = window.procedure_page
    window.episode_view.tabs.setCurrentWidget(proc)
    assert "Readiness gates met" in child(proc, QLabel, names.PROC_BANNER_LABEL).text()


def test_a_blocked_gate_an_override_and_the_procedure_record(
    ctx: ServiceContext, make_window, on_dialog, qtbot
) -> None:
    episode_id = make_episode(ctx)
    window = make_window(ctx)
    proc = window.procedure_page
    open_page(window, episode_id, proc)
    assert "BLOCKED" in child(proc, QLabel, names.PROC_BANNER_LABEL).text()
    assert not child(proc, QPushButton, names.PROC_SAVE_BUTTON).isEnabled()

    # A drug whose hold-table values are unverified is flagged on the list.
    page = window.preparation_page
    window.episode_view.tabs.setCurrentWidget(page)

    def add_drug(dialog: QWidget) -> None:
        combo = child(dialog, QComboBox, names.MEDICATION_DRUG_COMBO)
        combo.setCurrentIndex(combo.findData("clopidogrel"))
        assert "UNVERIFIED" in child(dialog, QLabel, names.MEDICATION_TABLE_LABEL).text()
        child(dialog, QDateTimeEdit, names.MEDICATION_DOSE_EDIT).setDateTime(
            to_qdatetime(NOW - timedelta(days=8))
        )
        click(qtbot, dialog, names.MEDICATION_SAVE_BUTTON)

    on_dialog(names.MEDICATION_DIALOG, add_drug)
    click(qtbot, page, names.PREP_MEDICATION_ADD_BUTTON)
    medications = child(page, QTreeWidget, names.PREP_MEDICATION_LIST)
    assert "unverified" in medications.topLevelItem(0).text(2)

    # Override: refused without a reason, then given.
    seen: dict[str, str] = {}

    def override(dialog: QWidget) -> None:
        click(qtbot, dialog, names.OVERRIDE_SAVE_BUTTON)
        seen["reason"] = child(dialog, QLabel, names.OVERRIDE_REASON_ERROR).text()
        seen["by"] = child(dialog, QLabel, names.OVERRIDE_BY_ERROR).text()
        child(dialog, QPlainTextEdit, names.OVERRIDE_REASON_EDIT).setPlainText(
            "Failing external pump; the implant cannot wait for the work-up."
        )
        child(dialog, QLineEdit, names.OVERRIDE_BY_EDIT).setText("Dr M. Okoye")
        click(qtbot, dialog, names.OVERRIDE_SAVE_BUTTON)

    on_dialog(names.OVERRIDE_DIALOG, override)
    click(qtbot, page, names.PREP_OVERRIDE_BUTTON)
    assert "Enter a reason" in seen["reason"] and seen["by"]
    assert "OVERRIDDEN" in child(page, QLabel, names.PREP_BANNER_LABEL).text()
    assert "Failing external pump" in child(page, QLabel, names.PREP_OVERRIDE_LABEL).text()
    assert stage(ctx, episode_id) == "procedure"

    # The procedure record.
    window.episode_view.tabs.setCurrentWidget(proc)
    assert "OVERRIDE" in child(proc, QLabel, names.PROC_BANNER_LABEL).text()
    anaesthesia = child(proc, QComboBox, names.PROC_ANAESTHESIA_COMBO)
    anaesthesia.setCurrentIndex(anaesthesia.findData("general"))
    child(proc, QLineEdit, "procPersonnelEdit-implanting-physician").setText("Dr A, Dr B")
    incision = NOW - timedelta(minutes=90)
    for index, key in enumerate(
        (
            "incision",
            "pocket-creation",
            "pump-placement",
            "catheter-insertion",
            "testing",
            "closure",
        )
    ):
        child(proc, QCheckBox, f"procStepCheck-{key}").setChecked(True)
        child(proc, QDateTimeEdit, f"procStepEdit-{key}").setDateTime(
            to_qdatetime(incision + timedelta(minutes=15 * index))
        )
    # Out of order: pocket creation before the incision is refused next to its field.
    child(proc, QDateTimeEdit, "procStepEdit-pocket-creation").setDateTime(
        to_qdatetime(incision - timedelta(minutes=5))
    )
    click(qtbot, proc, names.PROC_SAVE_BUTTON)
    error = child(proc, QLabel, "procStepError-pocket-creation")
    assert error.isVisible() and "before Incision" in error.text()
    assert not procedure_view(ctx, episode_id).recorded
    child(proc, QDateTimeEdit, "procStepEdit-pocket-creation").setDateTime(
        to_qdatetime(incision + timedelta(minutes=15))
    )
    for item in ctx.readiness.procedure.checklist[0].items:
        child(proc, QCheckBox, f"procChecklistCheck-{item.key}").setChecked(True)
    child(proc, QLineEdit, names.PROC_ANTIBIOTIC_EDIT).setText("Cefazolin 2 g")
    child(proc, QCheckBox, names.PROC_ANTIBIOTIC_CHECK).setChecked(True)
    child(proc, QDateTimeEdit, names.PROC_ANTIBIOTIC_AT_EDIT).setDateTime(
        to_qdatetime(incision - timedelta(minutes=30))
    )
    child(proc, QCheckBox, names.PROC_CSF_FLOW_CHECK).setChecked(True)
    child(proc, QLineEdit, names.PROC_TIP_LEVEL_EDIT).setText("T10")
    click(qtbot, proc, names.PROC_SAVE_BUTTON)
    view = procedure_view(ctx, episode_id)
    assert view.recorded and len(view.steps) == 6
    assert view.duration is not None and view.duration.flag is None  # 75 min
    flags = child(proc, QLabel, names.PROC_FLAGS_LABEL).text()
    assert "Time out" in flags and "Record the pump" in flags

    # The pump and its initial fill, through the refill service.
    def implant(dialog: QWidget) -> None:
        child(dialog, QLineEdit, names.IMPLANT_SERIAL_EDIT).setText("SN-555")
        child(dialog, QDateTimeEdit, names.INITIAL_FILL_AT_EDIT).setDateTime(
            to_qdatetime(incision + timedelta(minutes=40))
        )
        child(dialog, QLineEdit, names.INITIAL_FILL_ADDED_EDIT).setText("20")
        child(dialog, QLineEdit, names.INITIAL_FILL_CONCENTRATION_EDIT).setText("10")
        child(dialog, QLineEdit, names.INITIAL_FILL_LOT_EDIT).setText("LOT-9")
        child(dialog, QDateEdit, names.INITIAL_FILL_EXPIRY_EDIT).setDate(to_qdate(date(2027, 5, 1)))
        child(dialog, QLineEdit, names.INITIAL_FILL_CHECKER_EDIT).setText("N. Berg")
        child(dialog, QLineEdit, names.INITIAL_FILL_NEEDLE_EDIT).setText("Non-coring")
        method = child(dialog, QComboBox, names.INITIAL_FILL_LOCATION_COMBO)
        method.setCurrentIndex(method.findData("template"))
        click(qtbot, dialog, names.IMPLANT_SAVE_BUTTON)

    on_dialog(names.IMPLANT_DIALOG, implant)
    click(qtbot, proc, names.PROC_RECORD_PUMP_BUTTON)
    pump = pump_view(ctx, episode_id)
    assert pump is not None and pump.serial == "SN-555" and pump.due_at is not None
    assert "SN-555" in child(proc, QLabel, names.PROC_PUMP_LABEL).text()
    assert not child(proc, QPushButton, names.PROC_RECORD_PUMP_BUTTON).isVisible()
    assert "Record the pump" not in child(proc, QLabel, names.PROC_FLAGS_LABEL).text()
