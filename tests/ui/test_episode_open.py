"""Issue 9: opening an episode builds only the tab that is shown; every other page is loaded
when its tab is first shown, the pump's fills are read once per open, and what the user sees
is the same as when every page was loaded at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QPainter, QPixmap, QRegion
from PySide6.QtWidgets import QLabel, QListWidget, QTreeWidget
from sqlalchemy import event

from pathway_app.domain.records import EpisodeDraft, PatientDraft
from pathway_app.domain.refill_records import FillDraft, ImplantDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.followup_views import episode_timeline
from pathway_app.services.patients import register_patient
from pathway_app.services.refill_views import pump_view
from pathway_app.services.refills import record_implant, record_refill
from pathway_app.ui import object_names as names
from pathway_app.ui.episode_view import EpisodePage
from pathway_app.ui.main_window import MainWindow
from pathway_app.ui.timeline import TimelineChart, _Fonts, _Row, event_text
from tests.factories import morphine_fill

ISOMED = "isomed-8472-20-05"  # 20 mL at 0.5 mL/day
FILLS_READ = re.compile(r"\bFROM fills\b", re.IGNORECASE)


def _fill(at: datetime, added: float) -> FillDraft:
    return morphine_fill(at, added_ml=added)


def pump_with_refills(ctx: ServiceContext, mrn: str, refills: int) -> int:
    """An episode whose pump was implanted 30 days ago and refilled `refills` times since."""
    patient = register_patient(ctx, PatientDraft(mrn, "Open", "Jo", date(1960, 5, 1)))
    episode_id = open_episode(
        ctx,
        EpisodeDraft(
            patient, "noncancer-pain", "morphine", ISOMED, date(2026, 10, 1), "Dr A", "hospital-or"
        ),
    )
    implanted = ctx.now() - timedelta(days=30)
    record_implant(
        ctx,
        ImplantDraft(
            episode_id, ISOMED, "SN-" + mrn, None, None, False, implanted, _fill(implanted, 20.0)
        ),
    )
    for index in range(refills):
        refill(ctx, episode_id, implanted + timedelta(days=5 * (index + 1)))
    return episode_id


def refill(ctx: ServiceContext, episode_id: int, at: datetime) -> None:
    """A refill whose aspirated volume is what nominal flow left (no flag to explain)."""
    pump = pump_view(ctx, episode_id)
    assert pump is not None and pump.latest_fill is not None
    days = (at - pump.latest_fill.filled_at) / timedelta(days=1)
    left = pump.latest_fill.volume_after_ml - pump.nominal_flow_ml_per_day * days
    record_refill(ctx, episode_id, replace(_fill(at, 18.0), aspirated_ml=round(left, 2)))


@contextmanager
def fill_reads(ctx: ServiceContext) -> Iterator[list[str]]:
    """The SQL statements that read the fills table while the block runs."""
    seen: list[str] = []

    def spy(_conn, _cursor, statement: str, *_args) -> None:
        if FILLS_READ.search(statement):
            seen.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", spy)


def loaded(window: MainWindow) -> set[str]:
    view = window.episode_view
    return {page.objectName() for page in window.findChildren(EpisodePage) if view.is_loaded(page)}


def test_open_loads_only_the_visible_page_and_reads_the_fills_once(ctx, make_window) -> None:
    episode_id = pump_with_refills(ctx, "OPEN-1", 3)
    window = make_window(ctx)
    with fill_reads(ctx) as reads:
        window.open_episode(episode_id)
    assert window.episode_view.tabs.currentWidget() is window.overview_page
    assert loaded(window) == {names.OVERVIEW_PAGE}
    assert len(reads) == 1, reads
    # The overview shows the fills it read: initial fill and three refills on the timeline.
    timeline = window.overview_page.chart.accessibleDescription()
    assert timeline.count("Refill — Refill") == 3
    assert "Refill — Initial fill" in timeline


def test_every_page_is_populated_when_its_tab_is_shown(ctx, make_window) -> None:
    episode_id = pump_with_refills(ctx, "OPEN-2", 2)
    window = make_window(ctx)
    window.open_episode(episode_id)
    tabs = window.episode_view.tabs
    pages = [tabs.widget(i) for i in range(tabs.count())]
    for page in pages:
        tabs.setCurrentWidget(page)
        if isinstance(page, EpisodePage):
            assert window.episode_view.is_loaded(page), page.objectName()
    assert loaded(window) == {p.objectName() for p in pages if isinstance(p, EpisodePage)}
    history = window.pump_page.findChild(QListWidget, names.REFILL_HISTORY_LIST)
    assert history.count() == 3
    assert window.pump_page.pump is not None and window.pump_page.pump.episode_id == episode_id
    items = window.followup_page.findChild(QTreeWidget, names.FOLLOWUP_ITEMS_TREE)
    assert items is not None
    assert window.outcomes_page.findChild(QLabel, names.OUTCOME_SUMMARY_LABEL).text()


def test_a_page_showing_an_earlier_episode_is_reloaded_when_shown(ctx, make_window) -> None:
    first = pump_with_refills(ctx, "OPEN-3", 1)
    second = pump_with_refills(ctx, "OPEN-4", 4)
    window = make_window(ctx)
    tabs = window.episode_view.tabs
    history = window.pump_page.findChild(QListWidget, names.REFILL_HISTORY_LIST)
    window.open_episode(first)
    tabs.setCurrentWidget(window.pump_page)
    assert history.count() == 2
    window.open_episode(second)  # back on the overview; the refill page still shows `first`
    assert not window.episode_view.is_loaded(window.pump_page)
    with fill_reads(ctx) as reads:
        tabs.setCurrentWidget(window.pump_page)
    assert history.count() == 5
    assert window.pump_page.pump is not None and window.pump_page.pump.episode_id == second
    assert len(reads) == 1, reads  # the history and the chart share one read
    # Code that reads a page without showing its tab asks for it to be loaded.
    window.open_episode(first)
    window.episode_view.ensure_loaded(window.pump_page)
    assert history.count() == 2


def test_a_write_refreshes_the_pages_already_showing_the_episode(ctx, make_window) -> None:
    episode_id = pump_with_refills(ctx, "OPEN-5", 1)
    window = make_window(ctx)
    tabs = window.episode_view.tabs
    window.open_episode(episode_id)
    tabs.setCurrentWidget(window.pump_page)
    refill(ctx, episode_id, ctx.now() - timedelta(hours=2))
    window.refresh()
    history = window.pump_page.findChild(QListWidget, names.REFILL_HISTORY_LIST)
    assert history.count() == 3
    # The overview was loaded at open: it follows the refresh without being shown again.
    assert window.episode_view.is_loaded(window.overview_page)
    assert window.overview_page.chart.accessibleDescription().count("Refill — Refill") == 2
    # Never shown for this episode: still loaded on demand, with the new fill.
    assert not window.episode_view.is_loaded(window.outcomes_page)


class RecordingChart(TimelineChart):
    """Notes the rows each paint draws."""

    def __init__(self) -> None:
        super().__init__()
        self.drawn: list[str] = []

    def _event(self, painter: QPainter, row: _Row, y: int, fonts: _Fonts) -> None:
        self.drawn.append(row.text)
        super()._event(painter, row, y, fonts)


def test_the_timeline_paints_only_the_exposed_rows_with_the_same_words(ctx, qtbot) -> None:
    episode_id = pump_with_refills(ctx, "OPEN-6", 5)
    timeline = episode_timeline(ctx, episode_id)
    chart = RecordingChart()
    qtbot.addWidget(chart)
    chart.resize(720, 200)
    chart.set_timeline(timeline)
    assert chart.accessibleDescription() == "\n".join(event_text(e) for e in timeline.events)
    chart.render(QPixmap(chart.size()))  # the whole widget: every row
    assert len(chart.drawn) == len(timeline.events)
    chart.drawn.clear()
    row = QRect(0, TimelineChart.TOP + 2 * TimelineChart.ROW, 720, TimelineChart.ROW)
    chart.render(QPixmap(chart.size()), QPoint(), QRegion(row))  # one row scrolled into view
    assert 1 <= len(chart.drawn) <= 2 < len(timeline.events)
