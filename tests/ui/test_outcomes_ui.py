"""Outcomes page driven by its automation names (issue 10): three visits recorded through the
dialog from the main window, the summary and the flag on the page and on the worklist row,
bad input refused next to its field, the chart rendering the score beside the IT dose, and the
alternatives discussed at consent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableView,
    QTableWidget,
    QTabWidget,
    QWidget,
)

from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import FillDraft, ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.outcomes import outcomes_view
from pathway_app.services.patients import register_patient
from pathway_app.services.refills import record_implant, record_refill
from pathway_app.ui import object_names as names
from pathway_app.ui.common import to_qdate
from pathway_app.ui.outcome_chart import OutcomeChart, nice_step
from pathway_app.ui.worklist import Column

ISOMED = "isomed-8472-20-05"  # 20 mL at 0.5 mL/day


def _fill(at: datetime, concentration: float, aspirated: float | None = None) -> FillDraft:
    return FillDraft(
        filled_at=at,
        added_ml=20.0 if aspirated is None else 20.0 - aspirated,
        drug_key="morphine",
        concentration=concentration,
        concentration_unit="mg/mL",
        operator="Nurse A",
        second_checker="Nurse B",
        lot="LOT-1",
        expiry_on=date(2027, 6, 1),
        needle="Non-coring refill needle",
        location_method="template",
        aspirated_ml=aspirated,
    )


def make_episode(ctx: ServiceContext) -> int:
    patient = register_patient(ctx, PatientDraft("OUT-1", "Outcome", "Jo", date(1960, 5, 1)))
    episode_id = open_episode(
        ctx,
        EpisodeDraft(
            patient, "noncancer-pain", "morphine", ISOMED, date(2026, 10, 1), "Dr A", "hospital-or"
        ),
    )
    implanted = datetime(2026, 10, 1, 12, tzinfo=UTC)
    record_implant(
        ctx,
        ImplantDraft(episode_id, ISOMED, "SN-1", None, None, False, implanted, _fill(implanted, 6)),
    )
    # A refill with a higher concentration: a dose change on the chart.
    refill_at = implanted + timedelta(days=30)
    record_refill(ctx, episode_id, _fill(refill_at, 8.0, aspirated=5.0))
    return episode_id


def record_visit(
    window: QWidget,
    on_dialog,
    qtbot,
    *,
    on: date,
    kind: str,
    pain: int,
    oral: str = "",
    side_effect: str | None = None,
) -> None:
    def fill(dialog: QWidget) -> None:
        dialog.findChild(QDateEdit, names.OUTCOME_DATE_EDIT).setDate(to_qdate(on))
        combo = dialog.findChild(QComboBox, names.OUTCOME_KIND_COMBO)
        combo.setCurrentIndex(combo.findData(kind))
        pain_combo = dialog.findChild(QComboBox, names.OUTCOME_PAIN_COMBO)
        pain_combo.setCurrentIndex(pain_combo.findData(pain))
        if oral:
            drug = dialog.findChild(QComboBox, names.OUTCOME_ORAL_DRUG_COMBO_0)
            drug.setCurrentIndex(drug.findData("morphine"))
            dialog.findChild(QLineEdit, names.OUTCOME_ORAL_AMOUNT_EDIT_0).setText(oral)
        if side_effect:
            effects = dialog.findChild(QListWidget, names.OUTCOME_SIDE_EFFECTS_LIST)
            for row in range(effects.count()):
                if effects.item(row).data(Qt.ItemDataRole.UserRole) == side_effect:
                    effects.item(row).setCheckState(Qt.CheckState.Checked)
        qtbot.mouseClick(
            dialog.findChild(QPushButton, names.OUTCOME_SAVE_BUTTON), Qt.MouseButton.LeftButton
        )

    on_dialog(names.OUTCOME_DIALOG, fill)
    qtbot.mouseClick(
        window.findChild(QPushButton, names.OUTCOME_RECORD_BUTTON), Qt.MouseButton.LeftButton
    )


def worklist_outcome(window: QWidget, episode_id: int) -> tuple[str, str]:
    table = window.findChild(QTableView, names.WORKLIST_TABLE)
    model = table.model()
    for row in range(model.rowCount(QModelIndex())):
        index = model.index(row, Column.OUTCOME)
        if model.data(index, Qt.ItemDataRole.UserRole + 2) == episode_id:
            return model.data(index), model.data(index, Qt.ItemDataRole.ToolTipRole) or ""
    raise AssertionError("episode not on the worklist")


def drawn_fraction(image: QImage) -> float:
    background = QColor(image.pixel(1, image.height() - 1))
    drawn = sum(
        1
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
        if QColor(image.pixel(x, y)) != background
    )
    return drawn / (image.width() * image.height() / 4)


def test_three_visits_give_summary_flag_and_chart(
    ctx: ServiceContext, make_window, on_dialog, qtbot
) -> None:
    episode_id = make_episode(ctx)
    window = make_window(ctx)
    window.open_episode(episode_id)
    tabs = window.findChild(QTabWidget, names.EPISODE_TABS)
    page = window.findChild(QWidget, names.OUTCOMES_PAGE)
    tabs.setCurrentWidget(page)
    summary = window.findChild(QLabel, names.OUTCOME_SUMMARY_LABEL)
    flag = window.findChild(QLabel, names.OUTCOME_FLAG_LABEL)
    assert "No outcome recorded yet" in summary.text()

    record_visit(
        window, on_dialog, qtbot, on=date(2026, 9, 20), kind="baseline", pain=4, oral="100"
    )
    record_visit(
        window, on_dialog, qtbot, on=date(2026, 10, 20), kind="follow-up", pain=5, oral="60"
    )
    assert not flag.isVisible()
    record_visit(
        window,
        on_dialog,
        qtbot,
        on=date(2026, 11, 20),
        kind="refill",
        pain=6,
        oral="40",
        side_effect="itching",
    )

    assert summary.text() == "Since baseline: pain +50 %, oral MME −60 mg/day"
    assert flag.isVisible()
    assert "pain rose at two consecutive visits" in flag.text()
    assert "new side effect: itching" in flag.text()
    table = window.findChild(QTableWidget, names.OUTCOME_TABLE)
    assert table.rowCount() == 3
    assert table.item(0, 2).text() == "pain 6"

    text, tooltip = worklist_outcome(window, episode_id)
    assert text == "⚑ pain +50 %, oral MME −60 mg/day"
    assert "pain rose at two consecutive visits" in tooltip

    chart = window.findChild(OutcomeChart, names.OUTCOME_CHART)
    chart.resize(640, 300)
    image = chart.grab().toImage()
    assert drawn_fraction(image) > 0.03
    assert "3 score(s) and 2 fill(s)" in chart.accessibleDescription()
    assert "1 dose change(s)" in chart.accessibleDescription()
    # The score series is drawn in its colour and the dose series in its own.
    colours = {
        QColor(image.pixel(x, y)).name()
        for x in range(0, image.width(), 1)
        for y in range(0, image.height(), 1)
    }
    assert "#1f5fa8" in colours and "#1b6e3a" in colours


def test_bad_input_is_refused_at_the_field(
    ctx: ServiceContext, make_window, on_dialog, qtbot
) -> None:
    episode_id = make_episode(ctx)
    window = make_window(ctx)
    window.open_episode(episode_id)
    window.episode_view.tabs.setCurrentWidget(window.outcomes_page)  # loads it (issue 9)
    seen: dict[str, str] = {}

    def fill(dialog: QWidget) -> None:
        drug = dialog.findChild(QComboBox, names.OUTCOME_ORAL_DRUG_COMBO_0)
        drug.setCurrentIndex(drug.findData("morphine"))
        dialog.findChild(QLineEdit, names.OUTCOME_ORAL_AMOUNT_EDIT_0).setText("-20")
        dialog.findChild(QLineEdit, names.OUTCOME_ORAL_AMOUNT_EDIT_1).setText("abc")
        methadone = dialog.findChild(QComboBox, names.OUTCOME_ORAL_DRUG_COMBO_2)
        methadone.setCurrentIndex(methadone.findData("methadone"))
        dialog.findChild(QLineEdit, names.OUTCOME_ORAL_AMOUNT_EDIT_2).setText("10")
        save = dialog.findChild(QPushButton, names.OUTCOME_SAVE_BUTTON)
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
        # The amount's problems come first (typed text), then the service's.
        seen["row1"] = dialog.findChild(QLabel, names.OUTCOME_ORAL_ERROR_1).text()
        dialog.findChild(QLineEdit, names.OUTCOME_ORAL_AMOUNT_EDIT_1).setText("")
        qtbot.mouseClick(save, Qt.MouseButton.LeftButton)
        for key, name in (
            ("pain", names.OUTCOME_PAIN_ERROR),
            ("row0", names.OUTCOME_ORAL_ERROR_0),
            ("row2", names.OUTCOME_ORAL_ERROR_2),
        ):
            label = dialog.findChild(QLabel, name)
            seen[key] = label.text() if label.isVisible() else ""
        seen["open"] = str(dialog.isVisible())
        dialog.reject()

    on_dialog(names.OUTCOME_DIALOG, fill)
    qtbot.mouseClick(
        window.findChild(QPushButton, names.OUTCOME_RECORD_BUTTON), Qt.MouseButton.LeftButton
    )
    assert "number" in seen["row1"]
    assert "Enter the pain score" in seen["pain"]
    assert "negative" in seen["row0"]
    assert "clinic must set it" in seen["row2"]
    assert seen["open"] == "True"
    assert outcomes_view(ctx, episode_id).entries == ()


def test_alternatives_discussed_at_consent(ctx: ServiceContext, make_window, qtbot) -> None:
    episode_id = make_episode(ctx)
    window = make_window(ctx)
    window.open_episode(episode_id)
    window.episode_view.tabs.setCurrentWidget(window.outcomes_page)  # loads it (issue 9)
    alternatives = window.findChild(QListWidget, names.OUTCOME_ALTERNATIVES_LIST)
    for row in range(alternatives.count()):
        if alternatives.item(row).data(Qt.ItemDataRole.UserRole) in {
            "oral-medication",
            "nerve-block",
        }:
            alternatives.item(row).setCheckState(Qt.CheckState.Checked)
    qtbot.mouseClick(
        window.findChild(QPushButton, names.OUTCOME_ALTERNATIVES_SAVE_BUTTON),
        Qt.MouseButton.LeftButton,
    )
    view = outcomes_view(ctx, episode_id)
    assert [a.key for a in view.alternatives if a.discussed] == ["oral-medication", "nerve-block"]


def test_nice_axis_steps() -> None:
    assert nice_step(4.8) == 2.0
    assert nice_step(0.36) == 0.1
    assert nice_step(720) == 200
