"""Issue 8: the Export menu and the export buttons of the episode view and the worklists.

`ExportController(window, ctx)` adds everything from outside the panels (they are shared with
other work), so each panel keeps its own code: a row of buttons under the episode header, a
"CSV…" button in each worklist's filter row, a "Clinic calendar…" button beside the refill
worklist's, and an Export menu with the same actions.

Each export asks for a file with the platform's save dialog, whose overwrite question counts as
the user's consent to replace a file; it is then written whole or not at all
(`services.export_files.write_atomic`) and recorded in the audit trail. What an export left out
(e.g. no pump yet) is shown after it. `ask_path`, `ask_printer` and `tell` are classmethods the
tests patch, as with the dialogs' `ask`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QBoxLayout,
    QFileDialog,
    QHBoxLayout,
    QLayout,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QWidget,
)

from pathway_app.domain.errors import DomainError
from pathway_app.domain.progress import DueStatus
from pathway_app.services.context import ServiceContext
from pathway_app.services.export_files import ExportError, record_export, write_atomic
from pathway_app.ui import object_names as names
from pathway_app.ui.common import named


def _layout_holding(layout: QLayout | None, widget: QWidget) -> QBoxLayout | None:
    """The box layout (at any depth under `layout`) that directly holds `widget`."""
    if layout is None:
        return None
    for index in range(layout.count()):
        item = layout.itemAt(index)
        if item is None:
            continue
        if item.widget() is widget and isinstance(layout, QBoxLayout):
            return layout
        found = _layout_holding(item.layout(), widget)
        if found is not None:
            return found
    return None


class ExportController(QObject):
    def __init__(self, window: QMainWindow, ctx: ServiceContext) -> None:
        super().__init__(window)
        self._window = window
        self._ctx = ctx
        self._episode_buttons: list[QPushButton] = []
        self._episode_actions: list[QAction] = []
        self._add_episode_buttons()
        self._add_worklist_buttons()
        self._add_menu()
        episode_view = getattr(window, "episode_view", None)
        if episode_view is not None:
            episode_view.changed.connect(lambda _id: self._update())
        self._update()

    # --- building -------------------------------------------------------------------------

    def _button(self, name: str, text: str, slot: Callable[[], object]) -> QPushButton:
        button = named(QPushButton(text), name, text.rstrip("…"))
        button.clicked.connect(slot)
        return button

    def _episode_specs(self) -> list[tuple[str, str, Callable[[], object]]]:
        return [
            (names.EXPORT_SUMMARY_BUTTON, self.tr("Summary PDF…"), self.export_summary),
            (names.EXPORT_PRINT_BUTTON, self.tr("Print summary…"), self.print_summary),
            (names.EXPORT_CARD_BUTTON, self.tr("Refill card…"), self.export_card),
            (names.EXPORT_PATIENT_ICS_BUTTON, self.tr("Calendar…"), self.export_patient_ics),
            (names.EXPORT_FHIR_BUTTON, self.tr("FHIR…"), self.export_fhir),
        ]

    def _add_episode_buttons(self) -> None:
        view = getattr(self._window, "episode_view", None)
        header = getattr(view, "header", None)
        holder = _layout_holding(header.parentWidget().layout(), header) if header else None
        row = QHBoxLayout()
        for name, text, slot in self._episode_specs():
            button = self._button(name, text, slot)
            self._episode_buttons.append(button)
            row.addWidget(button)
        row.addStretch(1)
        if holder is not None and header is not None:
            holder.insertLayout(holder.indexOf(header) + 1, row)
        else:  # the episode view changed shape: keep the buttons out of sight, the menu works
            for button in self._episode_buttons:
                button.setParent(self._window)
                button.hide()

    def _add_worklist_buttons(self) -> None:
        refill = getattr(self._window, "refill_worklist", None)
        pathway = getattr(self._window, "worklist", None)
        for panel, name, slot in (
            (refill, names.EXPORT_REFILL_CSV_BUTTON, self.export_refill_csv),
            (pathway, names.EXPORT_WORKLIST_CSV_BUTTON, self.export_worklist_csv),
        ):
            search = getattr(panel, "search", None)
            holder = _layout_holding(panel.layout(), search) if panel and search else None
            button = self._button(name, self.tr("CSV…"), slot)
            button.setAccessibleName(
                self.tr("Export the refill worklist as CSV")
                if panel is refill
                else self.tr("Export the pathway worklist as CSV")
            )
            button.setToolTip(self.tr("Export the rows shown, with these filters, as CSV"))
            if holder is not None:
                holder.addWidget(button)
                if panel is refill:
                    holder.addWidget(
                        self._button(
                            names.EXPORT_CLINIC_ICS_BUTTON,
                            self.tr("Clinic calendar…"),
                            self.export_clinic_ics,
                        )
                    )
            else:
                button.setParent(self._window)
                button.hide()

    def _add_menu(self) -> None:
        menu = QMenu(self.tr("E&xport"), self._window)
        named(menu, names.EXPORT_MENU, self.tr("Export"))
        for name, text, slot in self._episode_specs():
            action = menu.addAction(text)
            action.setObjectName(name.replace("Button", "Action"))
            action.triggered.connect(slot)
            self._episode_actions.append(action)
        menu.addSeparator()
        for name, text, slot in (
            (names.EXPORT_REFILL_CSV_BUTTON, self.tr("Refill worklist as CSV…"),
             self.export_refill_csv),
            (names.EXPORT_WORKLIST_CSV_BUTTON, self.tr("Pathway worklist as CSV…"),
             self.export_worklist_csv),
            (names.EXPORT_CLINIC_ICS_BUTTON, self.tr("Clinic calendar…"), self.export_clinic_ics),
        ):  # fmt: skip
            action = menu.addAction(text)
            action.setObjectName(name.replace("Button", "Action"))
            action.triggered.connect(slot)
        bar = self._window.menuBar()
        actions = bar.actions()
        if actions:  # before Help, the last menu
            bar.insertMenu(actions[-1], menu)
        else:
            bar.addMenu(menu)

    def _episode_id(self) -> int | None:
        view = getattr(self._window, "episode_view", None)
        episode = getattr(view, "episode", None)
        return episode.id if episode is not None else None

    def _update(self) -> None:
        enabled = self._episode_id() is not None
        for button in self._episode_buttons:
            button.setEnabled(enabled)
        for action in self._episode_actions:
            action.setEnabled(enabled)

    def refresh(self) -> None:
        """Enable the episode exports when an episode is shown."""
        self._update()

    # --- what tests patch -----------------------------------------------------------------

    @classmethod
    def ask_path(cls, parent: QWidget, title: str, suggested: str, filter_text: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(parent, title, suggested, filter_text)
        return Path(path) if path else None

    @classmethod
    def ask_printer(cls, parent: QWidget) -> QPrinter | None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, parent)
        return printer if dialog.exec() == QPrintDialog.DialogCode.Accepted else None

    @classmethod
    def tell(cls, parent: QWidget, title: str, text: str, *, problem: bool = False) -> None:
        if problem:
            QMessageBox.warning(parent, title, text)
        else:
            QMessageBox.information(parent, title, text)

    # --- the exports ----------------------------------------------------------------------

    def _save(
        self,
        title: str,
        suggested: str,
        filter_text: str,
        make: Callable[[], tuple[bytes, tuple[str, ...]]],
        kind: str,
        episode_id: int | None,
    ) -> Path | None:
        target = self.ask_path(self._window, title, suggested, filter_text)
        if target is None:
            return None
        try:
            data, left_out = make()
            # The save dialog already asked before replacing a file.
            write_atomic(target, data, overwrite=True)
            record_export(self._ctx, kind, target, episode_id=episode_id,
                          left_out=list(left_out))  # fmt: skip
        except (ExportError, DomainError, OSError) as exc:
            self.tell(self._window, title, str(exc), problem=True)
            return None
        text = self.tr("Saved %1.").replace("%1", str(target))
        if left_out:
            text += "\n\n" + self.tr("Not included: %1").replace("%1", "; ".join(left_out))
        self.tell(self._window, title, text)
        return target

    def _suggest(self, stem: str, suffix: str) -> str:
        episode_id = self._episode_id()
        mrn = ""
        if episode_id is not None:
            view = getattr(self._window, "episode_view", None)
            mrn = getattr(getattr(view, "episode", None), "mrn", "")
        day = self._ctx.today().isoformat()
        return f"{stem}-{mrn}-{day}{suffix}" if mrn else f"{stem}-{day}{suffix}"

    def export_summary(self) -> Path | None:
        episode_id = self._episode_id()
        if episode_id is None:
            return None
        from pathway_app.ui.print_summary import summary_pdf_bytes

        return self._save(
            self.tr("Pathway summary"), self._suggest("pathway-summary", ".pdf"),
            self.tr("PDF (*.pdf)"), lambda: summary_pdf_bytes(self._ctx, episode_id),
            "summary-pdf", episode_id,
        )  # fmt: skip

    def print_summary(self) -> int:
        episode_id = self._episode_id()
        if episode_id is None:
            return 0
        printer = self.ask_printer(self._window)
        if printer is None:
            return 0
        from pathway_app.ui.print_summary import print_summary

        try:
            pages = print_summary(self._ctx, episode_id, printer)
            record_export(self._ctx, "summary-print", Path(printer.printerName() or "printer"),
                          episode_id=episode_id, pages=pages)  # fmt: skip
        except (DomainError, OSError) as exc:
            self.tell(self._window, self.tr("Print summary"), str(exc), problem=True)
            return 0
        return pages

    def export_card(self) -> Path | None:
        episode_id = self._episode_id()
        if episode_id is None:
            return None
        from pathway_app.ui.print_card import card_pdf_bytes

        return self._save(
            self.tr("Refill card"), self._suggest("refill-card", ".pdf"),
            self.tr("PDF (*.pdf)"), lambda: card_pdf_bytes(self._ctx, episode_id),
            "refill-card", episode_id,
        )  # fmt: skip

    def export_patient_ics(self) -> Path | None:
        episode_id = self._episode_id()
        if episode_id is None:
            return None
        from pathway_app.services.exports_ics import calendar_bytes, patient_events

        def make() -> tuple[bytes, tuple[str, ...]]:
            events = patient_events(self._ctx, episode_id)
            return calendar_bytes(events, name="Pump care", stamp=self._ctx.now()), ()

        return self._save(
            self.tr("Calendar"), self._suggest("pump-calendar", ".ics"),
            self.tr("Calendar (*.ics)"), make, "ics", episode_id,
        )  # fmt: skip

    def export_clinic_ics(self) -> Path | None:
        from pathway_app.services.exports_ics import calendar_bytes, clinic_events

        def make() -> tuple[bytes, tuple[str, ...]]:
            events = clinic_events(self._ctx)
            name = "Pump clinic — refills and follow-ups"
            return calendar_bytes(events, name=name, stamp=self._ctx.now()), ()

        return self._save(
            self.tr("Clinic calendar (next 90 days)"), self._suggest("clinic-calendar", ".ics"),
            self.tr("Calendar (*.ics)"), make, "ics", None,
        )  # fmt: skip

    def export_fhir(self) -> Path | None:
        episode_id = self._episode_id()
        if episode_id is None:
            return None
        from pathway_app.services.exports_fhir import episode_bundle_json

        return self._save(
            self.tr("FHIR export"), self._suggest("episode-fhir", ".json"),
            self.tr("FHIR JSON (*.json)"), lambda: episode_bundle_json(self._ctx, episode_id),
            "fhir", episode_id,
        )  # fmt: skip

    def export_refill_csv(self) -> Path | None:
        from pathway_app.services.exports_csv import refill_worklist_csv
        from pathway_app.services.refill_views import refill_worklist

        panel = getattr(self._window, "refill_worklist", None)

        def make() -> tuple[bytes, tuple[str, ...]]:
            days = panel.days.value() if panel is not None else None
            search = panel.search.text() if panel is not None else ""
            rows = refill_worklist(self._ctx, due_within_days=days, search=search)
            return refill_worklist_csv(rows), ()

        return self._save(
            self.tr("Refill worklist as CSV"), self._suggest("refill-worklist", ".csv"),
            self.tr("CSV (*.csv)"), make, "csv", None,
        )  # fmt: skip

    def export_worklist_csv(self) -> Path | None:
        from pathway_app.services.exports_csv import worklist_csv
        from pathway_app.services.views import worklist

        panel = getattr(self._window, "worklist", None)

        def make() -> tuple[bytes, tuple[str, ...]]:
            if panel is None:
                return worklist_csv(worklist(self._ctx)), ()
            status = panel.status_filter.currentData()
            rows = worklist(
                self._ctx,
                search=panel.search.text(),
                stage=panel.stage_filter.currentData(),
                status=DueStatus(status) if status else None,
                include_closed=panel.show_closed.isChecked(),
            )
            return worklist_csv(rows), ()

        return self._save(
            self.tr("Pathway worklist as CSV"), self._suggest("pathway-worklist", ".csv"),
            self.tr("CSV (*.csv)"), make, "csv", None,
        )  # fmt: skip
