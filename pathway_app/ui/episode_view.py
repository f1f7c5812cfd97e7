"""The episode view: the four stages in order, their milestones, what is next, and history."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QCoreApplication, QEvent, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError
from pathway_app.domain.progress import StageState
from pathway_app.services.context import ServiceContext
from pathway_app.services.milestones import undo_mark
from pathway_app.services.views import EpisodeView, HistoryEntry, MilestoneView, episode_view
from pathway_app.ui import object_names as names
from pathway_app.ui.common import (
    STATUS_COLOURS,
    format_date,
    format_datetime,
    named,
    status_text,
    tr,
)
from pathway_app.ui.dialogs.mark_dialogs import DoneDialog, SkipDialog
from pathway_app.ui.prompts import show_problem


class EpisodePage(QWidget):
    """Base of the episode's extra tabs: `load` shows an episode, `changed` reports a write.

    `load` fills the page's widgets before it returns (code may read them right after). The
    episode view calls it only for the tab that is shown, and for any other tab when it is first
    shown (issue 9: opening a ten-year episode must not build seven pages nobody looks at).
    """

    changed = Signal(int)

    def load(self, episode_id: int) -> None:
        raise NotImplementedError


MILESTONE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
STAGE_KEY_ROLE = Qt.ItemDataRole.UserRole + 2


def _stage_text(state: StageState) -> str:
    return {
        StageState.DONE: tr("Episode", "done"),
        StageState.CURRENT: tr("Episode", "current"),
        StageState.UPCOMING: tr("Episode", "upcoming"),
    }[state]


def _milestone_state_text(m: MilestoneView) -> str:
    if m.state == "done":
        return tr("Episode", "Done")
    if m.state == "skipped":
        return tr("Episode", "Skipped")
    return status_text(m.status) if m.status else tr("Episode", "Planned")


def _history_actions() -> dict[str, str]:
    """The words for each audit action, translated once per history shown (not once per row:
    a ten-year episode has hundreds of entries)."""
    return {
        "episode.opened": tr("Episode", "opened the episode"),
        "milestone.done": tr("Episode", "marked done"),
        "milestone.skipped": tr("Episode", "skipped"),
        "milestone.undone": tr("Episode", "undid the mark on"),
        "pump.implanted": tr("Episode", "recorded the implanted pump"),
        "fill.initial": tr("Episode", "recorded the initial fill"),
        "fill.refill": tr("Episode", "recorded a refill"),
        "fill.corrected": tr("Episode", "corrected a fill"),
        "exposure.logged": tr("Episode", "logged an exposure"),
        # Issue 6: stay, follow-up, complications, red flags, closing.
        "stay.admitted": tr("Episode", "recorded the admission"),
        "stay.admission_corrected": tr("Episode", "corrected the admission time"),
        "stay.note_added": tr("Episode", "added a monitoring note"),
        "stay.wound_care": tr("Episode", "recorded the wound care instructions"),
        "stay.restrictions": tr("Episode", "changed the activity restrictions"),
        "stay.checklist_ticked": tr("Episode", "ticked a discharge checklist item"),
        "stay.checklist_unticked": tr("Episode", "unticked a discharge checklist item"),
        "stay.discharged": tr("Episode", "discharged the patient"),
        "stay.discharged_override": tr(
            "Episode", "discharged the patient WITH CHECKLIST ITEMS OPEN"
        ),
        "followup.plan_accepted": tr("Episode", "accepted the follow-up plan"),
        "followup.added": tr("Episode", "added a follow-up"),
        "followup.moved": tr("Episode", "moved a follow-up"),
        "followup.series_moved": tr("Episode", "moved a follow-up series"),
        "followup.booked": tr("Episode", "booked a follow-up"),
        "followup.planned": tr("Episode", "set a follow-up back to planned"),
        "followup.done": tr("Episode", "recorded a follow-up as done"),
        "followup.cancelled": tr("Episode", "cancelled a follow-up"),
        "followup.missed": tr("Episode", "— a follow-up was MISSED (due day passed)"),
        "followup.resolved": tr("Episode", "resolved a missed follow-up"),
        "followup.notes": tr("Episode", "changed a follow-up's notes"),
        "complication.logged": tr("Episode", "logged a complication"),
        "complication.updated": tr("Episode", "updated a complication"),
        "complication.resolved": tr("Episode", "recorded a complication as resolved"),
        "red_flag.raised": tr("Episode", "raised an URGENT red flag"),
        "red_flag.resolved": tr("Episode", "resolved a red flag"),
        "episode.closed": tr("Episode", "closed the episode"),
        # Issue 5: preparation and procedure.
        "milestone.reopened": tr("Episode", "reopened (its record no longer meets the rule)"),
        "preparation.fasting": tr("Episode", "recorded the scheduled start and fasting"),
        "preparation.medications_reviewed": tr("Episode", "reviewed the medication list"),
        "preparation.evaluations": tr("Episode", "recorded the trial, evaluation or consent"),
        "preop_test.saved": tr("Episode", "recorded a pre-operative test"),
        "medication.added": tr("Episode", "added a drug to adjust"),
        "medication.changed": tr("Episode", "changed a drug to adjust"),
        "medication.removed": tr("Episode", "removed a drug to adjust"),
        "readiness.overridden": tr("Episode", "OVERRODE the unmet readiness gates"),
        "procedure.saved": tr("Episode", "recorded the procedure"),
        "procedure.pump_recorded": tr("Episode", "recorded the pump from the procedure"),
        "procedure.event": tr("Episode", "noted an intra-operative event"),
    }


def _history_text(entry: HistoryEntry, actions: dict[str, str] | None = None) -> str:
    when = format_datetime(entry.at)
    action = (actions if actions is not None else _history_actions()).get(
        entry.action, entry.action
    )
    text = f"{when} — {entry.actor} {action}"
    if entry.milestone:
        text += f" “{entry.milestone}”"
    if entry.action == "milestone.undone":
        old = entry.detail.get("old", {})
        was = str(old.get("state", ""))
        text += tr("Episode", " (was %1)").replace("%1", was)
    done_at = entry.detail.get("new", {}).get("done_at")
    if entry.action == "milestone.done" and isinstance(done_at, str):
        text += tr("Episode", " (done %1)").replace(
            "%1", format_datetime(datetime.fromisoformat(done_at))
        )
    if entry.action == "milestone.skipped":
        reason = entry.detail.get("new", {}).get("skip_reason")
        if reason:
            text += f": {reason}"
    return text


class EpisodeViewWidget(QWidget):
    """Shows one episode. Emits `changed` after any mark, so the worklist can refresh."""

    changed = Signal(int)

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode: EpisodeView | None = None
        named(self, names.EPISODE_VIEW, self.tr("Episode"))

        self.stack = QStackedWidget()
        self.empty = named(
            QLabel(self.tr("Open an episode from the worklist (double-click or Enter).")),
            names.EPISODE_EMPTY_LABEL,
            self.tr("No episode open"),
        )
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)

        self.header = named(QLabel(), names.EPISODE_HEADER_LABEL, self.tr("Patient"))
        font = QFont(self.header.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.header.setFont(font)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = named(QLabel(), names.EPISODE_DETAILS_LABEL, self.tr("Episode details"))
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.next_action = named(QLabel(), names.NEXT_ACTION_LABEL, self.tr("Next action"))
        self.next_action.setWordWrap(True)
        self.next_action.setMargin(6)

        self.stage_list = named(QListWidget(), names.STAGE_LIST, self.tr("Stages"))
        self.stage_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # The stages read left to right like the pathway, leaving the width to the milestones.
        self.stage_list.setFlow(QListView.Flow.LeftToRight)
        self.stage_list.setWrapping(False)
        self.stage_list.setSpacing(2)
        self.stage_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stage_list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stage_list.currentItemChanged.connect(self._show_stage)
        self.milestone_list = named(QTreeWidget(), names.MILESTONE_LIST, self.tr("Milestones"))
        self.milestone_list.setRootIsDecorated(False)
        self.milestone_list.setColumnCount(4)
        self.milestone_list.setHeaderLabels(
            [self.tr("Milestone"), self.tr("Status"), self.tr("Due"), self.tr("Marked")]
        )
        self.milestone_list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.milestone_list.header().setStretchLastSection(False)
        self.milestone_list.currentItemChanged.connect(self._update_buttons)
        self.milestone_list.itemActivated.connect(lambda *_: self.mark_done())

        self.done_button = named(
            QPushButton(self.tr("Mark &done…")),
            names.MARK_DONE_BUTTON,
            self.tr("Mark the selected milestone done"),
        )
        self.skip_button = named(
            QPushButton(self.tr("S&kip…")),
            names.MARK_SKIPPED_BUTTON,
            self.tr("Skip the selected milestone with a reason"),
        )
        self.undo_button = named(
            QPushButton(self.tr("U&ndo mark")),
            names.UNDO_MARK_BUTTON,
            self.tr("Undo the mark on the selected milestone"),
        )
        self.done_button.clicked.connect(self.mark_done)
        self.skip_button.clicked.connect(self.mark_skipped)
        self.undo_button.clicked.connect(self.undo)

        self.history = named(QListWidget(), names.HISTORY_LIST, self.tr("History"))
        self.history.setWordWrap(True)

        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.header)
        layout.addWidget(self.details)
        layout.addWidget(self.next_action)
        # One tab per part of the episode; later capabilities add theirs with `add_page`.
        self.tabs = named(QTabWidget(), names.EPISODE_TABS, self.tr("Episode pages"))
        layout.addWidget(self.tabs, 1)
        pathway = QWidget()
        pathway_layout = QVBoxLayout(pathway)
        stages_label = QLabel(self.tr("St&ages"))
        stages_label.setBuddy(self.stage_list)
        pathway_layout.addWidget(stages_label)
        pathway_layout.addWidget(self.stage_list)
        milestones_label = QLabel(self.tr("&Milestones"))
        milestones_label.setBuddy(self.milestone_list)
        pathway_layout.addWidget(milestones_label)
        pathway_layout.addWidget(self.milestone_list, 3)
        buttons = QHBoxLayout()
        buttons.addWidget(self.done_button)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.undo_button)
        buttons.addStretch(1)
        pathway_layout.addLayout(buttons)
        history_label = QLabel(self.tr("Histor&y"))
        history_label.setBuddy(self.history)
        pathway_layout.addWidget(history_label)
        pathway_layout.addWidget(self.history, 1)
        self.tabs.addTab(pathway, self.tr("Pathway"))
        self.pathway_tab = pathway
        self._pages: list[EpisodePage] = []
        self._first_page: EpisodePage | None = None  # issue 6: shown first on open
        # Pages not yet loaded with the open episode (or with its latest state); each is loaded
        # when its tab is shown, so an open costs only the visible page.
        self._stale: list[EpisodePage] = []
        self._shown_id: int | None = None  # the episode the loaded pages show
        self.tabs.currentChanged.connect(self._load_current_page)

        self.stack.addWidget(self.empty)
        self.stack.addWidget(page)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)
        for first, second in (
            (self.stage_list, self.milestone_list),
            (self.milestone_list, self.done_button),
            (self.done_button, self.skip_button),
            (self.skip_button, self.undo_button),
            (self.undo_button, self.history),
        ):
            QWidget.setTabOrder(first, second)
        self._update_buttons()

    @property
    def episode(self) -> EpisodeView | None:
        return self._episode

    def add_page(self, page: EpisodePage, title: str, *, first: bool = False) -> None:
        """Add a tab that shows one part of the open episode (refills, preparation…).

        The page is loaded when an episode is shown while its tab is current, else when its tab
        is next shown (`ensure_loaded` loads it at once); when it changes something it emits
        `changed(episode_id)` and the header, the pathway and the worklist follow. ``first``
        (issue 6: the overview) puts it before the Pathway tab and selects it whenever an
        episode is opened.
        """
        self._pages.append(page)
        if first:
            self.tabs.insertTab(0, page, title)
            self._first_page = page
        else:
            self.tabs.addTab(page, title)
        page.changed.connect(self._page_changed)

    @Slot(int)
    def _page_changed(self, episode_id: int) -> None:
        if self._episode is not None and self._episode.id == episode_id:
            self.show_episode(episode_id, keep_selection=True)
        self.changed.emit(episode_id)

    def show_episode(self, episode_id: int, *, keep_selection: bool = False) -> None:
        stage_key = self._selected_stage_key() if keep_selection else None
        milestone_id = self.selected_milestone_id() if keep_selection else None
        self._episode = ep = episode_view(self._ctx, episode_id)
        self.stack.setCurrentIndex(1)
        self.header.setText(f"{ep.patient_name} · {self.tr('MRN')} {ep.mrn}")
        self.details.setText(
            self.tr(
                "Born %1 · %2 · Drug: %3 · Pump: %4\n"
                "Planned procedure: %5 · Surgeon: %6 · Setting: %7"
            )
            .replace("%1", format_date(ep.birth_date))
            .replace("%2", ep.indication)
            .replace("%3", ep.drug)
            .replace("%4", ep.pump_model)
            .replace("%5", format_date(ep.planned_procedure_on))
            .replace("%6", ep.surgeon)
            .replace("%7", ep.setting)
        )
        if ep.next_action:
            action = ep.next_action
            if ep.next_action_kind == "missed":
                action = self.tr("missed follow-up: %1").replace("%1", action)
            text = self.tr("Next: %1 — due %2 (%3)").replace("%1", action)
            text = text.replace("%2", format_date(ep.next_due_on))
            text = text.replace("%3", status_text(ep.due_status))
        else:
            text = self.tr("Next: nothing open in the pathway or its follow-up.")
        self.next_action.setText(text)
        colour = STATUS_COLOURS.get(ep.due_status)
        self.next_action.setStyleSheet(
            f"background: {colour.name()}; color: black; border-radius: 3px;" if colour else ""
        )
        self.next_action.setAccessibleDescription(text)

        self.stage_list.blockSignals(True)
        self.stage_list.clear()
        current_row = 0
        for row, stage in enumerate(ep.stages):
            marker = {"done": "✓", "current": "▶", "upcoming": "○"}[stage.state.value]
            item = QListWidgetItem(
                f"{marker} {stage.name}\n{_stage_text(stage.state)} · "
                f"{stage.resolved_count}/{len(stage.milestones)}"
            )
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setToolTip(f"{stage.name}: {_stage_text(stage.state)}")
            item.setData(STAGE_KEY_ROLE, stage.key)
            if stage.state is StageState.CURRENT:
                font = item.font()
                font.setBold(True)
                item.setFont(font)
                current_row = row
            if stage_key is not None and stage.key == stage_key:
                current_row = row
            self.stage_list.addItem(item)
        self.stage_list.blockSignals(False)
        self.stage_list.setFixedHeight(self.stage_list.sizeHintForRow(0) + 14)
        self.stage_list.setCurrentRow(current_row)
        self._show_stage()
        if milestone_id is not None:
            self.select_milestone(milestone_id)

        self.history.clear()
        actions = _history_actions()
        self.history.addItems([_history_text(entry, actions) for entry in ep.history])
        if keep_selection and self._shown_id == ep.id:
            # A refresh of the same episode (after a write, Refresh, another workstation's
            # change): the pages already showing it are reloaded, so none shows an out-of-date
            # state of the open episode; the others are still loaded when first shown.
            for page in self._pages:
                if page not in self._stale:
                    page.load(ep.id)
        else:
            self._stale = list(self._pages)
        self._shown_id = ep.id
        if not keep_selection and self._first_page is not None:
            self.tabs.setCurrentWidget(self._first_page)  # loads it (currentChanged)
        self._load_current_page()

    def ensure_loaded(self, page: EpisodePage) -> None:
        """Load `page` with the open episode now if it has not been since the episode was shown
        (for code that reads a page's widgets without showing its tab)."""
        if page in self._stale and self._episode is not None:
            self._stale.remove(page)
            page.load(self._episode.id)

    def is_loaded(self, page: EpisodePage) -> bool:
        """Whether `page` shows the open episode as of the last `show_episode`."""
        return self._episode is not None and page in self._pages and page not in self._stale

    @Slot()
    def _load_current_page(self) -> None:
        page = self.tabs.currentWidget()
        if isinstance(page, EpisodePage) and page in self._stale:
            self.ensure_loaded(page)
            # The tab is already on screen (currentChanged comes after the switch): lay the
            # loaded page out now, so no frame shows it with its previous layout.
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)

    def clear(self) -> None:
        self._episode = None
        self._shown_id = None
        self._stale = list(self._pages)
        self.stack.setCurrentIndex(0)

    def _selected_stage_key(self) -> str | None:
        item = self.stage_list.currentItem()
        return item.data(STAGE_KEY_ROLE) if item else None

    @Slot()
    def _show_stage(self) -> None:
        self.milestone_list.clear()
        key = self._selected_stage_key()
        if self._episode is None or key is None:
            self._update_buttons()
            return
        stage = next(s for s in self._episode.stages if s.key == key)
        first_open: QTreeWidgetItem | None = None
        for m in stage.milestones:
            name = m.name + (self.tr(" (gate)") if m.gate else "")
            marked = ""
            if m.state != "planned":
                marked = self.tr("%1 by %2").replace("%1", format_datetime(m.done_at))
                marked = marked.replace("%2", m.done_by or "—")
            item = QTreeWidgetItem([name, _milestone_state_text(m), format_date(m.due_on), marked])
            item.setData(0, MILESTONE_ID_ROLE, m.id)
            tooltip = m.detail
            if m.skip_reason:
                tooltip = (tooltip + "\n" if tooltip else "") + self.tr("Skipped: ") + m.skip_reason
            if m.note:
                tooltip = (tooltip + "\n" if tooltip else "") + self.tr("Note: ") + m.note
            for column in range(4):
                item.setToolTip(column, tooltip)
            colour = STATUS_COLOURS.get(m.status) if m.status else None
            if colour is not None:
                item.setBackground(1, QBrush(colour))
                item.setForeground(1, QBrush(Qt.GlobalColor.black))
            self.milestone_list.addTopLevelItem(item)
            if first_open is None and m.state == "planned":
                first_open = item
        for column in range(1, 4):
            self.milestone_list.resizeColumnToContents(column)
        chosen = first_open or self.milestone_list.topLevelItem(0)
        if chosen is not None:
            self.milestone_list.setCurrentItem(chosen)
        self._update_buttons()

    def selected_milestone(self) -> MilestoneView | None:
        item = self.milestone_list.currentItem()
        if item is None or self._episode is None:
            return None
        milestone_id = item.data(0, MILESTONE_ID_ROLE)
        for stage in self._episode.stages:
            for m in stage.milestones:
                if m.id == milestone_id:
                    return m
        return None

    def selected_milestone_id(self) -> int | None:
        m = self.selected_milestone()
        return m.id if m else None

    def select_milestone(self, milestone_id: int) -> bool:
        """Select a milestone by id, switching to its stage if needed."""
        if self._episode is None:
            return False
        for row, stage in enumerate(self._episode.stages):
            if any(m.id == milestone_id for m in stage.milestones):
                self.stage_list.setCurrentRow(row)
                break
        for index in range(self.milestone_list.topLevelItemCount()):
            item = self.milestone_list.topLevelItem(index)
            if item is not None and item.data(0, MILESTONE_ID_ROLE) == milestone_id:
                self.milestone_list.setCurrentItem(item)
                return True
        return False

    @Slot()
    def _update_buttons(self) -> None:
        m = self.selected_milestone()
        open_episode = self._episode is not None and self._episode.status == "open"
        planned = m is not None and m.state == "planned" and open_episode
        self.done_button.setEnabled(planned)
        self.skip_button.setEnabled(planned)
        self.undo_button.setEnabled(m is not None and m.state != "planned" and open_episode)

    def _after_change(self, milestone_id: int) -> None:
        assert self._episode is not None
        self.show_episode(self._episode.id, keep_selection=True)
        self.select_milestone(milestone_id)
        self.changed.emit(self._episode.id)

    @Slot()
    def mark_done(self) -> None:
        m = self.selected_milestone()
        if m is None or m.state != "planned":
            return
        if DoneDialog.ask(self._ctx, m.id, m.name, self, m.version):
            self._after_change(m.id)

    @Slot()
    def mark_skipped(self) -> None:
        m = self.selected_milestone()
        if m is None or m.state != "planned":
            return
        if SkipDialog.ask(self._ctx, m.id, m.name, self, m.version):
            self._after_change(m.id)

    @Slot()
    def undo(self) -> None:
        m = self.selected_milestone()
        if m is None or m.state == "planned":
            return
        try:
            undo_mark(self._ctx, m.id, expected_version=m.version)
        except DomainError as exc:
            show_problem(self, self.tr("Cannot undo"), str(exc))
            return
        self._after_change(m.id)
