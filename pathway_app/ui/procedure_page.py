"""The episode's Procedure page: the operation record as it is built in theatre — anaesthesia,
setting and personnel, the six steps with their times and the duration, the WHO checklist's three
pauses with the pump-specific items, antibiotic timing, the pump and its initial fill (recorded
through the refill service, so the refill schedule starts from it), and intra-operative events.
While a readiness gate is unmet without an override the page says why and records nothing."""

from __future__ import annotations

import itertools

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.procedure import StepTime
from pathway_app.services.context import ServiceContext
from pathway_app.services.procedure import (
    ProcedureDraft,
    ProcedureView,
    procedure_view,
    save_procedure,
)
from pathway_app.services.refill_views import episode_pump_plan
from pathway_app.ui import object_names as names
from pathway_app.ui.common import error_label, format_datetime, named, show_error, to_qdatetime
from pathway_app.ui.dialogs.preparation_dialogs import (
    EventDialog,
    ProcedureImplantDialog,
    datetime_of,
)
from pathway_app.ui.dialogs.refill_dialog import read_number
from pathway_app.ui.episode_view import EpisodePage
from pathway_app.ui.preparation_page import BANNER
from pathway_app.ui.refill_worklist import number

FLAG_STYLE = "background: #fff3cd; color: #533f03; border: 1px solid #e0c36c; padding: 4px;"
OK_STYLE = "background: #d1e7dd; color: #0a3622; border: 1px solid #a3cfbb; padding: 4px;"


class ProcedurePage(EpisodePage):
    """A page of the episode view; emits `changed(episode_id)` after anything is recorded."""

    def __init__(self, ctx: ServiceContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._view: ProcedureView | None = None
        named(self, names.PROCEDURE_PAGE, self.tr("Procedure"))
        config = ctx.readiness.procedure

        self.banner = named(QLabel(), names.PROC_BANNER_LABEL, self.tr("May the procedure go on"))
        self.banner.setWordWrap(True)
        self.banner.setMargin(6)
        font = self.banner.font()
        font.setBold(True)
        self.banner.setFont(font)

        # Details
        self.anaesthesia = named(QComboBox(), names.PROC_ANAESTHESIA_COMBO, self.tr("Anaesthesia"))
        self.anaesthesia.addItem("", "")
        for option in config.anaesthesia:
            self.anaesthesia.addItem(option.name, option.key)
        self.setting = named(QComboBox(), names.PROC_SETTING_COMBO, self.tr("Setting"))
        self.setting.addItem("", "")
        for setting in ctx.template.settings:
            self.setting.addItem(setting.name, setting.key)
        self.personnel: dict[str, QLineEdit] = {}
        self.personnel_errors: dict[str, QLabel] = {}
        self.errors = {
            "anaesthesia": error_label(names.PROC_ANAESTHESIA_ERROR),
            "setting": error_label(names.PROC_SETTING_ERROR),
            "antibiotic": error_label(names.PROC_ANTIBIOTIC_ERROR),
            "catheter_tip_level": error_label(names.PROC_TIP_LEVEL_ERROR),
            "pocket_depth_cm": error_label(names.PROC_POCKET_DEPTH_ERROR),
        }
        details_box = QGroupBox(self.tr("Anaesthesia, setting and personnel"))
        details = QFormLayout(details_box)
        details.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for text, widget, key in (
            (self.tr("A&naesthesia:"), self.anaesthesia, "anaesthesia"),
            (self.tr("Se&tting:"), self.setting, "setting"),
        ):
            label = QLabel(text)
            label.setBuddy(widget)
            details.addRow(label, widget)
            details.addRow("", self.errors[key])
        for role in config.roles:
            names_edit = named(
                QLineEdit(),
                f"procPersonnelEdit-{role.key}",
                self.tr("%1 (names, separated by commas)").replace("%1", role.name),
            )
            error = error_label(f"procPersonnelError-{role.key}")
            role_label = QLabel(role.name + (self.tr(" (required)") if role.required else "") + ":")
            role_label.setBuddy(names_edit)
            details.addRow(role_label, names_edit)
            details.addRow("", error)
            self.personnel[role.key] = names_edit
            self.personnel_errors[role.key] = error

        # Steps
        self.step_checks: dict[str, QCheckBox] = {}
        self.step_edits: dict[str, QDateTimeEdit] = {}
        self.step_errors: dict[str, QLabel] = {}
        steps_box = QGroupBox(self.tr("Steps (in order; times not in the future)"))
        grid = QGridLayout(steps_box)
        for row, step in enumerate(config.steps):
            check = named(
                QCheckBox(f"{row + 1}. {step.name}"),
                f"procStepCheck-{step.key}",
                self.tr("%1 recorded").replace("%1", step.name),
            )
            edit = named(
                QDateTimeEdit(to_qdatetime(ctx.now())),
                f"procStepEdit-{step.key}",
                self.tr("Time of %1").replace("%1", step.name),
            )
            edit.setDisplayFormat("yyyy-MM-dd HH:mm")
            edit.setCalendarPopup(True)
            edit.setEnabled(False)
            check.toggled.connect(edit.setEnabled)
            error = error_label(f"procStepError-{step.key}")
            grid.addWidget(check, row * 2, 0)
            grid.addWidget(edit, row * 2, 1)
            grid.addWidget(error, row * 2 + 1, 0, 1, 3)
            self.step_checks[step.key] = check
            self.step_edits[step.key] = edit
            self.step_errors[step.key] = error
        grid.setColumnStretch(2, 1)
        self.duration = named(QLabel(), names.PROC_DURATION_LABEL, self.tr("Duration"))
        self.duration.setWordWrap(True)
        grid.addWidget(self.duration, len(config.steps) * 2, 0, 1, 3)

        # WHO checklist
        self.checklist: dict[str, QCheckBox] = {}
        checklist_box = QGroupBox(self.tr("WHO Surgical Safety Checklist"))
        checklist_layout = QVBoxLayout(checklist_box)
        for pause in config.checklist:
            pause_box = QGroupBox(pause.name)
            pause_layout = QVBoxLayout(pause_box)
            for item in pause.items:
                text = item.text + (self.tr(" (pump)") if item.pump_specific else "")
                check = named(QCheckBox(text), f"procChecklistCheck-{item.key}", item.text)
                self.checklist[item.key] = check
                pause_layout.addWidget(check)
            checklist_layout.addWidget(pause_box)
        self.antibiotic = named(
            QLineEdit(), names.PROC_ANTIBIOTIC_EDIT, self.tr("Antibiotic prophylaxis")
        )
        self.antibiotic_given = named(
            QCheckBox(self.tr("&Given at:")),
            names.PROC_ANTIBIOTIC_CHECK,
            self.tr("The antibiotic was given"),
        )
        self.antibiotic_at = named(
            QDateTimeEdit(to_qdatetime(ctx.now())),
            names.PROC_ANTIBIOTIC_AT_EDIT,
            self.tr("Time the antibiotic was given"),
        )
        self.antibiotic_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.antibiotic_at.setCalendarPopup(True)
        self.antibiotic_given.toggled.connect(self.antibiotic_at.setEnabled)
        antibiotic_row = QHBoxLayout()
        antibiotic_label = QLabel(self.tr("Anti&biotic:"))
        antibiotic_label.setBuddy(self.antibiotic)
        antibiotic_row.addWidget(antibiotic_label)
        antibiotic_row.addWidget(self.antibiotic, 1)
        antibiotic_row.addWidget(self.antibiotic_given)
        antibiotic_row.addWidget(self.antibiotic_at)
        checklist_layout.addLayout(antibiotic_row)
        checklist_layout.addWidget(self.errors["antibiotic"])

        # Pump
        self.pump_label = named(QLabel(), names.PROC_PUMP_LABEL, self.tr("Pump and initial fill"))
        self.pump_label.setWordWrap(True)
        self.pump_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.record_pump_button = named(
            QPushButton(self.tr("Record &pump and initial fill…")),
            names.PROC_RECORD_PUMP_BUTTON,
            self.tr("Record the pump and its initial fill; the refill schedule starts from it"),
        )
        self.record_pump_button.clicked.connect(self.record_pump)
        self.csf_flow = named(
            QCheckBox(self.tr("Free &CSF flow confirmed")),
            names.PROC_CSF_FLOW_CHECK,
            self.tr("Free CSF flow confirmed"),
        )
        self.tip_level = named(
            QLineEdit(), names.PROC_TIP_LEVEL_EDIT, self.tr("Catheter tip level")
        )
        self.tip_level.setMaxLength(64)
        self.pocket_depth = named(
            QLineEdit(), names.PROC_POCKET_DEPTH_EDIT, self.tr("Pocket depth, cm")
        )
        self.pocket_depth.setMaxLength(8)
        pump_box = QGroupBox(self.tr("Pump"))
        pump_form = QFormLayout(pump_box)
        pump_form.addRow(self.pump_label)
        pump_form.addRow(self.record_pump_button)
        pump_form.addRow(self.csf_flow)
        for text, field, key in (
            (self.tr("Catheter tip &level:"), self.tip_level, "catheter_tip_level"),
            (self.tr("Poc&ket depth (cm):"), self.pocket_depth, "pocket_depth_cm"),
        ):
            field_label = QLabel(text)
            field_label.setBuddy(field)
            pump_form.addRow(field_label, field)
            pump_form.addRow("", self.errors[key])

        self.flags = named(QLabel(), names.PROC_FLAGS_LABEL, self.tr("Needs attention"))
        self.flags.setWordWrap(True)
        self.form_error = error_label(names.PROC_FORM_ERROR)
        self.save_button = named(
            QPushButton(self.tr("&Save procedure record")),
            names.PROC_SAVE_BUTTON,
            self.tr("Save the procedure record"),
        )
        self.save_button.clicked.connect(self.save)

        # Events
        self.events = named(QListWidget(), names.PROC_EVENT_LIST, self.tr("Intra-operative events"))
        self.events.setWordWrap(True)
        self.events.setMaximumHeight(140)
        self.add_event_button = named(
            QPushButton(self.tr("Add &event…")),
            names.PROC_ADD_EVENT_BUTTON,
            self.tr("Note an intra-operative event or complication"),
        )
        self.add_event_button.clicked.connect(self.add_event)
        events_box = QGroupBox(self.tr("Intra-operative events and complications"))
        events_layout = QVBoxLayout(events_box)
        events_layout.addWidget(self.events)
        events_layout.addWidget(self.add_event_button, 0, Qt.AlignmentFlag.AlignLeft)

        content = QWidget()
        self.content = content
        layout = QVBoxLayout(content)
        layout.addWidget(self.banner)
        layout.addWidget(self.flags)
        layout.addWidget(details_box)
        layout.addWidget(checklist_box)
        layout.addWidget(steps_box)
        layout.addWidget(pump_box)
        layout.addWidget(self.form_error)
        layout.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(events_box)
        layout.addStretch(1)
        area = QScrollArea()
        area.setWidget(content)
        area.setWidgetResizable(True)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(area)

        self.inputs: list[QWidget] = [self.anaesthesia, self.setting, *self.personnel.values()]
        self.inputs += list(self.checklist.values())
        self.inputs += [self.antibiotic, self.antibiotic_given, self.antibiotic_at]
        for key in self.step_checks:
            self.inputs += [self.step_checks[key], self.step_edits[key]]
        self.inputs += [self.csf_flow, self.tip_level, self.pocket_depth]
        order = [
            *self.inputs[: self.inputs.index(self.csf_flow)],
            self.record_pump_button,
            self.csf_flow,
            self.tip_level,
            self.pocket_depth,
            self.save_button,
            self.events,
            self.add_event_button,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

    @property
    def view(self) -> ProcedureView | None:
        return self._view

    def load(self, episode_id: int) -> None:
        self._view = view = procedure_view(self._ctx, episode_id)
        check = view.check
        if not view.may_proceed:
            text = self.tr(
                "✗ BLOCKED — the procedure cannot be recorded: readiness gates are unmet. "
                "Complete them on the Preparation page or record an authorised override.\n%1"
            ).replace("%1", check.blocking_text())
            style = BANNER["blocked"]
        elif check.override is not None and any(g.state.value == "overridden" for g in check.gates):
            text = (
                self.tr("⚠ PROCEEDING ON AN OVERRIDE by %1 (%2): “%3”")
                .replace("%1", check.override.authorised_by)
                .replace("%2", format_datetime(check.override.at))
                .replace("%3", check.override.reason)
            )
            style = BANNER["overridden"]
        else:
            text = self.tr("✓ Readiness gates met: the procedure may be recorded.")
            style = BANNER["ready"]
        self.banner.setText(text)
        self.banner.setStyleSheet(style)
        self.banner.setAccessibleDescription(text)
        editable = view.is_open and view.may_proceed
        for widget in (*self.inputs, self.save_button, self.add_event_button):
            widget.setEnabled(editable)

        self.anaesthesia.setCurrentIndex(max(0, self.anaesthesia.findData(view.anaesthesia)))
        self.setting.setCurrentIndex(max(0, self.setting.findData(view.setting)))
        for key, edit in self.personnel.items():
            edit.setText(", ".join(view.personnel.get(key, ())))
        times = {s.step: s.at for s in view.steps}
        for key, box in self.step_checks.items():
            box.setChecked(key in times)
            self.step_edits[key].setEnabled(editable and key in times)
            if key in times:
                self.step_edits[key].setDateTime(to_qdatetime(times[key]))
            else:
                self.step_edits[key].setDateTime(to_qdatetime(self._ctx.now()))
        for key, box in self.checklist.items():
            box.setChecked(key in view.checklist)
        self.antibiotic.setText(view.antibiotic)
        self.antibiotic_given.setChecked(view.antibiotic_at is not None)
        self.antibiotic_at.setEnabled(editable and view.antibiotic_at is not None)
        if view.antibiotic_at is not None:
            self.antibiotic_at.setDateTime(to_qdatetime(view.antibiotic_at))
        self.csf_flow.setChecked(view.csf_flow_confirmed)
        self.tip_level.setText(view.catheter_tip_level)
        self.pocket_depth.setText(
            "" if view.pocket_depth_cm is None else f"{view.pocket_depth_cm:g}"
        )

        if view.duration is not None:
            minutes = view.duration.duration.total_seconds() / 60
            text = self.tr("Duration %1 min (incision to closure).").replace("%1", f"{minutes:.0f}")
            if view.duration.flag:
                text = "⚠ " + view.duration.flag
            self.duration.setText(text)
            self.duration.setStyleSheet(FLAG_STYLE if view.duration.flag else OK_STYLE)
        else:
            self.duration.setText(self.tr("Duration: record the incision and the closure."))
            self.duration.setStyleSheet("")

        pump = view.pump
        if pump is None:
            self.pump_label.setText(
                self.tr(
                    "No pump recorded yet. The initial fill recorded here starts the refill "
                    "schedule."
                )
            )
        else:
            self.pump_label.setText(
                self.tr(
                    "%1 · serial %2 · reservoir %3 mL · implanted %4\nInitial fill: %5 %6 %7, "
                    "%8 mL, double-checked by %9 · first refill due %10"
                )
                .replace("%10", format_datetime(pump.refill_due_at))
                .replace("%1", pump.model_name)
                .replace("%2", pump.serial)
                .replace("%3", number(pump.reservoir_ml))
                .replace("%4", format_datetime(pump.implanted_at))
                .replace("%5", pump.drug_name or "—")
                .replace("%6", number(pump.concentration, 3))
                .replace("%7", pump.concentration_unit)
                .replace("%8", number(pump.volume_ml))
                .replace("%9", pump.second_checker or "—")
            )
        self.record_pump_button.setVisible(pump is None)
        self.record_pump_button.setEnabled(editable and pump is None)

        if view.flags:
            self.flags.setText(
                self.tr("⚠ Needs attention:\n") + "\n".join(f"• {f}" for f in view.flags)
            )
            self.flags.setStyleSheet(FLAG_STYLE)
        else:
            self.flags.setText(self.tr("✓ The procedure record is complete."))
            self.flags.setStyleSheet(OK_STYLE)
        self.flags.setVisible(view.may_proceed)
        self.events.clear()
        for event in view.events:
            categories = f" [{'; '.join(event.categories)}]" if event.categories else ""
            self.events.addItem(
                f"{format_datetime(event.at)} — {event.text}{categories} ({event.recorded_by})"
            )
        self._clear_errors()

    def _clear_errors(self) -> None:
        for label in (
            *self.errors.values(),
            *self.personnel_errors.values(),
            *self.step_errors.values(),
            self.form_error,
        ):
            show_error(label, None)

    def draft(self) -> ProcedureDraft:
        personnel = {
            key: tuple(n.strip() for n in edit.text().split(",") if n.strip())
            for key, edit in self.personnel.items()
        }
        steps = tuple(
            StepTime(key, datetime_of(self.step_edits[key], self._ctx))
            for key, box in self.step_checks.items()
            if box.isChecked()
        )
        return ProcedureDraft(
            anaesthesia=self.anaesthesia.currentData() or "",
            setting=self.setting.currentData() or "",
            personnel={k: v for k, v in personnel.items() if v},
            steps=steps,
            checklist=frozenset(k for k, box in self.checklist.items() if box.isChecked()),
            antibiotic=self.antibiotic.text(),
            antibiotic_at=(
                datetime_of(self.antibiotic_at, self._ctx)
                if self.antibiotic_given.isChecked()
                else None
            ),
            csf_flow_confirmed=self.csf_flow.isChecked(),
            catheter_tip_level=self.tip_level.text(),
            pocket_depth_cm=read_number(self.pocket_depth),
        )

    def _after_write(self) -> None:
        assert self._view is not None
        episode_id = self._view.episode_id
        self.load(episode_id)
        self.changed.emit(episode_id)

    @Slot()
    def save(self) -> None:
        if self._view is None:
            return
        self._clear_errors()
        try:
            save_procedure(self._ctx, self._view.episode_id, self.draft())
        except ValidationError as exc:
            leftovers = []
            for key, message in exc.field_errors.items():
                if key.startswith("step.") and key[5:] in self.step_errors:
                    show_error(self.step_errors[key[5:]], message)
                elif key.startswith("personnel.") and key[10:] in self.personnel_errors:
                    show_error(self.personnel_errors[key[10:]], message)
                elif key in self.errors or key == "antibiotic_at":
                    show_error(self.errors.get(key, self.errors["antibiotic"]), message)
                else:
                    leftovers.append(message)
            show_error(self.form_error, "\n".join(leftovers) or None)
            return
        except DomainError as exc:
            show_error(self.form_error, str(exc))
            return
        self._after_write()

    @Slot()
    def record_pump(self) -> None:
        if self._view is None:
            return
        plan = episode_pump_plan(self._ctx, self._view.episode_id)
        if (
            ProcedureImplantDialog.ask(
                self._ctx, self._view.episode_id, plan.pump_model, plan.drug, self
            )
            is not None
        ):
            self._after_write()

    @Slot()
    def add_event(self) -> None:
        if self._view is not None and EventDialog.ask(self._ctx, self._view.episode_id, self):
            self._after_write()
