"""The main window: worklist on the left, the open episode on the right."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Slot
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
from pathway_app.domain.errors import DomainError  # issue 6
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup import sweep_missed  # issue 6
from pathway_app.ui import object_names as names
from pathway_app.ui.common import format_datetime, named
from pathway_app.ui.dialogs.episode_dialog import EpisodeDialog
from pathway_app.ui.dialogs.patient_dialog import PatientDialog
from pathway_app.ui.episode_view import EpisodeViewWidget
from pathway_app.ui.outcomes_page import OutcomesPage  # issue 10
from pathway_app.ui.preparation_page import PreparationPage  # issue 5
from pathway_app.ui.procedure_page import ProcedurePage  # issue 5
from pathway_app.ui.recovery_pages import FollowUpPage, StayPage  # issue 6
from pathway_app.ui.refill_panel import PumpRefillPanel
from pathway_app.ui.refill_worklist import RefillWorklistPanel
from pathway_app.ui.timeline import OverviewPage  # issue 6
from pathway_app.ui.trust import TrustController
from pathway_app.ui.worklist import WorklistPanel


class MainWindow(QMainWindow):
    def __init__(
        self, ctx: ServiceContext, settings: QSettings | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._settings = settings
        self._last_patient_id: int | None = None
        self.setObjectName(names.MAIN_WINDOW)
        self.setAccessibleName(self.tr("Care Pathway Tracker"))
        self.setWindowTitle(self.tr("Care Pathway Tracker"))

        self.clock_banner = named(QLabel(), names.CLOCK_BANNER, self.tr("Fixed clock"))
        self.clock_banner.setWordWrap(True)
        self.clock_banner.setMargin(6)
        self.clock_banner.setStyleSheet(
            "background: #fff3cd; color: #533f03; border: 1px solid #e0c36c; font-weight: bold;"
        )
        if ctx.clock.fixed:
            self.clock_banner.setText(
                self.tr(
                    "Clock fixed at %1 (training or automation): every date is computed from "
                    "this time, not the real time."
                ).replace("%1", format_datetime(ctx.now()))
            )
        self.clock_banner.setVisible(ctx.clock.fixed)

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

        self.worklist = WorklistPanel(ctx)
        self.episode_view = EpisodeViewWidget(ctx)
        self.worklist.episode_opened.connect(self.open_episode)
        self.worklist.rows_loaded.connect(self._show_count)
        self.episode_view.changed.connect(self._episode_changed)
        # The refill worklist is a coordinator's landing view: a missed refill of a
        # constant-flow pump has no alarm, so it comes first and is selected at start.
        self.refill_worklist = RefillWorklistPanel(ctx)
        self.refill_worklist.episode_opened.connect(self.open_episode)
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
        self.worklist_tabs = named(QTabWidget(), names.WORKLIST_TABS, self.tr("Worklists"))
        # No mnemonics here (they would clash); View › Refill worklist (Ctrl+1) and
        # View › Pathway worklist (Ctrl+2) switch from the keyboard.
        self.worklist_tabs.addTab(self.refill_worklist, self.tr("Refills"))
        self.worklist_tabs.addTab(self.worklist, self.tr("Pathway"))
        self.worklist_tabs.setCurrentIndex(0)

        self.splitter = named(
            QSplitter(Qt.Orientation.Horizontal),
            names.MAIN_SPLITTER,
            self.tr("Worklist and episode"),
        )
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.worklist_tabs)
        self.splitter.addWidget(self.episode_view)
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

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.clock_banner)
        layout.addLayout(toolbar)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.db_label = named(
            QLabel(self.tr("Database: %1").replace("%1", ctx.db.info.display_name)),
            names.STATUS_DATABASE_LABEL,
            self.tr("Database"),
        )
        self.user_label = named(
            QLabel(self.tr("Signed in as: %1").replace("%1", f"{ctx.actor} ({ctx.role})")),
            names.STATUS_USER_LABEL,
            self.tr("User"),
        )
        self.count_label = named(QLabel(), names.STATUS_COUNT_LABEL, self.tr("Episodes shown"))
        self.statusBar().addWidget(self.db_label, 1)
        self.statusBar().addPermanentWidget(self.count_label)
        self.statusBar().addPermanentWidget(self.user_label)
        self._build_menus()
        # Issue 4: lock screen, Tools menu (audit log, users, backups), automatic backup.
        self.trust = TrustController(self, ctx, settings)
        # Issue 8: Export menu and export buttons (episode view, worklists).
        from pathway_app.ui.export_actions import ExportController

        self.exports = ExportController(self, ctx)
        # Issue 7: others' changes appear by themselves; a lost connection shows a banner.
        from pathway_app.ui import live_refresh

        self.live_refresh = live_refresh.attach(self, ctx, central)
        QWidget.setTabOrder(self.new_patient_button, self.new_episode_button)
        QWidget.setTabOrder(self.new_episode_button, self.refresh_button)
        QWidget.setTabOrder(self.refresh_button, self.worklist_tabs)

        self.resize(1560, 900)
        self.splitter.setSizes([800, 760])
        self._restore_state()
        self.worklist.reload()
        self.refill_worklist.reload()
        self.refill_worklist.search.setFocus()

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

    def _show_worklist(self, index: int) -> None:
        self.worklist_tabs.setCurrentIndex(index)
        self._focus_search()

    @Slot()
    def _focus_search(self) -> None:
        panel = self.worklist_tabs.currentWidget()
        search = panel.search if isinstance(panel, WorklistPanel | RefillWorklistPanel) else None
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
            .replace("%2", self._ctx.template.name),
        )

    @Slot(int)
    def _show_count(self, count: int) -> None:
        self.count_label.setText(self.tr("%n episode(s) shown", "", count))

    def _sweep_missed(self) -> None:
        """Issue 6: write as missed the follow-up items whose due day has passed. The worklist
        shows them either way; this records when they were missed in the history."""
        try:
            sweep_missed(self._ctx)
        except DomainError as exc:
            self.statusBar().showMessage(str(exc), 10000)

    @Slot()
    def refresh(self) -> None:
        self._sweep_missed()  # issue 6
        self.worklist.reload()
        self.refill_worklist.reload()
        episode = self.episode_view.episode
        if episode is not None:
            self.episode_view.show_episode(episode.id, keep_selection=True)

    @Slot(int)
    def open_episode(self, episode_id: int) -> None:
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
        patient_id = PatientDialog.ask(self._ctx, self)
        if patient_id is None:
            return
        self._last_patient_id = patient_id
        self.statusBar().showMessage(self.tr("Patient registered."), 5000)

    @Slot()
    def new_episode(self) -> None:
        episode_id = EpisodeDialog.ask(self._ctx, self, self._last_patient_id)
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
        self.live_refresh.stop()  # issue 7
        if self._settings is not None:
            self._settings.setValue("mainWindow/geometry", self.saveGeometry())
            self._settings.setValue("mainWindow/splitter", self.splitter.saveState())
            self._settings.sync()
        super().closeEvent(event)
