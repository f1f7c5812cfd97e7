"""Two coordinators on one pump: the refill (or exposure) saved second, from a dialog opened
before the first was saved, is refused with who and when in the dialog's form-level error
label; the dialog stays open with everything typed, and nothing is written.

"Nurse Tester" (`ctx`) and "Second Window" (`second`) share one database (SQLite, and
PostgreSQL when configured). Clock: 2026-11-26 10:00 UTC (TZ=UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDateEdit, QLabel, QLineEdit, QPushButton, QWidget
from sqlalchemy import func, select

from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import register_patient
from pathway_app.services.refill_views import pump_view
from pathway_app.services.refills import pump_version, record_implant, record_refill
from pathway_app.storage.database import open_database
from pathway_app.storage.orm import AuditEntry, Exposure, Fill
from pathway_app.ui import object_names as names
from pathway_app.ui.common import to_qdate
from pathway_app.ui.dialogs.refill_dialog import ExposureDialog, RefillDialog
from tests.factories import morphine_fill
from tests.pg_support import parametrise_backends

ISOMED = "isomed-8472-20-05"  # 20 mL at 0.5 mL/day
REFUSED = "A refill was recorded for this pump at 10:00 by Second Window since you opened"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrise_backends(metafunc)


@pytest.fixture
def second(
    db_url: str, ctx: ServiceContext, template, catalogue, clock
) -> Iterator[ServiceContext]:
    """The other workstation (or the other window) on the same database."""
    db = open_database(db_url)
    yield ServiceContext(db, template, catalogue, clock, "Second Window")
    db.close()


@pytest.fixture
def episode(ctx: ServiceContext) -> int:
    """A pump filled with 20 mL twenty days ago: 10 mL expected in the reservoir now."""
    patient = register_patient(ctx, PatientDraft("UC-1", "Alpha", "Jo", date(1960, 5, 1)))
    episode_id = open_episode(
        ctx,
        EpisodeDraft(
            patient, "noncancer-pain", "morphine", ISOMED, date(2026, 10, 1), "Dr A", "hospital-or"
        ),
    )
    at = ctx.now() - timedelta(days=20)
    record_implant(
        ctx, ImplantDraft(episode_id, ISOMED, "SN-1", None, None, False, at, morphine_fill(at))
    )
    return episode_id


def counts(ctx: ServiceContext) -> list[int]:
    """Fills, exposures and audit entries: what a refused save could have added."""
    with ctx.db.reading() as session:
        return [
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Fill, Exposure, AuditEntry)
        ]


def fill_in(dialog: QWidget, *, aspirated: str, added: str, lot: str) -> None:
    dialog.findChild(QLineEdit, names.FILL_ASPIRATED_EDIT).setText(aspirated)
    dialog.findChild(QLineEdit, names.FILL_ADDED_EDIT).setText(added)
    dialog.findChild(QLineEdit, names.FILL_LOT_EDIT).setText(lot)
    dialog.findChild(QDateEdit, names.FILL_EXPIRY_EDIT).setDate(to_qdate(date(2027, 6, 1)))
    dialog.findChild(QLineEdit, names.FILL_CHECKER_EDIT).setText("Nurse B")


def typed(dialog: QWidget) -> tuple[str, str, str, str]:
    return (
        dialog.findChild(QLineEdit, names.FILL_ASPIRATED_EDIT).text(),
        dialog.findChild(QLineEdit, names.FILL_ADDED_EDIT).text(),
        dialog.findChild(QLineEdit, names.FILL_LOT_EDIT).text(),
        dialog.findChild(QLineEdit, names.FILL_CHECKER_EDIT).text(),
    )


def save(qtbot, dialog: QWidget, button: str = names.REFILL_SAVE_BUTTON) -> None:
    qtbot.mouseClick(dialog.findChild(QPushButton, button), Qt.MouseButton.LeftButton)


def test_the_second_of_two_open_refill_dialogs_is_refused_and_keeps_what_was_typed(
    ctx: ServiceContext, second: ServiceContext, episode: int, qtbot
) -> None:
    mine_view, their_view = pump_view(ctx, episode), pump_view(second, episode)
    assert mine_view is not None and their_view is not None
    mine, theirs = RefillDialog(ctx, mine_view), RefillDialog(second, their_view)
    for dialog in (mine, theirs):
        qtbot.addWidget(dialog)
        dialog.show()
    fill_in(mine, aspirated="10", added="10", lot="LOT-MINE")
    fill_in(theirs, aspirated="10", added="10", lot="LOT-THEIRS")

    save(qtbot, theirs)
    assert theirs.result() == RefillDialog.DialogCode.Accepted
    before = counts(ctx)
    save(qtbot, mine)

    error = mine.findChild(QLabel, names.FILL_FORM_ERROR)
    assert error.isVisible() and REFUSED in error.text()
    assert "check the pump page" in error.text()
    assert error.accessibleName() and REFUSED in error.accessibleName()
    assert mine.isVisible() and mine.result() != RefillDialog.DialogCode.Accepted
    assert typed(mine) == ("10", "10", "LOT-MINE", "Nurse B")
    assert counts(ctx) == before
    # Saving again is refused again: only a form opened on the current data may save.
    save(qtbot, mine)
    assert mine.isVisible() and counts(ctx) == before
    after = pump_view(ctx, episode)
    assert after is not None and after.latest_fill is not None
    assert after.latest_fill.lot == "LOT-THEIRS"


def test_a_correction_dialog_opened_before_a_refill_elsewhere_is_refused(
    ctx: ServiceContext, second: ServiceContext, episode: int, qtbot
) -> None:
    view = pump_view(ctx, episode)
    assert view is not None and view.latest_fill is not None
    dialog = RefillDialog(ctx, view, None, view.latest_fill)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.findChild(QLineEdit, names.FILL_ADDED_EDIT).setText("18")
    dialog.findChild(QLineEdit, names.REFILL_CORRECTION_REASON_EDIT).setText("18 mL, not 20")
    record_refill(
        second,
        episode,
        morphine_fill(ctx.now() - timedelta(hours=1), aspirated_ml=10.0, added_ml=10.0),
        expected_version=pump_version(second, episode),
    )
    before = counts(ctx)

    save(qtbot, dialog)

    error = dialog.findChild(QLabel, names.FILL_FORM_ERROR)
    assert error.isVisible() and REFUSED in error.text()
    assert dialog.isVisible() and counts(ctx) == before
    assert dialog.findChild(QLineEdit, names.FILL_ADDED_EDIT).text() == "18"
    reason = dialog.findChild(QLineEdit, names.REFILL_CORRECTION_REASON_EDIT).text()
    assert reason == "18 mL, not 20"


def test_an_exposure_dialog_opened_before_a_refill_elsewhere_is_refused(
    ctx: ServiceContext, second: ServiceContext, episode: int, qtbot
) -> None:
    dialog = ExposureDialog(ctx, episode)
    qtbot.addWidget(dialog)
    dialog.show()
    kind = dialog.findChild(QComboBox, names.EXPOSURE_KIND_COMBO)
    kind.setCurrentIndex(kind.findData("fever"))
    dialog.findChild(QLineEdit, names.EXPOSURE_NOTE_EDIT).setText("38.9 °C for two days")
    record_refill(
        second,
        episode,
        morphine_fill(ctx.now() - timedelta(hours=1), aspirated_ml=10.0, added_ml=10.0),
    )
    before = counts(ctx)

    save(qtbot, dialog, names.EXPOSURE_SAVE_BUTTON)

    error = dialog.findChild(QLabel, names.EXPOSURE_FORM_ERROR)
    assert error.isVisible() and REFUSED in error.text()
    assert not dialog.findChild(QLabel, names.EXPOSURE_KIND_ERROR).isVisible()
    assert dialog.isVisible() and counts(ctx) == before
    assert kind.currentData() == "fever"
    assert dialog.findChild(QLineEdit, names.EXPOSURE_NOTE_EDIT).text() == "38.9 °C for two days"


def test_through_the_main_window_the_stale_refill_is_refused_and_the_page_catches_up(
    ctx: ServiceContext, second: ServiceContext, episode: int, make_window, on_dialog, qtbot
) -> None:
    """As a coordinator sees it: the refill dialog is open from the pump page when the other
    workstation records the refill; Save shows the message, Cancel returns to the page."""
    window = make_window(ctx)
    window.open_episode(episode)
    window.episode_view.tabs.setCurrentWidget(window.pump_page)
    seen: dict[str, object] = {}

    def refill_elsewhere_then_save(dialog: QWidget) -> None:
        fill_in(dialog, aspirated="10", added="10", lot="LOT-MINE")
        record_refill(
            second,
            episode,
            morphine_fill(ctx.now() - timedelta(hours=1), aspirated_ml=10.0, added_ml=10.0),
            expected_version=pump_version(second, episode),
        )
        seen["before"] = counts(ctx)
        save(qtbot, dialog)
        error = dialog.findChild(QLabel, names.FILL_FORM_ERROR)
        seen["error"] = error.text() if error.isVisible() else ""
        seen["open"] = dialog.isVisible()
        seen["typed"] = typed(dialog)
        seen["after"] = counts(ctx)
        qtbot.mouseClick(
            dialog.findChild(QPushButton, names.REFILL_CANCEL_BUTTON), Qt.MouseButton.LeftButton
        )

    on_dialog(names.REFILL_DIALOG, refill_elsewhere_then_save)
    qtbot.mouseClick(
        window.pump_page.findChild(QPushButton, names.RECORD_REFILL_BUTTON),
        Qt.MouseButton.LeftButton,
    )

    assert REFUSED in str(seen["error"])
    assert seen["open"] is True
    assert seen["typed"] == ("10", "10", "LOT-MINE", "Nurse B")
    assert seen["after"] == seen["before"]
    # The page shows the other workstation's refill once it reloads (live refresh or reopen).
    window.open_episode(episode)
    window.episode_view.tabs.setCurrentWidget(window.pump_page)
    page = window.pump_page
    qtbot.waitUntil(
        lambda: page.pump is not None and len(page.pump.fills) == 2 and page.history.count() == 2
    )
