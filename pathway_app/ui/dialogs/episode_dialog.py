"""Open an episode of the pathway for a patient."""

from __future__ import annotations

import itertools

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pathway_app.domain.errors import DomainError, ValidationError
from pathway_app.domain.records import NAME_MAX_LENGTH, EpisodeDraft
from pathway_app.services.context import ServiceContext
from pathway_app.services.episodes import open_episode
from pathway_app.services.patients import find_patients
from pathway_app.ui import object_names as names
from pathway_app.ui.common import error_label, format_date, from_qdate, named, show_error
from pathway_app.ui.dialogs.patient_dialog import blank_date_edit, date_or_none


def _combo(object_name: str, accessible: str, items: list[tuple[str, object]]) -> QComboBox:
    combo = named(QComboBox(), object_name, accessible)
    combo.addItem("", None)
    for text, data in items:
        combo.addItem(text, data)
    return combo


class EpisodeDialog(QDialog):
    """Attributes:
    episode_id: the new episode's id after a successful save.
    """

    def __init__(
        self, ctx: ServiceContext, parent: QWidget | None = None, patient_id: int | None = None
    ) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.episode_id: int | None = None
        self.setWindowTitle(self.tr("Open an episode"))
        named(self, names.EPISODE_DIALOG, self.windowTitle())
        self.setMinimumWidth(560)

        patients = [p for p in find_patients(ctx) if not p.has_open_episode]
        self.patient = _combo(
            names.EPISODE_PATIENT_COMBO,
            self.tr("Patient"),
            [(f"{p.display_name} — {p.mrn} ({format_date(p.birth_date)})", p.id) for p in patients],
        )
        if patient_id is not None:
            index = self.patient.findData(patient_id)
            if index >= 0:
                self.patient.setCurrentIndex(index)
        template = ctx.template
        self.indication = _combo(
            names.EPISODE_INDICATION_COMBO,
            self.tr("Indication"),
            [(c.name, c.key) for c in template.indications],
        )
        self.drug = _combo(
            names.EPISODE_DRUG_COMBO,
            self.tr("Drug"),
            [
                (f"{d.name} ({d.concentration_unit})", key)
                for key, d in sorted(ctx.catalogue.drugs.items(), key=lambda kv: kv[1].name)
                if d.suitable_for_constant_flow
            ],
        )
        self.pump = _combo(
            names.EPISODE_PUMP_MODEL_COMBO,
            self.tr("Pump model"),
            [
                (self._pump_text(key), key)
                for key in sorted(ctx.catalogue.pumps, key=lambda k: ctx.catalogue.pumps[k].name)
            ],
        )
        self.planned = blank_date_edit(
            names.EPISODE_PLANNED_DATE_EDIT, self.tr("Planned procedure date")
        )
        self.surgeon = named(QLineEdit(), names.EPISODE_SURGEON_EDIT, self.tr("Surgeon"))
        self.surgeon.setMaxLength(NAME_MAX_LENGTH)
        self.setting = _combo(
            names.EPISODE_SETTING_COMBO,
            self.tr("Setting"),
            [(c.name, c.key) for c in template.settings],
        )
        self.errors = {
            "patient": error_label(names.EPISODE_PATIENT_ERROR),
            "indication": error_label(names.EPISODE_INDICATION_ERROR),
            "drug": error_label(names.EPISODE_DRUG_ERROR),
            "pump_model": error_label(names.EPISODE_PUMP_MODEL_ERROR),
            "planned_procedure_on": error_label(names.EPISODE_PLANNED_DATE_ERROR),
            "surgeon": error_label(names.EPISODE_SURGEON_ERROR),
            "setting": error_label(names.EPISODE_SETTING_ERROR),
        }
        # Issue 7: what the database refused (a lost connection, busy): nothing was saved and
        # everything typed stays, so Save can simply be pressed again.
        self.form_error = error_label(names.EPISODE_FORM_ERROR)
        self.fields: dict[str, QWidget] = {
            "patient": self.patient,
            "indication": self.indication,
            "drug": self.drug,
            "pump_model": self.pump,
            "planned_procedure_on": self.planned,
            "surgeon": self.surgeon,
            "setting": self.setting,
        }
        form = QFormLayout()
        labels = {
            "patient": self.tr("&Patient:"),
            "indication": self.tr("&Indication:"),
            "drug": self.tr("&Drug:"),
            "pump_model": self.tr("Pump &model:"),
            "planned_procedure_on": self.tr("Planned p&rocedure date:"),
            "surgeon": self.tr("&Surgeon:"),
            "setting": self.tr("Se&tting:"),
        }
        for key, field in self.fields.items():
            form.addRow(labels[key], field)
            form.addRow("", self.errors[key])

        buttons = QDialogButtonBox()
        self.save_button = named(
            buttons.addButton(self.tr("&Open episode"), QDialogButtonBox.ButtonRole.AcceptRole),
            names.EPISODE_SAVE_BUTTON,
            self.tr("Open episode"),
        )
        self.cancel_button = named(
            buttons.addButton(self.tr("Cancel"), QDialogButtonBox.ButtonRole.RejectRole),
            names.EPISODE_CANCEL_BUTTON,
            self.tr("Cancel"),
        )
        self.save_button.setDefault(True)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        intro = QLabel(
            self.tr(
                "Milestone dates are planned from the procedure date. Patients who already "
                "have an open episode are not listed."
            )
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.form_error)
        layout.addWidget(buttons)
        order = [*self.fields.values(), self.save_button, self.cancel_button]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)
        (self.indication if patient_id is not None else self.patient).setFocus()

    def _pump_text(self, key: str) -> str:
        pump = self._ctx.catalogue.pumps[key]
        parts = [pump.name]
        if pump.reservoir_ml is not None:
            parts.append(self.tr("%1 mL").replace("%1", f"{pump.reservoir_ml:g}"))
        if pump.nominal_flow_ml_per_day is not None:
            parts.append(self.tr("%1 mL/day").replace("%1", f"{pump.nominal_flow_ml_per_day:g}"))
        if pump.unverified:
            parts.append(self.tr("unverified defaults"))
        return " — ".join(parts)

    def draft(self) -> EpisodeDraft:
        planned = date_or_none(self.planned)
        return EpisodeDraft(
            patient_id=self.patient.currentData(),
            indication=self.indication.currentData() or "",
            drug=self.drug.currentData() or "",
            pump_model=self.pump.currentData() or "",
            planned_procedure_on=from_qdate(planned) if planned is not None else None,
            surgeon=self.surgeon.text(),
            setting=self.setting.currentData() or "",
        )

    @Slot()
    def _save(self) -> None:
        for label in (*self.errors.values(), self.form_error):
            show_error(label, None)
        try:
            self.episode_id = open_episode(self._ctx, self.draft())
        except ValidationError as exc:
            for field, message in exc.field_errors.items():
                show_error(self.errors.get(field, self.errors["patient"]), message)
            self.fields.get(next(iter(exc.field_errors)), self.patient).setFocus()
            return
        except DomainError as exc:
            show_error(self.form_error, str(exc))
            return
        self.accept()

    @classmethod
    def ask(
        cls, ctx: ServiceContext, parent: QWidget | None = None, patient_id: int | None = None
    ) -> int | None:
        """Show the dialog; return the new episode's id, or None when cancelled."""
        dialog = cls(ctx, parent, patient_id)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            return dialog.episode_id
        return None
