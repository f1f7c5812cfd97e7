"""Stay and follow-up screens driven by their automation names: the overview is the first tab
on open; discharge is blocked, then completed once the checklist is ticked; the proposed plan
is accepted; moving the app clock makes the wound check missed, and the pathway worklist shows
it whatever the filters; a ticked red flag puts the patient first as URGENT; a closed episode
is found with "Show closed".

Clock: 2026-11-26 10:00 UTC; operation 2026-11-24; wound check due 2026-12-08.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QTreeWidget,
    QWidget,
)

from pathway_app.domain.progress import DueStatus
from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.followup_views import followup_view, stay_view
from pathway_app.services.patients import register_patient
from pathway_app.services.stay import record_admission
from pathway_app.ui import object_names as names
from pathway_app.ui.worklist import EPISODE_ID_ROLE, STATUS_ROLE, Column

OPERATION = date(2026, 11, 24)


def child(parent: QWidget, kind, name: str):
    widget = parent.findChild(kind, name)
    assert widget is not None, name
    return widget


def click(qtbot, widget: QPushButton) -> None:
    assert widget.isEnabled(), widget.objectName()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def admitted_episode(ctx: ServiceContext, mrn: str = "UI-1", family: str = "Ward") -> int:
    patient = register_patient(ctx, PatientDraft(mrn, family, "Wim", date(1958, 3, 2)))
    episode_id = open_episode(
        ctx,
        EpisodeDraft(
            patient,
            "noncancer-pain",
            "morphine",
            "isomed-8472-20-05",
            OPERATION,
            "Dr A",
            "hospital-or",
        ),
    )
    record_admission(ctx, episode_id, datetime(2026, 11, 24, 7, 30, tzinfo=UTC))
    return episode_id


def worklist_row(window, episode_id: int) -> dict[Column, str] | None:
    assert window.worklist.wait_until_idle()  # issue 9: filters read on a worker thread
    table = child(window, QTableView, names.WORKLIST_TABLE)
    model = table.model()
    for row in range(model.rowCount()):
        if model.index(row, 0).data(EPISODE_ID_ROLE) == episode_id:
            values = {c: model.index(row, c).data() for c in Column}
            values["row"] = row  # type: ignore[index]
            values["flag"] = model.index(row, 0).data(STATUS_ROLE)  # type: ignore[index]
            return values
    return None


def open_in_window(window, episode_id: int) -> None:
    window.open_episode(episode_id)


def test_overview_is_the_first_tab_and_selected_on_open(ctx, make_window, qtbot) -> None:
    episode_id = admitted_episode(ctx)
    window = make_window(ctx)
    open_in_window(window, episode_id)
    tabs = child(window, QTabWidget, names.EPISODE_TABS)
    assert tabs.currentWidget().objectName() == names.OVERVIEW_PAGE
    assert tabs.widget(0).objectName() == names.OVERVIEW_PAGE
    assert tabs.tabText(1) == "Pathway"
    chart = child(window, QWidget, names.TIMELINE_CHART)
    assert "Admitted to the ward" in chart.accessibleDescription()
    assert "Stay — Admitted" in chart.accessibleDescription()


def test_discharge_blocked_then_completed_plan_accepted_then_missed_on_the_worklist(
    ctx, make_window, on_dialog, qtbot
) -> None:
    episode_id = admitted_episode(ctx)
    window = make_window(ctx)
    open_in_window(window, episode_id)
    tabs = child(window, QTabWidget, names.EPISODE_TABS)
    stay = child(window, QWidget, names.STAY_PAGE)
    tabs.setCurrentWidget(stay)
    discharge_button = child(stay, QPushButton, names.STAY_DISCHARGE_BUTTON)
    seen: dict[str, str] = {}

    # 1. Blocked: the checklist is open and no reason is given.
    def blocked(dialog: QWidget) -> None:
        click(qtbot, child(dialog, QPushButton, names.DISCHARGE_SAVE_BUTTON))
        error = child(dialog, QLabel, names.DISCHARGE_OVERRIDE_REASON_ERROR)
        seen["blocked"] = error.text() if error.isVisible() else ""
        seen["still_open"] = str(dialog.isVisible())
        click(qtbot, child(dialog, QPushButton, names.DISCHARGE_CANCEL_BUTTON))

    on_dialog(names.DISCHARGE_DIALOG, blocked)
    click(qtbot, discharge_button)
    assert "Discharge is blocked: 6 checklist items open" in seen["blocked"]
    assert seen["still_open"] == "True"
    assert stay_view(ctx, episode_id).discharged_at is None

    # 2. Tick the whole checklist on the page.
    checklist = child(stay, QListWidget, names.STAY_CHECKLIST)
    for index in range(checklist.count()):
        checklist.item(index).setCheckState(Qt.CheckState.Checked)
        qtbot.waitUntil(lambda i=index: stay_view(ctx, episode_id).checklist[i].ticked)
    qtbot.waitUntil(lambda: "ticked by" in checklist.item(checklist.count() - 1).text())
    assert not stay_view(ctx, episode_id).open_items

    # 3. Discharge goes through; the plan is proposed at once and accepted.
    def complete(dialog: QWidget) -> None:
        click(qtbot, child(dialog, QPushButton, names.DISCHARGE_SAVE_BUTTON))

    def accept(dialog: QWidget) -> None:
        table = dialog.findChild(QWidget, names.PLAN_ITEMS_TABLE)
        seen["plan_rows"] = str(table.rowCount())
        seen["refill"] = child(dialog, QLabel, names.PLAN_REFILL_LABEL).text()
        click(qtbot, child(dialog, QPushButton, names.PLAN_ACCEPT_BUTTON))

    on_dialog(names.DISCHARGE_DIALOG, complete)
    on_dialog(names.PLAN_DIALOG, accept)
    click(qtbot, discharge_button)
    qtbot.waitUntil(lambda: followup_view(ctx, episode_id).plan_accepted)
    assert stay_view(ctx, episode_id).discharged_at is not None
    assert seen["plan_rows"] == "11"
    assert "refill engine" in seen["refill"]
    status = child(stay, QLabel, names.STAY_STATUS_LABEL).text()
    assert "discharged" in status

    page = child(window, QWidget, names.FOLLOWUP_PAGE)
    tabs.setCurrentWidget(page)  # a page is loaded when its tab is shown (issue 9)
    items = child(page, QTreeWidget, names.FOLLOWUP_ITEMS_TREE)
    assert items.topLevelItemCount() == 11
    assert items.topLevelItem(0).text(0) == "Wound check"
    assert items.topLevelItem(0).text(2) == "Planned"

    # 4. The wound check's due day passes: the app clock moves and the screens are refreshed.
    ctx.clock.set(datetime(2026, 12, 9, 8, 0, tzinfo=UTC))
    click(qtbot, child(window, QPushButton, names.REFRESH_BUTTON))
    assert items.topLevelItem(0).text(0) == "Wound check"
    assert items.topLevelItem(0).text(2) == "Missed"
    assert "missed item" in child(page, QLabel, names.FOLLOWUP_SUMMARY_LABEL).text()

    row = worklist_row(window, episode_id)
    assert row is not None
    assert row[Column.NEXT_ACTION] == "Missed: Wound check"
    assert row[Column.STATUS] == "Overdue"
    # Neither the status nor the stage filter hides it.
    status_filter = child(window, QComboBox, names.WORKLIST_STATUS_FILTER)
    status_filter.setCurrentIndex(status_filter.findData(DueStatus.ON_TRACK.value))
    assert worklist_row(window, episode_id) is not None
    stage_filter = child(window, QComboBox, names.WORKLIST_STAGE_FILTER)
    stage_filter.setCurrentIndex(stage_filter.findData("procedure"))
    assert worklist_row(window, episode_id) is not None
    status_filter.setCurrentIndex(0)
    stage_filter.setCurrentIndex(0)

    # 5. Resolving the missed item needs a reason; then it is booked again.
    tabs.setCurrentWidget(page)
    items.setCurrentItem(items.topLevelItem(0))
    status_button = child(page, QPushButton, names.FOLLOWUP_STATUS_BUTTON)
    assert status_button.text().replace("&", "") == "Resolve missed…"

    def resolve(dialog: QWidget) -> None:
        combo = child(dialog, QComboBox, names.FOLLOWUP_STATUS_COMBO)
        combo.setCurrentIndex(combo.findData("booked"))
        click(qtbot, child(dialog, QPushButton, names.FOLLOWUP_STATUS_SAVE_BUTTON))
        seen["reason_error"] = child(dialog, QLabel, names.FOLLOWUP_STATUS_REASON_ERROR).text()
        child(dialog, QPlainTextEdit, names.FOLLOWUP_STATUS_REASON_EDIT).setPlainText(
            "Patient had flu; rebooked"
        )
        click(qtbot, child(dialog, QPushButton, names.FOLLOWUP_STATUS_SAVE_BUTTON))

    on_dialog(names.FOLLOWUP_STATUS_DIALOG, resolve)
    click(qtbot, status_button)
    assert "Enter a reason" in seen["reason_error"]
    wound = next(i for i in followup_view(ctx, episode_id).items if i.purpose == "Wound check")
    assert wound.status.value == "booked" and wound.missed_on == date(2026, 12, 8)
    row = worklist_row(window, episode_id)
    assert row is not None and not row[Column.NEXT_ACTION].startswith("Missed")


def test_a_ticked_red_flag_puts_the_patient_first_as_urgent(
    ctx, make_window, on_dialog, qtbot
) -> None:
    admitted_episode(ctx, "UI-0", "Aalto")  # would sort first otherwise
    episode_id = admitted_episode(ctx, "UI-9", "Zeller")
    window = make_window(ctx)
    open_in_window(window, episode_id)
    page = child(window, QWidget, names.FOLLOWUP_PAGE)
    child(window, QTabWidget, names.EPISODE_TABS).setCurrentWidget(page)
    window.worklist_tabs.setCurrentWidget(window.worklist)

    def tick(dialog: QWidget) -> None:
        save = child(dialog, QPushButton, names.RED_FLAG_SAVE_BUTTON)
        click(qtbot, save)
        seen["empty"] = child(dialog, QLabel, names.RED_FLAG_LIST_ERROR).text()
        flags = child(dialog, QListWidget, names.RED_FLAG_LIST)
        for index in range(flags.count()):
            if flags.item(index).data(Qt.ItemDataRole.UserRole) == "fever":
                flags.item(index).setCheckState(Qt.CheckState.Checked)
        child(dialog, QPlainTextEdit, names.RED_FLAG_NOTE_EDIT).setPlainText("38.7 °C")
        click(qtbot, save)

    seen: dict[str, str] = {}
    on_dialog(names.RED_FLAG_DIALOG, tick)
    click(qtbot, child(page, QPushButton, names.RED_FLAG_TICK_BUTTON))
    assert "Tick at least one" in seen["empty"]
    row = worklist_row(window, episode_id)
    assert row is not None
    assert row["row"] == 0  # type: ignore[index]
    assert row[Column.STATUS] == "URGENT" and row["flag"] == "urgent"  # type: ignore[index]
    assert row[Column.ALERTS] == "⚠ URGENT"
    assert row[Column.NEXT_ACTION] == "Red flag: Fever"
    overview = child(window, QLabel, names.OVERVIEW_SUMMARY_LABEL)
    assert "URGENT" in overview.text()


def test_a_closed_episode_leaves_the_worklist_and_is_found_with_show_closed(
    ctx, make_window, on_dialog, qtbot
) -> None:
    episode_id = admitted_episode(ctx)
    window = make_window(ctx)
    open_in_window(window, episode_id)
    page = child(window, QWidget, names.FOLLOWUP_PAGE)
    child(window, QTabWidget, names.EPISODE_TABS).setCurrentWidget(page)

    def close(dialog: QWidget) -> None:
        save = child(dialog, QPushButton, names.CLOSE_EPISODE_SAVE_BUTTON)
        click(qtbot, save)
        seen["kind"] = child(dialog, QLabel, names.CLOSE_EPISODE_KIND_ERROR).text()
        seen["text"] = child(dialog, QLabel, names.CLOSE_EPISODE_TEXT_ERROR).text()
        kind = child(dialog, QComboBox, names.CLOSE_EPISODE_KIND_COMBO)
        kind.setCurrentIndex(kind.findData("patient_transferred"))
        child(dialog, QPlainTextEdit, names.CLOSE_EPISODE_TEXT_EDIT).setPlainText(
            "Moved to the regional pump clinic"
        )
        click(qtbot, save)

    seen: dict[str, str] = {}
    on_dialog(names.CLOSE_EPISODE_DIALOG, close)
    click(qtbot, child(page, QPushButton, names.CLOSE_EPISODE_BUTTON))
    assert seen["kind"] and seen["text"]
    assert worklist_row(window, episode_id) is None
    child(window, QCheckBox, names.WORKLIST_SHOW_CLOSED_CHECK).setChecked(True)
    row = worklist_row(window, episode_id)
    assert row is not None and row[Column.STATUS] == "Closed"
    assert "Patient transferred" in child(page, QLabel, names.FOLLOWUP_SUMMARY_LABEL).text()
