"""The main flows, driven through the automation names as a GUI test suite would."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTreeWidget,
    QWidget,
)
from sqlalchemy import func, select

from pathway_app.domain.clock import SystemClock
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import register_patient
from pathway_app.storage.orm import AuditEntry, Patient
from pathway_app.ui import object_names as names
from pathway_app.ui.row_model import EpisodeTablePanel
from pathway_app.ui.worklist import EPISODE_ID_ROLE, Column


def child(parent: QWidget, cls: type, name: str):
    widget = parent.findChild(cls, name)
    assert widget is not None, f"no {cls.__name__} named {name}"
    return widget


def click(qtbot, button: QPushButton) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def table_column(table: QTableView, column: int) -> list[str]:
    model = table.model()
    return [model.index(row, column).data() for row in range(model.rowCount())]


def fill_patient(dialog: QWidget, mrn: str, family: str, given: str, born: QDate) -> None:
    child(dialog, QLineEdit, names.PATIENT_MRN_EDIT).setText(mrn)
    child(dialog, QLineEdit, names.PATIENT_FAMILY_NAME_EDIT).setText(family)
    child(dialog, QLineEdit, names.PATIENT_GIVEN_NAME_EDIT).setText(given)
    child(dialog, QDateEdit, names.PATIENT_BIRTH_DATE_EDIT).setDate(born)


def choose(combo: QComboBox, text_part: str) -> None:
    index = next(i for i in range(combo.count()) if text_part in combo.itemText(i))
    combo.setCurrentIndex(index)
    # Issue 9: the worklist filters read on a worker thread; wait until the rows are shown.
    panel = combo.parent()
    while panel is not None and not isinstance(panel, EpisodeTablePanel):
        panel = panel.parent()
    if panel is not None:
        assert panel.wait_until_idle()


def add_patient_with_episode(ctx, mrn="MRN-1", family="Lindgren", given="Eva", planned=None):
    patient_id = register_patient(ctx, PatientDraft(mrn, family, given, date(1961, 5, 4)))
    return open_episode(
        ctx,
        EpisodeDraft(
            patient_id=patient_id,
            indication="spasticity-spinal",
            drug="baclofen",
            pump_model="isomed-8472-20-05",
            planned_procedure_on=planned or date(2026, 12, 20),
            surgeon="Dr Haas",
            setting="hospital-or",
        ),
    )


def test_register_patient_and_open_episode_through_dialogs(ctx, make_window, on_dialog, qtbot):
    window = make_window(ctx)
    table = child(window, QTableView, names.WORKLIST_TABLE)
    assert table.model().rowCount() == 0

    def register(dialog: QWidget) -> None:
        fill_patient(dialog, "  A-100 ", "Nguyễn", "Thi", QDate(1958, 3, 14))
        qtbot.mouseClick(
            child(dialog, QPushButton, names.PATIENT_SAVE_BUTTON), Qt.MouseButton.LeftButton
        )

    on_dialog(names.PATIENT_DIALOG, register)
    click(qtbot, child(window, QPushButton, names.NEW_PATIENT_BUTTON))
    with ctx.db.reading() as session:
        patient = session.scalars(select(Patient)).one()
        saved = (patient.mrn, patient.family_name, patient.birth_date)
    assert saved == ("A-100", "Nguyễn", date(1958, 3, 14))

    def open_it(dialog: QWidget) -> None:
        # The patient just registered is already chosen.
        assert "A-100" in child(dialog, QComboBox, names.EPISODE_PATIENT_COMBO).currentText()
        choose(child(dialog, QComboBox, names.EPISODE_INDICATION_COMBO), "non-cancer")
        choose(child(dialog, QComboBox, names.EPISODE_DRUG_COMBO), "Morphine")
        choose(child(dialog, QComboBox, names.EPISODE_PUMP_MODEL_COMBO), "8472-20-05")
        child(dialog, QDateEdit, names.EPISODE_PLANNED_DATE_EDIT).setDate(QDate(2027, 1, 20))
        child(dialog, QLineEdit, names.EPISODE_SURGEON_EDIT).setText("Dr Okoye")
        choose(child(dialog, QComboBox, names.EPISODE_SETTING_COMBO), "Surgical centre")
        qtbot.mouseClick(
            child(dialog, QPushButton, names.EPISODE_SAVE_BUTTON), Qt.MouseButton.LeftButton
        )

    on_dialog(names.EPISODE_DIALOG, open_it)
    click(qtbot, child(window, QPushButton, names.NEW_EPISODE_BUTTON))

    assert table.model().rowCount() == 1
    assert table_column(table, Column.PATIENT) == ["Nguyễn, Thi"]
    assert table_column(table, Column.STAGE) == ["Preparation"]
    # 28 days before the planned date the screening trial is due first.
    assert table_column(table, Column.NEXT_ACTION) == ["Screening trial documented"]
    assert table_column(table, Column.DUE) == ["2026-12-23"]
    assert table_column(table, Column.STATUS) == ["On track"]
    # The new episode is open in the episode view.
    header = child(window, QLabel, names.EPISODE_HEADER_LABEL)
    assert "Nguyễn, Thi" in header.text() and "A-100" in header.text()


def test_patient_dialog_shows_each_problem_next_to_its_field_and_saves_nothing(
    ctx, make_window, on_dialog, qtbot
):
    register_patient(ctx, PatientDraft("DUP-1", "Existing", "Person", date(1970, 1, 1)))
    window = make_window(ctx)
    seen: dict[str, str] = {}

    def try_bad_input(dialog: QWidget) -> None:
        save = child(dialog, QPushButton, names.PATIENT_SAVE_BUTTON)
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
        for name in (
            names.PATIENT_MRN_ERROR,
            names.PATIENT_FAMILY_NAME_ERROR,
            names.PATIENT_GIVEN_NAME_ERROR,
            names.PATIENT_BIRTH_DATE_ERROR,
        ):
            label = child(dialog, QLabel, name)
            assert label.isVisible(), name
            seen[name] = label.text()
        fill_patient(dialog, "DUP-1", "New", "Person", QDate(1980, 2, 29))
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
        seen["duplicate"] = child(dialog, QLabel, names.PATIENT_MRN_ERROR).text()
        assert not child(dialog, QLabel, names.PATIENT_BIRTH_DATE_ERROR).isVisible()
        assert dialog.isVisible()
        qtbot.mouseClick(
            child(dialog, QPushButton, names.PATIENT_CANCEL_BUTTON), Qt.MouseButton.LeftButton
        )

    on_dialog(names.PATIENT_DIALOG, try_bad_input)
    click(qtbot, child(window, QPushButton, names.NEW_PATIENT_BUTTON))
    assert "MRN" in seen[names.PATIENT_MRN_ERROR]
    assert "date of birth" in seen[names.PATIENT_BIRTH_DATE_ERROR]
    assert "already registered" in seen["duplicate"]
    with ctx.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 1


def test_episode_dialog_refuses_missing_choices_and_a_date_before_birth(ctx, qtbot):
    from pathway_app.ui.dialogs.episode_dialog import EpisodeDialog

    patient_id = register_patient(ctx, PatientDraft("E-1", "Okafor", "Ada", date(1990, 6, 1)))
    dialog = EpisodeDialog(ctx, None, patient_id)
    qtbot.addWidget(dialog)
    child(dialog, QDateEdit, names.EPISODE_PLANNED_DATE_EDIT).setDate(QDate(1989, 1, 1))
    qtbot.mouseClick(
        child(dialog, QPushButton, names.EPISODE_SAVE_BUTTON), Qt.MouseButton.LeftButton
    )
    assert dialog.result() != QDialog.DialogCode.Accepted
    for name in (
        names.EPISODE_INDICATION_ERROR,
        names.EPISODE_DRUG_ERROR,
        names.EPISODE_PUMP_MODEL_ERROR,
        names.EPISODE_SURGEON_ERROR,
        names.EPISODE_SETTING_ERROR,
        names.EPISODE_PLANNED_DATE_ERROR,
    ):
        assert child(dialog, QLabel, name).text(), name
    assert (
        "before the date of birth" in child(dialog, QLabel, names.EPISODE_PLANNED_DATE_ERROR).text()
    )
    assert dialog.episode_id is None


def open_first_episode(window, qtbot) -> None:
    table = child(window, QTableView, names.WORKLIST_TABLE)
    table.setFocus()
    table.selectRow(0)
    qtbot.keyClick(table, Qt.Key.Key_Return)


def test_mark_done_then_undo_keeps_both_in_history(ctx, make_window, on_dialog, qtbot):
    add_patient_with_episode(ctx)
    window = make_window(ctx)
    open_first_episode(window, qtbot)
    milestones = child(window, QTreeWidget, names.MILESTONE_LIST)
    first = milestones.topLevelItem(0)
    assert first.text(0).startswith("Screening trial documented")
    milestones.setCurrentItem(first)

    def confirm(dialog: QWidget) -> None:
        child(dialog, QPlainTextEdit, names.DONE_NOTE_EDIT).setPlainText("Relief 70 %")
        qtbot.mouseClick(
            child(dialog, QPushButton, names.DONE_SAVE_BUTTON), Qt.MouseButton.LeftButton
        )

    on_dialog(names.DONE_DIALOG, confirm)
    qtbot.mouseClick(child(window, QPushButton, names.MARK_DONE_BUTTON), Qt.MouseButton.LeftButton)

    assert milestones.currentItem().text(1) == "Done"
    assert "Nurse Tester" in milestones.currentItem().text(3)
    table = child(window, QTableView, names.WORKLIST_TABLE)
    assert table_column(table, Column.NEXT_ACTION) == ["MRI of the spine reviewed"]
    undo = child(window, QPushButton, names.UNDO_MARK_BUTTON)
    assert undo.isEnabled()
    qtbot.mouseClick(undo, Qt.MouseButton.LeftButton)

    assert milestones.currentItem().text(1) != "Done"
    assert table_column(table, Column.NEXT_ACTION) == ["Screening trial documented"]
    history = child(window, QListWidget, names.HISTORY_LIST)
    texts = [history.item(i).text() for i in range(history.count())]
    assert "undid the mark" in texts[0] and "(was done)" in texts[0]
    assert "marked done" in texts[1]
    with ctx.db.reading() as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["milestone.done", "milestone.undone"]


def test_skip_needs_a_reason(ctx, make_window, on_dialog, qtbot):
    add_patient_with_episode(ctx)
    window = make_window(ctx)
    open_first_episode(window, qtbot)
    seen = {}

    def skip(dialog: QWidget) -> None:
        save = child(dialog, QPushButton, names.SKIP_SAVE_BUTTON)
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
        seen["empty"] = child(dialog, QLabel, names.SKIP_REASON_ERROR).text()
        child(dialog, QPlainTextEdit, names.SKIP_REASON_EDIT).setPlainText("Trial done elsewhere")
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)

    on_dialog(names.SKIP_DIALOG, skip)
    qtbot.mouseClick(
        child(window, QPushButton, names.MARK_SKIPPED_BUTTON), Qt.MouseButton.LeftButton
    )
    assert "reason" in seen["empty"]
    milestones = child(window, QTreeWidget, names.MILESTONE_LIST)
    assert milestones.currentItem().text(1) == "Skipped"
    assert "Trial done elsewhere" in milestones.currentItem().toolTip(0)


def test_search_and_filters_narrow_the_worklist(demo_ctx, make_window, qtbot):
    window = make_window(demo_ctx)
    table = child(window, QTableView, names.WORKLIST_TABLE)
    total = table.model().rowCount()
    assert total >= 25

    search = child(window, QLineEdit, names.WORKLIST_SEARCH)
    qtbot.keyClicks(search, "demo-1007")
    qtbot.waitUntil(lambda: table.model().rowCount() == 1)
    assert table_column(table, Column.MRN) == ["DEMO-1007"]
    search.clear()
    qtbot.waitUntil(lambda: table.model().rowCount() == total)

    stage = child(window, QComboBox, names.WORKLIST_STAGE_FILTER)
    choose(stage, "Preparation")
    stages = table_column(table, Column.STAGE)
    # Issue 6: a missed follow-up item or an urgent red flag is never filtered out.
    kept = [
        s
        for s, a, f in zip(
            stages,
            table_column(table, Column.NEXT_ACTION),
            table_column(table, Column.STATUS),
            strict=True,
        )
        if not (a.startswith("Missed:") or f == "URGENT")
    ]
    assert kept and set(kept) == {"Preparation"}
    choose(stage, "All stages")

    status = child(window, QComboBox, names.WORKLIST_STATUS_FILTER)
    choose(status, "Overdue")
    flags = table_column(table, Column.STATUS)
    assert flags and set(flags) == {"Overdue", "URGENT"}  # issue 6: urgent always shown
    choose(status, "All statuses")
    assert table.model().rowCount() == total


def test_worklist_sorts_by_any_column_and_starts_most_urgent_first(demo_ctx, make_window, qtbot):
    window = make_window(demo_ctx)
    table = child(window, QTableView, names.WORKLIST_TABLE)
    panel = window.worklist
    flags = table_column(table, Column.STATUS)
    order = ["URGENT", "Overdue", "Due soon", "On track", "No date"]  # issue 6: urgent first
    assert [order.index(f) for f in flags] == sorted(order.index(f) for f in flags)
    # Issue 9: a header sort reads on a worker thread; rows_loaded says they are shown.
    with qtbot.waitSignal(panel.rows_loaded):
        table.sortByColumn(Column.PATIENT, Qt.SortOrder.AscendingOrder)
    patients = table_column(table, Column.PATIENT)
    assert patients == sorted(patients, key=str.casefold)
    with qtbot.waitSignal(panel.rows_loaded):
        table.sortByColumn(Column.DUE, Qt.SortOrder.DescendingOrder)
    dated = [d for d in table_column(table, Column.DUE) if d != "—"]
    assert dated == sorted(dated, reverse=True)


def test_worklist_model_passes_qt_model_checks(demo_ctx, make_window, qtmodeltester):
    window = make_window(demo_ctx)
    qtmodeltester.check(window.worklist.model)


def test_rows_carry_the_episode_id(demo_ctx, make_window):
    window = make_window(demo_ctx)
    table = child(window, QTableView, names.WORKLIST_TABLE)
    ids = {table.model().index(r, 0).data(EPISODE_ID_ROLE) for r in range(table.model().rowCount())}
    assert len(ids) == table.model().rowCount()


def test_clock_banner_shows_only_when_the_clock_is_fixed(ctx, make_window):
    window = make_window(ctx)
    banner = child(window, QLabel, names.CLOCK_BANNER)
    assert banner.isVisible() and "2026-11-26 10:00" in banner.text()
    ctx.clock = SystemClock()
    other = make_window(ctx)
    assert not child(other, QLabel, names.CLOCK_BANNER).isVisible()


def test_data_survives_a_restart(ctx, make_window, db_path, template, catalogue, clock):
    from pathway_app.services.context import ServiceContext
    from pathway_app.storage.database import open_database

    add_patient_with_episode(ctx, mrn="KEEP-1", family="Persist")
    ctx.db.close()
    reopened = open_database(str(db_path))
    try:
        window = make_window(ServiceContext(reopened, template, catalogue, clock, "x"))
        table = child(window, QTableView, names.WORKLIST_TABLE)
        assert table_column(table, Column.MRN) == ["KEEP-1"]
    finally:
        reopened.close()
