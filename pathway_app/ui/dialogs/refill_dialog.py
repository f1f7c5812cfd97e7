"""Recording fills: a refill (or its correction), the implant with its initial fill, and an
exposure. Every figure shown comes from the services' preview, so the dialog does no clinical
arithmetic; saving goes through the same checks and shows each problem next to its field.

The refill and exposure dialogs read the pump's version when they open and save with it: when
another window or workstation recorded a fill, correction or exposure meanwhile, the save is
refused with who and when, and the dialog stays open with what was typed."""

from __future__ import annotations

import itertools
from datetime import datetime

from PySide6.QtCore import QLocale, QTimer, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.catalogues import CONCENTRATION_UNITS
from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.records import NAME_MAX_LENGTH
from pathway_app.domain.refill_records import (
    LOCATION_METHODS,
    ExposureDraft,
    ExposureKind,
    FillDraft,
    FillKind,
    ImplantDraft,
)
from pathway_app.domain.refills import EXPLANATIONS, Explanation
from pathway_app.services.context import ServiceContext
from pathway_app.services.refill_views import FillView, PumpView
from pathway_app.services.refills import (
    FillPreview,
    correct_fill,
    log_exposure,
    preview_correction,
    preview_implant,
    preview_refill,
    pump_version,
    record_implant,
    record_refill,
)
from pathway_app.ui import object_names as names
from pathway_app.ui.common import (
    dialog_buttons,
    error_label,
    format_datetime,
    from_qdate,
    named,
    show_error,
    to_qdate,
    to_qdatetime,
)
from pathway_app.ui.dialogs.patient_dialog import blank_date_edit, date_or_none
from pathway_app.ui.refill_worklist import number

FLAG_STYLE = "background: #f8d7da; color: #58151c; border: 1px solid #f1aeb5; padding: 4px;"
OK_STYLE = "background: #d1e7dd; color: #0a3622; border: 1px solid #a3cfbb; padding: 4px;"


def _number_edit(object_name: str, accessible: str) -> QLineEdit:
    """A text field for a decimal: empty means "not entered" (a spin box would save 0)."""
    edit = named(QLineEdit(), object_name, accessible)
    edit.setMaxLength(12)
    return edit


def read_number(edit: QLineEdit) -> float | None:
    """The number typed the local way (or with a point); None when empty; NaN when not a number,
    which the services refuse with a message."""
    text = edit.text().strip()
    if not text:
        return None
    value, ok = QLocale().toDouble(text)
    if not ok:
        try:
            return float(text.replace(",", "."))
        except ValueError:
            return float("nan")
    return value


def _set_number(edit: QLineEdit, value: float | None) -> None:
    edit.setText("" if value is None else number(value, 3))


def _datetime_of(edit: QDateTimeEdit, ctx: ServiceContext) -> datetime:
    return datetime.fromtimestamp(edit.dateTime().toMSecsSinceEpoch() / 1000, tz=ctx.now().tzinfo)


class FillForm(QWidget):
    """The fields of one fill, its live preview and the error label of each field.

    Attributes:
        fields: draft field name -> input widget (the order is the tab order).
        errors: draft field name -> error label.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        kind: FillKind,
        previous: FillView | None,
        parent: QWidget | None = None,
        *,
        implant_names: bool = False,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.kind = kind
        # The implant dialog's fill form has its own names so every name is unique in the
        # app; the refill-only widgets exist there unnamed and hidden.
        prefix = "INITIAL_FILL_" if implant_names else "FILL_"

        def name(key: str) -> str:
            return str(getattr(names, prefix + key, ""))

        self._n = name
        now = to_qdatetime(ctx.now())
        self.filled_at = named(
            QDateTimeEdit(now), self._n("AT_EDIT"), self.tr("Fill date and time")
        )
        self.filled_at.setCalendarPopup(True)
        self.filled_at.setMaximumDateTime(now)
        self.filled_at.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.aspirated = _number_edit(self._n("ASPIRATED_EDIT"), self.tr("Residual aspirated, mL"))
        self.residual_left = _number_edit(
            self._n("RESIDUAL_LEFT_EDIT"), self.tr("Volume left in the pump, mL")
        )
        self.residual_left.setText("0")
        self.added = _number_edit(self._n("ADDED_EDIT"), self.tr("Volume added, mL"))
        self.drug = named(QComboBox(), self._n("DRUG_COMBO"), self.tr("Drug"))
        for key, drug in sorted(ctx.catalogue.drugs.items(), key=lambda kv: kv[1].name):
            self.drug.addItem(drug.name, key)
        self.concentration = _number_edit(self._n("CONCENTRATION_EDIT"), self.tr("Concentration"))
        self.unit = named(QComboBox(), self._n("UNIT_COMBO"), self.tr("Concentration unit"))
        for unit in CONCENTRATION_UNITS:
            self.unit.addItem(unit, unit)
        self.lot = named(QLineEdit(), self._n("LOT_EDIT"), self.tr("Lot number"))
        self.lot.setMaxLength(64)
        self.expiry = blank_date_edit(self._n("EXPIRY_EDIT"), self.tr("Lot expiry date"))
        self.operator = named(QLineEdit(ctx.actor), self._n("OPERATOR_EDIT"), self.tr("Operator"))
        self.operator.setMaxLength(NAME_MAX_LENGTH)
        self.checker = named(QLineEdit(), self._n("CHECKER_EDIT"), self.tr("Second checker"))
        self.checker.setMaxLength(NAME_MAX_LENGTH)
        self.needle = named(QLineEdit(), self._n("NEEDLE_EDIT"), self.tr("Needle type"))
        self.needle.setMaxLength(100)
        self.location = named(QComboBox(), self._n("LOCATION_COMBO"), self.tr("Location method"))
        self.location.addItem("", "")
        for method in LOCATION_METHODS:
            self.location.addItem(self.tr(method.capitalize()), method)
        self.notes = named(QPlainTextEdit(), self._n("NOTES_EDIT"), self.tr("Notes"))
        self.notes.setTabChangesFocus(True)
        self.notes.setFixedHeight(48)
        self.explanation = named(
            QComboBox(), self._n("EXPLANATION_COMBO"), self.tr("Explanation of the discrepancy")
        )
        self.explanation.addItem(self.tr("(none)"), None)
        for item in EXPLANATIONS:
            self.explanation.addItem(self.tr(item.label), item.value)
        self.explanation_note = named(
            QLineEdit(), self._n("EXPLANATION_NOTE_EDIT"), self.tr("Explanation detail")
        )
        self.over_max = named(
            QCheckBox(self.tr("Dose above the drug's maximum is &prescribed and intended")),
            self._n("OVER_MAX_CHECK"),
            self.tr("Confirm a dose above the maximum"),
        )
        self.over_max_reason = named(
            QLineEdit(),
            self._n("OVER_MAX_REASON_EDIT"),
            self.tr("Reason for the dose above maximum"),
        )
        self.post_refill = _number_edit(
            self._n("POST_REFILL_EDIT"),
            self.tr("Reservoir volume measured after the refill, mL (optional)"),
        )
        self.post_refill.setPlaceholderText(self.tr("optional: measured after the refill"))
        self.pocket_label = named(
            QLabel(), self._n("POCKET_FILL_LABEL"), self.tr("Pocket-fill check")
        )
        self.pocket_label.setWordWrap(True)
        self.pocket_label.setVisible(False)
        self.observation = named(
            QCheckBox(
                self.tr("I have started post-refill o&bservation for a possible pocket fill")
            ),
            self._n("OBSERVATION_CHECK"),
            self.tr("Confirm post-refill observation has started"),
        )
        # Asked only while the alert shows, so a confirmation cannot be given in advance.
        self.observation.setVisible(False)
        self.preview_label = named(QLabel(), self._n("PREVIEW_LABEL"), self.tr("Reconciliation"))
        self.flag_label = named(QLabel(), self._n("FLAG_LABEL"), self.tr("Discrepancy flag"))
        self.result_label = named(QLabel(), self._n("RESULT_LABEL"), self.tr("New refill dates"))
        for label in (self.preview_label, self.flag_label, self.result_label):
            label.setWordWrap(True)
        self.flag_label.setVisible(False)

        if previous is not None:
            # The usual refill repeats the last prescription; the nurse changes what differs.
            self.drug.setCurrentIndex(max(0, self.drug.findData(previous.drug_key)))
            self.unit.setCurrentIndex(max(0, self.unit.findData(previous.concentration_unit)))
            _set_number(self.concentration, previous.concentration)
            self.needle.setText(previous.needle)
            self.location.setCurrentIndex(max(0, self.location.findData(previous.location_method)))
        # Form order = tab order: the volumes first, then the reconciliation they produce and
        # its explanation, so the nurse sees the discrepancy while still at the pump.
        self.fields: dict[str, QWidget] = {"filled_at": self.filled_at}
        if kind is FillKind.REFILL:
            self.fields["aspirated_ml"] = self.aspirated
            self.fields["residual_left_ml"] = self.residual_left
        self.fields["added_ml"] = self.added
        if kind is FillKind.REFILL:
            self.fields["explanation"] = self.explanation
            self.fields["explanation_note"] = self.explanation_note
            # Measured once the drug is in: the pocket-fill alert and its confirmation follow
            # the measurement directly, before the drug details.
            self.fields["post_refill_volume_ml"] = self.post_refill
            self.fields["observation_started"] = self.observation
        self.fields.update(
            {
                "drug_key": self.drug,
                "concentration": self.concentration,
                "concentration_unit": self.unit,
                "lot": self.lot,
                "expiry_on": self.expiry,
                "operator": self.operator,
                "second_checker": self.checker,
                "needle": self.needle,
                "location_method": self.location,
                "notes": self.notes,
                "confirm_over_max": self.over_max,
                "over_max_reason": self.over_max_reason,
            }
        )
        error_names = {
            "filled_at": self._n("AT_ERROR"),
            "aspirated_ml": self._n("ASPIRATED_ERROR"),
            "residual_left_ml": self._n("RESIDUAL_LEFT_ERROR"),
            "added_ml": self._n("ADDED_ERROR"),
            "drug_key": self._n("DRUG_ERROR"),
            "concentration": self._n("CONCENTRATION_ERROR"),
            "concentration_unit": self._n("UNIT_ERROR"),
            "lot": self._n("LOT_ERROR"),
            "expiry_on": self._n("EXPIRY_ERROR"),
            "operator": self._n("OPERATOR_ERROR"),
            "second_checker": self._n("CHECKER_ERROR"),
            "needle": self._n("NEEDLE_ERROR"),
            "location_method": self._n("LOCATION_ERROR"),
            "notes": self._n("NOTES_ERROR"),
            "explanation": self._n("EXPLANATION_ERROR"),
            "explanation_note": self._n("EXPLANATION_NOTE_ERROR"),
            "post_refill_volume_ml": self._n("POST_REFILL_ERROR"),
            "observation_started": self._n("OBSERVATION_ERROR"),
            "confirm_over_max": self._n("OVER_MAX_ERROR"),
            "over_max_reason": self._n("OVER_MAX_REASON_ERROR"),
        }
        self.errors = {key: error_label(error_names[key]) for key in self.fields}
        if kind is FillKind.INITIAL:
            unused: QWidget
            for unused in (
                self.aspirated,
                self.residual_left,
                self.explanation,
                self.explanation_note,
                self.flag_label,
                self.post_refill,
                self.pocket_label,
                self.observation,
            ):
                unused.setParent(self)
                unused.setVisible(False)
        self.form_error = error_label(self._n("FORM_ERROR"))

        labels = {
            "filled_at": self.tr("Date and &time:"),
            "aspirated_ml": self.tr("Residual &aspirated (mL):"),
            "residual_left_ml": self.tr("Left in pump, not aspirated (m&L):"),
            "added_ml": self.tr("Volume a&dded (mL):"),
            "drug_key": self.tr("Dr&ug:"),
            "concentration": self.tr("&Concentration:"),
            "concentration_unit": self.tr("U&nit:"),
            "lot": self.tr("&Lot:"),
            "expiry_on": self.tr("&Expiry:"),
            "operator": self.tr("&Operator:"),
            "second_checker": self.tr("Second c&hecker:"),
            "needle": self.tr("Needle t&ype:"),
            "location_method": self.tr("Location &method:"),
            "notes": self.tr("Notes:"),
            "explanation": self.tr("E&xplanation:"),
            "explanation_note": self.tr("Explanation detail:"),
            "post_refill_volume_ml": self.tr("Reser&voir after refill (mL):"),
            "observation_started": "",
            "confirm_over_max": "",
            "over_max_reason": self.tr("Reason for dose above ma&ximum:"),
        }
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, widget in self.fields.items():
            if key == "explanation":
                form.addRow(self.preview_label)
                form.addRow(self.flag_label)
            if key == "observation_started":
                # Full width: the alert and the confirmation that answers it read as one.
                form.addRow(self.pocket_label)
                form.addRow(widget)
                form.addRow(self.errors[key])
                continue
            label = QLabel(labels[key])
            label.setBuddy(widget)
            form.addRow(label, widget)
            form.addRow("", self.errors[key])
        form.addRow(self.result_label)
        form.addRow(self.form_error)
        if kind is FillKind.INITIAL:
            form.insertRow(0, self.preview_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self.changed = self._timer.start
        for widget in self.fields.values():
            signal = None
            if isinstance(widget, QLineEdit):
                signal = widget.textChanged
            elif isinstance(widget, QComboBox):
                signal = widget.currentIndexChanged
            elif isinstance(widget, QDateTimeEdit):  # also QDateEdit
                signal = widget.dateTimeChanged
            elif isinstance(widget, QCheckBox):
                signal = widget.toggled
            if signal is not None:
                signal.connect(self._timer.start)

    def tab_order(self) -> list[QWidget]:
        return list(self.fields.values())

    def draft(self) -> FillDraft:
        expiry = date_or_none(self.expiry)
        explanation = self.explanation.currentData()
        return FillDraft(
            filled_at=_datetime_of(self.filled_at, self._ctx),
            added_ml=read_number(self.added),
            drug_key=self.drug.currentData() or "",
            concentration=read_number(self.concentration),
            concentration_unit=self.unit.currentData() or "",
            operator=self.operator.text(),
            second_checker=self.checker.text(),
            lot=self.lot.text(),
            expiry_on=from_qdate(expiry) if expiry is not None else None,
            needle=self.needle.text(),
            location_method=self.location.currentData() or "",
            aspirated_ml=read_number(self.aspirated) if self.kind is FillKind.REFILL else None,
            residual_left_ml=read_number(self.residual_left) or 0.0,
            notes=self.notes.toPlainText(),
            explanation=Explanation(explanation) if explanation else None,
            explanation_note=self.explanation_note.text(),
            confirm_over_max=self.over_max.isChecked(),
            over_max_reason=self.over_max_reason.text(),
            post_refill_volume_ml=(
                read_number(self.post_refill) if self.kind is FillKind.REFILL else None
            ),
            observation_started=self.observation.isChecked(),
        )

    def show_preview(self, preview: FillPreview) -> None:
        """Expected residual, discrepancy and flag before saving; the new dates after the fill."""
        lines: list[str] = []
        if preview.previous_fill_at is not None:
            lines.append(
                self.tr("Last fill %1 with %2 mL.")
                .replace("%1", format_datetime(preview.previous_fill_at))
                .replace("%2", number(preview.previous_volume_ml))
            )
        if preview.expected_residual_ml is not None:
            lines.append(
                self.tr("Expected residual now: %1 mL (nominal flow).").replace(
                    "%1", number(preview.expected_residual_ml)
                )
            )
        rec = preview.reconciliation
        if rec is not None:
            lines.append(
                self.tr("Discrepancy: %1 mL · actual flow %2 mL/day · flow error %3 %")
                .replace("%1", number(rec.discrepancy_ml))
                .replace("%2", number(rec.actual_flow, 3))
                .replace("%3", number(rec.flow_error_pct, 1))
            )
        check = preview.check
        if check is not None:
            lines.append(
                self.tr("Volume after fill %1 mL · effective %2 %3 · daily dose %4 %5")
                .replace("%1", number(check.volume_after_fill_ml))
                .replace("%2", number(check.effective_concentration, 3))
                .replace("%3", check.concentration_unit)
                .replace("%4", number(check.effective_daily_dose, 3))
                .replace("%5", check.dose_unit)
            )
        self.preview_label.setText(
            "\n".join(lines) or self.tr("Enter the volumes to see the check.")
        )
        if rec is not None and rec.flagged:
            self.flag_label.setText(
                self.tr("⚠ FLAGGED — choose an explanation before saving.\n")
                + "\n".join(f"• {reason}" for reason in rec.reasons)
            )
            self.flag_label.setStyleSheet(FLAG_STYLE)
            self.flag_label.setVisible(True)
        elif rec is not None:
            self.flag_label.setText(self.tr("✓ Residual within the expected range."))
            self.flag_label.setStyleSheet(OK_STYLE)
            self.flag_label.setVisible(True)
        else:
            self.flag_label.setVisible(False)
        self._show_pocket_fill(preview)
        projection = preview.projection
        if projection is None:
            self.result_label.setText("")
            return
        mark = " †" if projection.unverified else ""
        text = (
            self.tr(
                "After this fill: next refill due %1%2 · empty by %3 (worst case), %4 (nominal)"
            )
            .replace("%1", format_datetime(projection.due_at))
            .replace("%2", mark)
            .replace("%3", format_datetime(projection.empty_by_worst_case))
            .replace("%4", format_datetime(projection.empty_by_nominal))
        )
        warnings = [*(check.warnings if check else ()), *projection.warnings]
        if warnings:
            text += "\n" + "\n".join(f"⚠ {w}" for w in warnings)
        self.result_label.setText(text)

    def _show_pocket_fill(self, preview: FillPreview) -> None:
        """The pocket-fill alert with the observation prompt (domain.md §9 item 8), or the
        all-clear once a measurement is entered and checks out."""
        label = self.pocket_label
        observe = self.tr(
            "Post-refill observation: keep the patient under observation as the clinical "
            "situation requires before they leave."
        )
        alert = preview.pocket_fill_alert
        measured = self.kind is FillKind.REFILL and bool(self.post_refill.text().strip())
        # An all-clear needs volumes the service could compare (the errors show on saving).
        unusable = {"post_refill_volume_ml", "added_ml", "residual_left_ml"} & set(preview.errors)
        if alert is not None:
            text = (
                self.tr("⚠ POSSIBLE POCKET FILL — confirm the observation below before saving.")
                + f"\n• {alert}\n• {observe}"
            )
            style = FLAG_STYLE
        elif measured and not unusable:
            text = (
                self.tr(
                    "✓ No pocket-fill alert: the volume measured after the refill is "
                    "within the threshold."
                )
                + f"\n{observe}"
            )
            style = OK_STYLE
        else:
            text, style = "", ""
        label.setText(text)
        label.setStyleSheet(style)
        label.setAccessibleDescription(text)
        label.setVisible(bool(text))
        self.observation.setVisible(alert is not None)
        if alert is None:
            # A confirmation belongs to the alert it answered; a new alert asks again.
            self.observation.setChecked(False)
            if "observation_started" in self.errors:
                show_error(self.errors["observation_started"], None)

    def show_errors(self, errors: dict[str, str]) -> None:
        self.clear_errors()
        aliases = {"refilled_at": "filled_at", "last_filled_at": "filled_at"}
        leftovers: list[str] = []
        for key, message in errors.items():
            label = self.errors.get(aliases.get(key, key))
            if label is None:
                leftovers.append(message)
            else:
                show_error(label, message)
        show_error(self.form_error, "\n".join(leftovers) or None)
        wrong = {aliases.get(key, key) for key in errors}
        first = next((key for key in self.fields if key in wrong), None)
        if first is not None:
            self.fields[first].setFocus()

    def clear_errors(self) -> None:
        for label in self.errors.values():
            show_error(label, None)
        show_error(self.form_error, None)


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class RefillDialog(QDialog):
    """Record a refill, or, with ``correcting``, a corrected version of the latest fill.

    ``expected_version`` is the pump version the caller showed; without it the dialog reads
    the version as it opens, before its first preview, so the save is refused if anything
    changed the pump after what the dialog showed.

    Attributes:
        fill_id: the new fill's id after a successful save.
    """

    def __init__(
        self,
        ctx: ServiceContext,
        pump: PumpView,
        parent: QWidget | None = None,
        correcting: FillView | None = None,
        *,
        expected_version: int | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._pump = pump
        self._correcting = correcting
        self._expected_version = (
            expected_version if expected_version is not None else pump_version(ctx, pump.episode_id)
        )
        self.fill_id: int | None = None
        named(self, names.REFILL_DIALOG, self.tr("Refill"))
        self.setWindowTitle(self.tr("Correct a fill") if correcting else self.tr("Record a refill"))
        self.setMinimumWidth(620)
        kind = FillKind(correcting.kind) if correcting else FillKind.REFILL
        previous = pump.latest_fill
        self.form = FillForm(ctx, kind, previous)
        if correcting is not None:
            self._load(correcting)
        self.reason = named(
            QLineEdit(), names.REFILL_CORRECTION_REASON_EDIT, self.tr("Reason for the correction")
        )
        self.reason_error = error_label(names.REFILL_CORRECTION_REASON_ERROR)
        header = QLabel(
            self.tr("%1 · serial %2 · %3 mL at %4 mL/day")
            .replace("%1", pump.model_name)
            .replace("%2", pump.serial)
            .replace("%3", number(pump.reservoir_ml))
            .replace("%4", number(pump.nominal_flow_ml_per_day, 3))
        )
        header.setWordWrap(True)
        header.setStyleSheet("font-weight: bold;")
        buttons = dialog_buttons(
            self,
            self.tr("&Save correction") if correcting else self.tr("&Save refill"),
            names.REFILL_SAVE_BUTTON,
            names.REFILL_CANCEL_BUTTON,
        )
        self.save_button = buttons.buttons()[0]
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        order = self.form.tab_order()
        reason_row = QWidget()
        box = QHBoxLayout(reason_row)
        box.setContentsMargins(0, 0, 0, 0)
        reason_label = QLabel(self.tr("&Reason for correction:"))
        reason_label.setBuddy(self.reason)
        box.addWidget(reason_label)
        box.addWidget(self.reason, 1)
        layout.addWidget(reason_row)
        layout.addWidget(self.reason_error)
        # The row exists in both modes so automation finds the same widgets; it only shows
        # when a fill is being corrected.
        reason_row.setVisible(correcting is not None)
        if correcting is not None:
            order = [self.reason, *order]
        self._scroll = _scrolling(self.form)
        layout.addWidget(self._scroll, 1)
        layout.addWidget(buttons)
        for first, second in itertools.pairwise([*order, *buttons.buttons()]):
            QWidget.setTabOrder(first, second)
        self.form._timer.timeout.connect(self.update_preview)
        self.update_preview()
        order[0].setFocus()
        self.resize(660, 760)

    def _load(self, fill: FillView) -> None:
        form = self.form
        form.filled_at.setDateTime(to_qdatetime(fill.filled_at))
        _set_number(form.aspirated, fill.aspirated_ml)
        _set_number(form.residual_left, fill.residual_left_ml)
        _set_number(form.added, fill.added_ml)
        form.drug.setCurrentIndex(max(0, form.drug.findData(fill.drug_key)))
        _set_number(form.concentration, fill.concentration)
        form.unit.setCurrentIndex(max(0, form.unit.findData(fill.concentration_unit)))
        form.lot.setText(fill.lot)
        if fill.expiry_on is not None:
            form.expiry.setDate(to_qdate(fill.expiry_on))
        form.operator.setText(fill.operator)
        form.checker.setText(fill.second_checker)
        form.needle.setText(fill.needle)
        form.location.setCurrentIndex(max(0, form.location.findData(fill.location_method)))
        form.notes.setPlainText(fill.notes)
        if fill.explanation:
            form.explanation.setCurrentIndex(max(0, form.explanation.findData(fill.explanation)))
        form.explanation_note.setText(fill.explanation_note)
        if fill.over_max_reason:
            form.over_max.setChecked(True)
            form.over_max_reason.setText(fill.over_max_reason)
        _set_number(form.post_refill, fill.post_refill_volume_ml)
        # Observation was confirmed when this fill was saved with its alert; correcting the
        # same refill does not start a new one.
        form.observation.setChecked(fill.pocket_fill_alert is not None)

    @Slot()
    def update_preview(self) -> None:
        try:
            if self._correcting is not None:
                preview = preview_correction(self._ctx, self._correcting.id, self.form.draft())
            else:
                preview = preview_refill(self._ctx, self._pump.episode_id, self.form.draft())
        except DomainError as exc:
            show_error(self.form.form_error, str(exc))
            return
        self.form.show_preview(preview)

    @Slot()
    def _save(self) -> None:
        self.form.clear_errors()
        show_error(self.reason_error, None)
        try:
            if self._correcting is not None:
                self.fill_id = correct_fill(
                    self._ctx,
                    self._correcting.id,
                    self.form.draft(),
                    self.reason.text(),
                    expected_version=self._expected_version,
                )
            else:
                self.fill_id = record_refill(
                    self._ctx,
                    self._pump.episode_id,
                    self.form.draft(),
                    expected_version=self._expected_version,
                )
        except ValidationError as exc:
            errors = dict(exc.field_errors)
            if "correction_reason" in errors:
                show_error(self.reason_error, errors.pop("correction_reason"))
            self.update_preview()
            self.form.show_errors(errors)
            focused = self.focusWidget()
            if focused is not None and self.form.isAncestorOf(focused):
                self._scroll.ensureWidgetVisible(focused)
            return
        except DomainError as exc:
            # The label sits under the last field; a nurse who saved from the top of the
            # form would otherwise not see why nothing happened.
            show_error(self.form.form_error, str(exc))
            self._scroll.ensureWidgetVisible(self.form.form_error)
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        pump: PumpView,
        parent: QWidget | None = None,
        correcting: FillView | None = None,
        *,
        expected_version: int | None = None,
    ) -> int | None:
        """Show the dialog; return the new fill's id, or None when cancelled."""
        dialog = cls(ctx, pump, parent, correcting, expected_version=expected_version)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            return dialog.fill_id
        return None


class ImplantDialog(QDialog):
    """Record the implanted pump from the procedure record, with its initial fill.

    Attributes:
        pump_id: the new pump's id after a successful save.
    """

    # The service that saves (issue 5: the procedure page saves through the procedure service,
    # which checks the readiness gate and then calls record_implant in the same transaction).
    record = staticmethod(record_implant)

    def __init__(
        self,
        ctx: ServiceContext,
        episode_id: int,
        model_key: str,
        drug_key: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id = episode_id
        self.pump_id: int | None = None
        named(self, names.IMPLANT_DIALOG, self.tr("Implant and initial fill"))
        self.setWindowTitle(self.tr("Record implant and initial fill"))
        self.setMinimumWidth(620)
        self.model = named(QComboBox(), names.IMPLANT_MODEL_COMBO, self.tr("Pump model"))
        for key, pump in sorted(ctx.catalogue.pumps.items(), key=lambda kv: kv[1].name):
            self.model.addItem(pump.name, key)
        self.model.setCurrentIndex(max(0, self.model.findData(model_key)))
        self.serial = named(QLineEdit(), names.IMPLANT_SERIAL_EDIT, self.tr("Serial number"))
        self.serial.setMaxLength(64)
        self.reservoir = _number_edit(names.IMPLANT_RESERVOIR_EDIT, self.tr("Reservoir, mL"))
        self.flow = _number_edit(names.IMPLANT_FLOW_EDIT, self.tr("Nominal flow, mL/day"))
        self.from_label = named(
            QCheckBox(self.tr("Reservoir and flow read on the implanted pump's &label")),
            names.IMPLANT_FROM_LABEL_CHECK,
            self.tr("Values read on the device label"),
        )
        self.catheter = _number_edit(names.IMPLANT_CATHETER_EDIT, self.tr("Catheter volume, mL"))
        self.catalogue_note = QLabel()
        self.catalogue_note.setWordWrap(True)
        self.form = FillForm(ctx, FillKind.INITIAL, None, implant_names=True)
        self.form.drug.setCurrentIndex(max(0, self.form.drug.findData(drug_key)))
        drug = ctx.catalogue.drugs.get(drug_key)
        if drug is not None:
            self.form.unit.setCurrentIndex(max(0, self.form.unit.findData(drug.concentration_unit)))
        self.errors = {
            "model_key": error_label(names.IMPLANT_MODEL_ERROR),
            "serial": error_label(names.IMPLANT_SERIAL_ERROR),
            "reservoir_ml": error_label(names.IMPLANT_RESERVOIR_ERROR),
            "nominal_flow_ml_per_day": error_label(names.IMPLANT_FLOW_ERROR),
            "catheter_volume_ml": error_label(names.IMPLANT_CATHETER_ERROR),
        }
        self.fields: dict[str, QWidget] = {
            "model_key": self.model,
            "serial": self.serial,
            "reservoir_ml": self.reservoir,
            "nominal_flow_ml_per_day": self.flow,
            "catheter_volume_ml": self.catheter,
        }
        labels = {
            "model_key": self.tr("Pump &model:"),
            "serial": self.tr("&Serial number:"),
            "reservoir_ml": self.tr("&Reservoir (mL):"),
            "nominal_flow_ml_per_day": self.tr("Nominal &flow (mL/day):"),
            "catheter_volume_ml": self.tr("Cat&heter volume (mL, optional):"),
        }
        pump_box = QGroupBox(self.tr("Implanted pump"))
        pump_form = QFormLayout(pump_box)
        for key, widget in self.fields.items():
            label = QLabel(labels[key])
            label.setBuddy(widget)
            pump_form.addRow(label, widget)
            pump_form.addRow("", self.errors[key])
            if key == "nominal_flow_ml_per_day":
                pump_form.addRow("", self.from_label)
        pump_form.addRow(self.catalogue_note)
        fill_box = QGroupBox(self.tr("Initial fill"))
        QVBoxLayout(fill_box).addWidget(self.form)
        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.addWidget(pump_box)
        content_layout.addWidget(fill_box)
        buttons = dialog_buttons(
            self, self.tr("&Save implant"), names.IMPLANT_SAVE_BUTTON, names.IMPLANT_CANCEL_BUTTON
        )
        buttons.accepted.connect(self._save)
        layout = QVBoxLayout(self)
        layout.addWidget(_scrolling(content), 1)
        layout.addWidget(buttons)
        order = [*self.fields.values(), self.from_label, *self.form.tab_order(), *buttons.buttons()]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)
        self.model.currentIndexChanged.connect(self._model_changed)
        for widget in (self.reservoir, self.flow):
            widget.textChanged.connect(self.form.changed)
        self.form._timer.timeout.connect(self.update_preview)
        self._model_changed()
        self.serial.setFocus()
        self.resize(680, 820)

    @Slot()
    def _model_changed(self) -> None:
        model = self._ctx.catalogue.pumps.get(self.model.currentData() or "")
        if model is None:
            return
        _set_number(self.reservoir, model.reservoir_ml)
        _set_number(self.flow, model.nominal_flow_ml_per_day)
        unverified = sorted(model.unverified)
        note = (
            self.tr("Catalogue: tolerance %1 %, reserve %2 mL.")
            .replace("%1", number(model.flow_tolerance_pct))
            .replace("%2", number(model.reserve_ml))
        )
        if unverified:
            note += " " + self.tr("Unverified defaults: %1 — confirm on the device label.").replace(
                "%1", ", ".join(unverified)
            )
        if model.nominal_flow_ml_per_day is None or model.reservoir_ml is None:
            note += " " + self.tr("Missing values must be read on the implanted pump's label.")
        self.catalogue_note.setText(note)
        self.form.changed()

    def draft(self) -> ImplantDraft:
        fill = self.form.draft()
        return ImplantDraft(
            episode_id=self._episode_id,
            model_key=self.model.currentData() or "",
            serial=self.serial.text(),
            reservoir_ml=read_number(self.reservoir),
            nominal_flow_ml_per_day=read_number(self.flow),
            read_from_label=self.from_label.isChecked(),
            implanted_at=fill.filled_at,
            fill=fill,
            catheter_volume_ml=read_number(self.catheter),
        )

    @Slot()
    def update_preview(self) -> None:
        try:
            self.form.show_preview(preview_implant(self._ctx, self.draft()))
        except DomainError as exc:
            show_error(self.form.form_error, str(exc))

    @Slot()
    def _save(self) -> None:
        for label in self.errors.values():
            show_error(label, None)
        self.form.clear_errors()
        try:
            self.pump_id = self.record(self._ctx, self.draft())
        except ValidationError as exc:
            errors = dict(exc.field_errors)
            if "implanted_at" in errors:
                errors.setdefault("filled_at", errors.pop("implanted_at"))
            for key in list(errors):
                if key in self.errors:
                    show_error(self.errors[key], errors.pop(key))
            self.form.show_errors(errors)
            first = next((k for k in exc.field_errors if k in self.fields), None)
            if first is not None:
                self.fields[first].setFocus()
            return
        except DomainError as exc:
            show_error(self.form.form_error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        episode_id: int,
        model_key: str,
        drug_key: str,
        parent: QWidget | None = None,
    ) -> int | None:
        """Show the dialog; return the new pump's id, or None when cancelled."""
        dialog = cls(ctx, episode_id, model_key, drug_key, parent)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            return dialog.pump_id
        return None


class ExposureDialog(QDialog):
    """Log a fever, heat, altitude or diving exposure; the refill date is re-projected.

    ``expected_version``: as for `RefillDialog` (read as the dialog opens when not given; an
    episode without a pump has none, and its exposure is saved unchecked).
    """

    def __init__(
        self,
        ctx: ServiceContext,
        episode_id: int,
        parent: QWidget | None = None,
        *,
        expected_version: int | None = None,
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self._episode_id = episode_id
        self._expected_version = (
            expected_version if expected_version is not None else pump_version(ctx, episode_id)
        )
        self.exposure_id: int | None = None
        named(self, names.EXPOSURE_DIALOG, self.tr("Exposure"))
        self.setWindowTitle(self.tr("Log an exposure"))
        self.setMinimumWidth(480)
        self.kind = named(QComboBox(), names.EXPOSURE_KIND_COMBO, self.tr("Kind of exposure"))
        self.kind.addItem("", None)
        for kind in ExposureKind:
            self.kind.addItem(self.tr(kind.label), kind.value)
        self.start: QDateEdit = blank_date_edit(names.EXPOSURE_START_EDIT, self.tr("Start"))
        self.start.setDate(to_qdate(ctx.today()))
        self.end: QDateEdit = blank_date_edit(names.EXPOSURE_END_EDIT, self.tr("End"))
        self.note = named(QLineEdit(), names.EXPOSURE_NOTE_EDIT, self.tr("Note"))
        self.errors = {
            "kind": error_label(names.EXPOSURE_KIND_ERROR),
            "started_on": error_label(names.EXPOSURE_START_ERROR),
            "ended_on": error_label(names.EXPOSURE_END_ERROR),
        }
        self.form_error = error_label(names.EXPOSURE_FORM_ERROR)
        form = QFormLayout()
        for text, widget, key in (
            (self.tr("&Kind:"), self.kind, "kind"),
            (self.tr("&Start:"), self.start, "started_on"),
            (self.tr("&End (blank if ongoing):"), self.end, "ended_on"),
            (self.tr("&Note:"), self.note, None),
        ):
            label = QLabel(text)
            label.setBuddy(widget)
            form.addRow(label, widget)
            if key:
                form.addRow("", self.errors[key])
        buttons = dialog_buttons(
            self, self.tr("&Log exposure"), names.EXPOSURE_SAVE_BUTTON, names.EXPOSURE_CANCEL_BUTTON
        )
        buttons.accepted.connect(self._save)
        intro = QLabel(
            self.tr(
                "Fever, heat and altitude speed a constant-flow pump up: the refill date is "
                "brought forward by the pump's exposure factor, or a warning is shown when the "
                "factor is not known. Diving or hyperbaric pressure slows it down."
            )
        )
        intro.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(buttons)
        order = [self.kind, self.start, self.end, self.note, *buttons.buttons()]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)
        self.kind.setFocus()

    @Slot()
    def _save(self) -> None:
        for label in (*self.errors.values(), self.form_error):
            show_error(label, None)
        start, end = date_or_none(self.start), date_or_none(self.end)
        try:
            self.exposure_id = log_exposure(
                self._ctx,
                ExposureDraft(
                    episode_id=self._episode_id,
                    kind=self.kind.currentData() or "",
                    started_on=from_qdate(start) if start else None,
                    ended_on=from_qdate(end) if end else None,
                    note=self.note.text(),
                ),
                expected_version=self._expected_version,
            )
        except ValidationError as exc:
            for key, message in exc.field_errors.items():
                show_error(self.errors.get(key, self.form_error), message)
            return
        except DomainError as exc:
            show_error(self.form_error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        episode_id: int,
        parent: QWidget | None = None,
        *,
        expected_version: int | None = None,
    ) -> bool:
        """Show the dialog; True when an exposure was logged."""
        dialog = cls(ctx, episode_id, parent, expected_version=expected_version)
        return dialog.exec() == QDialog.DialogCode.Accepted
