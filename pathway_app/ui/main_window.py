"""The main window: worklist on the left, the open episode on the right.

Issue 9: it is built in two steps so the refill worklist can be painted before the data layer
(SQLAlchemy, the ORM, services and the episode pages: about a second of imports) is loaded.
`MainWindow(ctx)` does both at once. `MainWindow(None, opening=Opening(...))` builds the frame
and the refill worklist from rows read at start-up (`storage.first_screen`); `attach(ctx)` then
builds the rest. Until then the window is not `ready` (see docs/automation.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QCoreApplication,
    QDeadlineTimer,
    QEventLoop,
    QSettings,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pathway_app import __version__
from pathway_app.domain.clock import Clock
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_datetime, named
from pathway_app.ui.refill_worklist import RefillPages, RefillWorklistPanel

if TYPE_CHECKING:
    from pathway_app.services.context import ServiceContext
    from pathway_app.ui.episode_view import EpisodeViewWidget
    from pathway_app.ui.export_actions import ExportController
    from pathway_app.ui.live_refresh import LiveRefresh
    from pathway_app.ui.outcomes_page import OutcomesPage
    from pathway_app.ui.preparation_page import PreparationPage
    from pathway_app.ui.procedure_page import ProcedurePage
    from pathway_app.ui.recovery_pages import FollowUpPage, StayPage
    from pathway_app.ui.refill_panel import PumpRefillPanel
    from pathway_app.ui.timeline import OverviewPage
    from pathway_app.ui.trust import TrustController
    from pathway_app.ui.worklist import WorklistPanel


@dataclass(frozen=True)
class Opening:
    """What the window shows before the service context exists.

    Attributes:
        clock: the app's clock (fixed with ``--now``).
        display_name: the database, as the status bar names it.
        due_soon_days: the template's ``due_soon_days`` (the refill window's default).
        refill_pages: the refill worklist, read without the data layer.
    """

    clock: Clock
    display_name: str
    due_soon_days: int
    refill_pages: RefillPages | None = None


def preload() -> None:
    """Import what `MainWindow.attach` builds (on the loading thread at start-up, so completing
    the window only creates widgets). Imports only: no Qt object is made here."""
    import pathway_app.ui.dialogs.episode_dialog
    import pathway_app.ui.dialogs.patient_dialog
    import pathway_app.ui.episode_view
    import pathway_app.ui.export_actions
    import pathway_app.ui.live_refresh
    import pathway_app.ui.outcomes_page
    import pathway_app.ui.preparation_page
    import pathway_app.ui.procedure_page
    import pathway_app.ui.recovery_pages
    import pathway_app.ui.refill_panel
    import pathway_app.ui.timeline
    import pathway_app.ui.trust
    import pathway_app.ui.worklist  # noqa: F401


def opening_of(ctx: ServiceContext) -> Opening:
    return Opening(ctx.clock, ctx.db.info.display_name, ctx.template.parameter("due_soon_days"))


class MainWindow(QMainWindow):
    # Emitted once, when every screen is built and works (`ready` is then True).
    became_ready = Signal()

    # Built by `attach`:
    worklist: WorklistPanel
    episode_view: EpisodeViewWidget
    overview_page: OverviewPage
    preparation_page: PreparationPage
    procedure_page: ProcedurePage
    stay_page: StayPage
    followup_page: FollowUpPage
    pump_page: PumpRefillPanel
    outcomes_page: OutcomesPage
    trust: TrustController
    exports: ExportController
    live_refresh: LiveRefresh

    def __init__(
        self,
        ctx: ServiceContext | None,
        settings: QSettings | None = None,
        parent: QWidget | None = None,
        *,
        opening: Opening | None = None,
    ) -> None:
        super().__init__(parent)
        if opening is None:
            if ctx is None:
                raise ValueError("a main window needs a service context or an opening")
            opening = opening_of(ctx)
        self._ctx: ServiceContext | None = None
        self._settings = settings
        self._last_patient_id: int | None = None
        self._pending_episode: int | None = None
        # Actions and buttons that need the service context: enabled by `attach`.
        self._needs_context: list[QAction | QWidget] = []
        self._build_frame(opening)
        if ctx is not None:
            self.attach(ctx)
        elif opening.refill_pages is not None:
            self.refill_worklist.show_opening(opening.refill_pages)

    def _build_frame(self, opening: Opening) -> None:
        """Everything the first paint shows: banner, buttons, the refill worklist, menus."""
        self.setObjectName(names.MAIN_WINDOW)
        self.setAccessibleName(self.tr("Care Pathway Tracker"))
        self.setWindowTitle(self.tr("Care Pathway Tracker"))

        self.clock_banner = named(QLabel(), names.CLOCK_BANNER, self.tr("Fixed clock"))
        self.clock_banner.setWordWrap(True)
        self.clock_banner.setMargin(6)
        self.clock_banner.setStyleSheet(
            "background: #fff3cd; color: #533f03; border: 1px solid #e0c36c; font-weight: bold;"
        )
        if opening.clock.fixed:
            self.clock_banner.setText(
                self.tr(
                    "Clock fixed at %1 (training or automation): every date is computed from "
                    "this time, not the real time."
                ).replace("%1", format_datetime(opening.clock.now()))
            )
        self.clock_banner.setVisible(opening.clock.fixed)

        self.new_patient_button = named(
            QPushButton(self.tr("New &patient…")),
            names.NEW_PATIENT_BUTTON,
            self.tr("Register a new patient"),
        )
        self.new_episode_button = named(
            QPushButton(self.tr("New &episode…")),
            names.NEW_EPISODE_BUTTON,
            self.tr("Open a new episode for a patient"),
        )
        self.refresh_button = named(
            QPushButton(self.tr("&Refresh")),
            names.REFRESH_BUTTON,
            self.tr("Reload the worklist from the database"),
        )
        self.new_patient_button.clicked.connect(self.new_patient)
        self.new_episode_button.clicked.connect(self.new_episode)
        self.refresh_button.clicked.connect(self.refresh)
        self._needs_context += [self.new_patient_button, self.new_episode_button]
        self._needs_context.append(self.refresh_button)

        # The refill worklist is a coordinator's landing view: a missed refill of a
        # constant-flow pump has no alarm, so it comes first and is selected at start.
        self.refill_worklist = RefillWorklistPanel(None, due_soon_days=opening.due_soon_days)
        self.refill_worklist.episode_opened.connect(self.open_episode)
        self.worklist_tabs = named(QTabWidget(), names.WORKLIST_TABS, self.tr("Worklists"))
        # No mnemonics here (they would clash); View › Refill worklist (Ctrl+1) and
        # View › Pathway worklist (Ctrl+2) switch from the keyboard.
        self.worklist_tabs.addTab(self.refill_worklist, self.tr("Refills"))
        self.worklist_tabs.setCurrentIndex(0)

        self.splitter = named(
            QSplitter(Qt.Orientation.Horizontal),
            names.MAIN_SPLITTER,
            self.tr("Worklist and episode"),
        )
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.worklist_tabs)
        # Holds the episode view's place until `attach` builds it.
        self._episode_placeholder = QLabel(self.tr("Opening the clinic…"))
        self._episode_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.splitter.addWidget(self._episode_placeholder)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        toolbar = QHBoxLayout()
        title = QLabel(self.tr("Worklist"))
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        title.setFont(font)
        toolbar.addWidget(title)
        toolbar.addStretch(1)
        toolbar.addWidget(self.new_patient_button)
        toolbar.addWidget(self.new_episode_button)
        toolbar.addWidget(self.refresh_button)

        self._central = QWidget()
        layout = QVBoxLayout(self._central)
        layout.addWidget(self.clock_banner)
        layout.addLayout(toolbar)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(self._central)

        self.db_label = named(
            QLabel(self.tr("Database: %1").replace("%1", opening.display_name)),
            names.STATUS_DATABASE_LABEL,
            self.tr("Database"),
        )
        self.user_label = named(QLabel(), names.STATUS_USER_LABEL, self.tr("User"))
        self.count_label = named(QLabel(), names.STATUS_COUNT_LABEL, self.tr("Episodes shown"))
        self.statusBar().addWidget(self.db_label, 1)
        self.statusBar().addPermanentWidget(self.count_label)
        self.statusBar().addPermanentWidget(self.user_label)
        self._build_menus()
        QWidget.setTabOrder(self.new_patient_button, self.new_episode_button)
        QWidget.setTabOrder(self.new_episode_button, self.refresh_button)
        QWidget.setTabOrder(self.refresh_button, self.worklist_tabs)

        self.resize(1560, 900)
        self.splitter.setSizes([800, 760])
        self._restore_state()
        self.refill_worklist.search.setFocus()
        for item in self._needs_context:
            item.setEnabled(False)

    @property
    def ready(self) -> bool:
        """True once every screen is built and reads through the service context."""
        return self._ctx is not None

    def wait_until_ready(self, timeout_ms: int = 10000) -> bool:
        """Run the event loop until the window is `ready` (or the timeout); for automation."""
        deadline = QDeadlineTimer(timeout_ms)
        while not self.ready and not deadline.hasExpired():
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        return self.ready

    def attach(self, ctx: ServiceContext) -> None:
        """Build the pathway worklist, the episode view and its pages, the Tools and Export
        menus and live refresh on `ctx`, and read both worklists through it."""
        from pathway_app.ui.episode_view import EpisodeViewWidget
        from pathway_app.ui.outcomes_page import OutcomesPage  # issue 10
        from pathway_app.ui.preparation_page import PreparationPage  # issue 5
        from pathway_app.ui.procedure_page import ProcedurePage  # issue 5
        from pathway_app.ui.recovery_pages import FollowUpPage, StayPage  # issue 6
        from pathway_app.ui.refill_panel import PumpRefillPanel
        from pathway_app.ui.timeline import OverviewPage  # issue 6
        from pathway_app.ui.trust import TrustController
        from pathway_app.ui.worklist import WorklistPanel

        if self._ctx is not None:
            raise RuntimeError("the main window already has its service context")
        self._ctx = ctx
        self.worklist = WorklistPanel(ctx)
        self.episode_view = EpisodeViewWidget(ctx)
        self.worklist.episode_opened.connect(self.open_episode)
        self.worklist.rows_loaded.connect(self._show_count)
        self.episode_view.changed.connect(self._episode_changed)
        # The episode's pages, in the order of the pathway: the overview timeline first (it is
        # selected when an episode opens), the pathway's stages, then refills and outcomes.
        self.overview_page = OverviewPage(ctx)
        self.preparation_page = PreparationPage(ctx)
        self.procedure_page = ProcedurePage(ctx)
        self.stay_page = StayPage(ctx)
        self.followup_page = FollowUpPage(ctx)
        self.pump_page = PumpRefillPanel(ctx)
        self.outcomes_page = OutcomesPage(ctx)
        self.episode_view.add_page(self.overview_page, self.tr("Overview"), first=True)
        for page, page_title in (
            (self.preparation_page, self.tr("Preparation")),
            (self.procedure_page, self.tr("Procedure")),
            (self.stay_page, self.tr("Stay")),
            (self.followup_page, self.tr("Follow-up")),
            (self.pump_page, self.tr("Refills")),
            (self.outcomes_page, self.tr("Outcomes")),
        ):
            self.episode_view.add_page(page, page_title)
        self._sweep_missed()
        self.worklist_tabs.addTab(self.worklist, self.tr("Pathway"))
        sizes = self.splitter.sizes()
        self.splitter.replaceWidget(1, self.episode_view)
        self._episode_placeholder.deleteLater()
        self.splitter.setSizes(sizes)
        self.user_label.setText(
            self.tr("Signed in as: %1").replace("%1", f"{ctx.actor} ({ctx.role})")
        )
        for item in self._needs_context:
            item.setEnabled(True)  # before the roles decide what is offered
        # Issue 4: lock screen, Tools menu (audit log, users, backups), automatic backup.
        self.trust = TrustController(self, ctx, self._settings)
        # Issue 8: Export menu and export buttons (episode view, worklists).
        from pathway_app.ui.export_actions import ExportController

        self.exports = ExportController(self, ctx)
        # Issue 7: others' changes appear by themselves; a lost connection shows a banner.
        from pathway_app.ui import live_refresh

        self.live_refresh = live_refresh.attach(self, ctx, self._central)
        self.worklist.reload()
        self.refill_worklist.attach(ctx)
        self.became_ready.emit()
        if self._pending_episode is not None:
            self.open_episode(self._pending_episode)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu(self.tr("&File"))
        for text, shortcut, slot in (
            (self.tr("New &patient…"), QKeySequence("Ctrl+Shift+P"), self.new_patient),
            (self.tr("New &episode…"), QKeySequence("Ctrl+Shift+E"), self.new_episode),
        ):
            action = QAction(text, self)
            action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
            self._needs_context.append(action)
        file_menu.addSeparator()
        quit_action = QAction(self.tr("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu(self.tr("&View"))
        refresh = QAction(self.tr("&Refresh"), self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refresh)
        view_menu.addAction(refresh)
        self._needs_context.append(refresh)
        for index, (text, key) in enumerate(
            ((self.tr("Re&fill worklist"), "Ctrl+1"), (self.tr("&Pathway worklist"), "Ctrl+2"))
        ):
            show_tab = QAction(text, self)
            show_tab.setShortcut(QKeySequence(key))
            show_tab.triggered.connect(lambda _=False, i=index: self._show_worklist(i))
            view_menu.addAction(show_tab)
        find = QAction(self.tr("&Find patient"), self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(self._focus_search)
        view_menu.addAction(find)
        help_menu = self.menuBar().addMenu(self.tr("&Help"))
        about = QAction(self.tr("&About"), self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)
        self._needs_context.append(about)

    def _show_worklist(self, index: int) -> None:
        self.worklist_tabs.setCurrentIndex(index)
        self._focus_search()

    @Slot()
    def _focus_search(self) -> None:
        search = getattr(self.worklist_tabs.currentWidget(), "search", None)
        if search is not None:
            search.setFocus()
            search.selectAll()

    @Slot()
    def _about(self) -> None:
        QMessageBox.about(
            self,
            self.tr("About Care Pathway Tracker"),
            self.tr(
                "Care Pathway Tracker %1\n\nFollows patients with a constant-flow implantable "
                "infusion pump from preparation to years of refills.\n\nPathway: %2"
            )
            .replace("%1", __version__)
            .replace("%2", self._context().template.name),
        )

    def _context(self) -> ServiceContext:
        if self._ctx is None:
            raise RuntimeError("the main window is still opening")
        return self._ctx

    @Slot(int)
    def _show_count(self, count: int) -> None:
        self.count_label.setText(self.tr("%n episode(s) shown", "", count))

    def _sweep_missed(self) -> None:
        """Issue 6: write as missed the follow-up items whose due day has passed. The worklist
        shows them either way; this records when they were missed in the history."""
        from pathway_app.domain.errors import DomainError
        from pathway_app.services.followup import sweep_missed

        try:
            sweep_missed(self._context())
        except DomainError as exc:
            self.statusBar().showMessage(str(exc), 10000)

    @Slot()
    def refresh(self) -> None:
        if not self.ready:
            return
        self._sweep_missed()  # issue 6
        self.worklist.reload()
        self.refill_worklist.reload()
        episode = self.episode_view.episode
        if episode is not None:
            self.episode_view.show_episode(episode.id, keep_selection=True)

    @Slot(int)
    def open_episode(self, episode_id: int) -> None:
        if not self.ready:
            self._pending_episode = episode_id  # opened by `attach`
            return
        self._pending_episode = None
        self.episode_view.show_episode(episode_id)
        self.exports.refresh()  # issue 8
        self.worklist.select_episode(episode_id)
        self.episode_view.milestone_list.setFocus()

    @Slot(int)
    def _episode_changed(self, episode_id: int) -> None:
        self.worklist.reload()
        self.worklist.select_episode(episode_id)
        self.refill_worklist.reload()
        self.refill_worklist.select_episode(episode_id)

    @Slot()
    def new_patient(self) -> None:
        from pathway_app.ui.dialogs.patient_dialog import PatientDialog

        patient_id = PatientDialog.ask(self._context(), self)
        if patient_id is None:
            return
        self._last_patient_id = patient_id
        self.statusBar().showMessage(self.tr("Patient registered."), 5000)

    @Slot()
    def new_episode(self) -> None:
        from pathway_app.ui.dialogs.episode_dialog import EpisodeDialog

        episode_id = EpisodeDialog.ask(self._context(), self, self._last_patient_id)
        if episode_id is None:
            return
        self._last_patient_id = None
        self.worklist.reload()
        self.open_episode(episode_id)
        self.statusBar().showMessage(self.tr("Episode opened."), 5000)

    def _restore_state(self) -> None:
        if self._settings is None:
            return
        geometry = self._settings.value("mainWindow/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = self._settings.value("mainWindow/splitter")
        if splitter is not None:
            self.splitter.restoreState(splitter)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.ready:
            self.live_refresh.stop()  # issue 7
        if self._settings is not None:
            self._settings.setValue("mainWindow/geometry", self.saveGeometry())
            self._settings.setValue("mainWindow/splitter", self.splitter.saveState())
            self._settings.sync()
        super().closeEvent(event)
