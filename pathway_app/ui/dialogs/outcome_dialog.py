"""The outcome entry dialog (issue 10): record or correct one assessment. It validates through
the outcome service on save and shows every problem next to its field; nothing is written while
anything is wrong. ``ask`` is the classmethod tests can patch."""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QWidget,
)

from pathway_app.domain.errors import ValidationError
from pathway_app.domain.outcomes import (
    ASHWORTH_GRADES,
    PAIN_LOINC,
    SIDE_EFFECTS,
    OralDose,
    OutcomeDraft,
)
from pathway_app.services.context import ServiceContext
from pathway_app.services.outcomes import OutcomeEntryView, correct_outcome, record_outcome
from pathway_app.ui import object_names as names
from pathway_app.ui.common import named, tr
from pathway_app.ui.dialogs.followup_dialogs import FormDialog, _date_edit, _text_edit, read_date

ORAL_ROWS = 3
_ORAL_NAMES = (
    (names.OUTCOME_ORAL_DRUG_COMBO_0, names.OUTCOME_ORAL_AMOUNT_EDIT_0, names.OUTCOME_ORAL_ERROR_0),
    (names.OUTCOME_ORAL_DRUG_COMBO_1, names.OUTCOME_ORAL_AMOUNT_EDIT_1, names.OUTCOME_ORAL_ERROR_1),
    (names.OUTCOME_ORAL_DRUG_COMBO_2, names.OUTCOME_ORAL_AMOUNT_EDIT_2, names.OUTCOME_ORAL_ERROR_2),
)


def kind_text(kind: str) -> str:
    return {
        "baseline": tr("Outcomes", "Baseline"),
        "follow-up": tr("Outcomes", "Follow-up visit"),
        "refill": tr("Outcomes", "Refill visit"),
    }.get(kind, kind)


def side_effect_text(key: str) -> str:
    return tr("Outcomes", dict(SIDE_EFFECTS).get(key, key))


def _parse_amount(text: str) -> float | None:
    """The amount as typed (a comma accepted as the decimal mark); raises ValueError."""
    cleaned = text.strip().replace(",", ".")
    return float(cleaned) if cleaned else None


class OutcomeDialog(FormDialog):
    """Record a new entry, or correct ``existing`` (then a reason is required)."""

    def __init__(
        self,
        ctx: ServiceContext,
        episode_id: int,
        score_kind: str,
        existing: OutcomeEntryView | None = None,
        *,
        has_baseline: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(
            ctx,
            parent,
            object_name=names.OUTCOME_DIALOG,
            title=tr("Outcomes", "Correct outcome entry")
            if existing
            else tr("Outcomes", "Record outcome"),
            intro=tr(
                "Outcomes",
                "Scores as the patient reports them today. Oral opioids are converted to oral "
                "morphine milligram equivalents (MME) with the clinic's table; factors not yet "
                "confirmed by the clinic are marked unverified.",
            ),
            form_error=names.OUTCOME_FORM_ERROR,
        )
        self._episode_id = episode_id
        self._existing = existing
        self.setMinimumWidth(700)
        self.date = _date_edit(
            names.OUTCOME_DATE_EDIT,
            self.tr("Assessment date"),
            existing.assessed_on if existing else ctx.today(),
        )
        self.field("assessed_on", self.tr("&Date:"), self.date, names.OUTCOME_DATE_ERROR)
        self.kind = named(QComboBox(), names.OUTCOME_KIND_COMBO, self.tr("Kind of assessment"))
        for key in ("baseline", "follow-up", "refill"):
            self.kind.addItem(kind_text(key), key)
        default = "follow-up" if has_baseline else "baseline"
        self.kind.setCurrentIndex(self.kind.findData(existing.kind if existing else default))
        self.field("kind", self.tr("&Kind:"), self.kind, names.OUTCOME_KIND_ERROR)
        self.pain = named(QComboBox(), names.OUTCOME_PAIN_COMBO, self.tr("Pain score 0 to 10"))
        self.pain.addItem(self.tr("not recorded"), None)
        for value in range(11):
            self.pain.addItem(str(value), value)
        self.pain.setToolTip(self.tr("Numeric rating scale, LOINC %1").replace("%1", PAIN_LOINC))
        self.field(
            "pain_nrs",
            self.tr("&Pain (NRS 0–10) *:")
            if score_kind == "pain"
            else self.tr("&Pain (NRS 0–10):"),
            self.pain,
            names.OUTCOME_PAIN_ERROR,
        )
        self.ashworth = named(
            QComboBox(), names.OUTCOME_ASHWORTH_COMBO, self.tr("Modified Ashworth grade")
        )
        self.ashworth.addItem(self.tr("not recorded"), None)
        for grade in ASHWORTH_GRADES:
            self.ashworth.addItem(grade, grade)
        self.field(
            "ashworth",
            self.tr("&Spasticity (Ashworth) *:")
            if score_kind == "spasticity"
            else self.tr("&Spasticity (Ashworth):"),
            self.ashworth,
            names.OUTCOME_ASHWORTH_ERROR,
        )
        self.function_text = named(
            QLineEdit(), names.OUTCOME_FUNCTION_EDIT, self.tr("Daily function in a few words")
        )
        self.function_text.setPlaceholderText(self.tr("e.g. walks to the shop, sleeps through"))
        self.field(
            "function_text",
            self.tr("Daily &function:"),
            self.function_text,
            names.OUTCOME_FUNCTION_ERROR,
        )
        self.function_score = named(
            QComboBox(), names.OUTCOME_FUNCTION_SCORE_COMBO, self.tr("Function rating 0 to 10")
        )
        self.function_score.addItem(self.tr("not recorded"), None)
        self.function_score.setToolTip(self.tr("0 = worst, 10 = best"))
        for value in range(11):
            self.function_score.addItem(str(value), value)
        self.field(
            "function_score",
            self.tr("Function &rating (0–10):"),
            self.function_score,
            names.OUTCOME_FUNCTION_SCORE_ERROR,
        )
        self.oral_drugs: list[QComboBox] = []
        self.oral_amounts: list[QLineEdit] = []
        self.oral_units: list[QLabel] = []
        for index, (combo_name, amount_name, error_name) in enumerate(_ORAL_NAMES):
            number = str(index + 1)
            combo = named(QComboBox(), combo_name, self.tr("Oral opioid %1").replace("%1", number))
            combo.addItem(self.tr("none"), "")
            for factor in ctx.outcomes.oral.values():
                text = factor.name + ("" if factor.verified else self.tr(" (unverified factor)"))
                if factor.factor is None:
                    text = factor.name + self.tr(" (no factor set)")
                combo.addItem(text, factor.key)
                combo.setItemData(combo.count() - 1, factor.source, Qt.ItemDataRole.ToolTipRole)
            amount = named(
                QLineEdit(),
                amount_name,
                self.tr("Oral opioid %1 daily amount").replace("%1", number),
            )
            amount.setMaximumWidth(90)
            unit = QLabel("")
            unit.setMinimumWidth(60)
            row = QWidget()
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            box.addWidget(combo, 1)
            box.addWidget(amount)
            box.addWidget(unit)
            combo.currentIndexChanged.connect(lambda _i, c=combo, u=unit: self._unit(c, u))
            self.field(
                f"oral.{index}",
                (self.tr("&Oral opioid %1:") if index == 0 else self.tr("Oral opioid %1:")).replace(
                    "%1", number
                ),
                row,
                error_name,
            )
            # The row's label is the combo's buddy; tab order goes combo → amount.
            label = self.form.labelForField(row)
            if isinstance(label, QLabel):
                label.setBuddy(combo)
            self._order[-1] = combo
            self._order.append(amount)
            self.oral_drugs.append(combo)
            self.oral_amounts.append(amount)
            self.oral_units.append(unit)
        self.side_effects = named(
            QListWidget(), names.OUTCOME_SIDE_EFFECTS_LIST, self.tr("Side effects")
        )
        for key, _name in SIDE_EFFECTS:
            item = QListWidgetItem(side_effect_text(key))
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.side_effects.addItem(item)
        self.side_effects.setFlow(QListWidget.Flow.LeftToRight)
        self.side_effects.setWrapping(True)
        self.side_effects.setFixedHeight(self.side_effects.sizeHintForRow(0) * 3 + 12)
        self.side_effects.itemActivated.connect(self._toggle)
        self.field(
            "side_effects",
            self.tr("Side &effects:"),
            self.side_effects,
            names.OUTCOME_SIDE_EFFECTS_ERROR,
        )
        self.other = named(
            QLineEdit(), names.OUTCOME_SIDE_EFFECT_OTHER_EDIT, self.tr("Other side effect")
        )
        self.field(
            "side_effect_other",
            self.tr("O&ther side effect:"),
            self.other,
            names.OUTCOME_SIDE_EFFECT_OTHER_ERROR,
        )
        self.note = _text_edit(names.OUTCOME_NOTE_EDIT, self.tr("Note"), 48)
        self.field("note", self.tr("&Note:"), self.note, names.OUTCOME_NOTE_ERROR)
        self.reason: QLineEdit | None = None
        if existing is not None:
            self.reason = named(
                QLineEdit(), names.OUTCOME_REASON_EDIT, self.tr("Reason for correction")
            )
            self.field(
                "reason",
                self.tr("Reason for &correction:"),
                self.reason,
                names.OUTCOME_REASON_ERROR,
            )
            self._fill(existing)
        self.finish(self.tr("&Save"), names.OUTCOME_SAVE_BUTTON, names.OUTCOME_CANCEL_BUTTON)

    def _unit(self, combo: QComboBox, unit: QLabel) -> None:
        factor = self._ctx.outcomes.oral.get(combo.currentData() or "")
        unit.setText(factor.unit if factor else "")

    @Slot(QListWidgetItem)
    def _toggle(self, item: QListWidgetItem) -> None:
        checked = item.checkState() == Qt.CheckState.Checked
        item.setCheckState(Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked)

    def _fill(self, entry: OutcomeEntryView) -> None:
        self.pain.setCurrentIndex(max(0, self.pain.findData(entry.pain_nrs)))
        if entry.ashworth is not None:
            self.ashworth.setCurrentIndex(max(0, self.ashworth.findData(entry.ashworth)))
        self.function_text.setText(entry.function_text)
        if entry.function_score is not None:
            self.function_score.setCurrentIndex(
                max(0, self.function_score.findData(entry.function_score))
            )
        for index, dose in enumerate(entry.oral[:ORAL_ROWS]):
            self.oral_drugs[index].setCurrentIndex(
                max(0, self.oral_drugs[index].findData(dose.drug))
            )
            self.oral_amounts[index].setText(f"{dose.amount:g}")
        for row in range(self.side_effects.count()):
            item = self.side_effects.item(row)
            if item.data(Qt.ItemDataRole.UserRole) in entry.side_effects:
                item.setCheckState(Qt.CheckState.Checked)
        self.other.setText(entry.side_effect_other)
        self.note.setPlainText(entry.note)

    def draft(self) -> OutcomeDraft:
        """The entry as typed; an amount that is not a number is refused at its row."""
        errors: dict[str, str] = {}
        oral: list[OralDose] = []
        self._oral_rows: list[int] = []  # draft position -> dialog row (blank rows skipped)
        for index, (combo, amount) in enumerate(
            zip(self.oral_drugs, self.oral_amounts, strict=True)
        ):
            drug = combo.currentData() or ""
            try:
                value = _parse_amount(amount.text())
            except ValueError:
                errors[f"oral.{index}"] = self.tr("Enter the daily amount as a number.")
                continue
            if not drug:
                if value is not None:
                    errors[f"oral.{index}"] = self.tr("Choose the oral opioid for this amount.")
                continue
            oral.append(OralDose(drug, value))
            self._oral_rows.append(index)
        if errors:
            raise ValidationError(errors)
        checked = frozenset(
            self.side_effects.item(row).data(Qt.ItemDataRole.UserRole)
            for row in range(self.side_effects.count())
            if self.side_effects.item(row).checkState() == Qt.CheckState.Checked
        )
        return OutcomeDraft(
            assessed_on=read_date(self.date),
            kind=self.kind.currentData(),
            pain_nrs=self.pain.currentData(),
            ashworth=self.ashworth.currentData(),
            function_text=self.function_text.text(),
            function_score=self.function_score.currentData(),
            oral=tuple(oral),
            side_effects=checked,
            side_effect_other=self.other.text(),
            note=self.note.toPlainText(),
        )

    def save(self) -> None:
        draft = self.draft()
        try:
            self._write(draft)
        except ValidationError as exc:
            raise ValidationError(
                {self._row_key(key): message for key, message in exc.field_errors.items()}
            ) from None

    def _row_key(self, key: str) -> str:
        """The service numbers the oral opioids it was given; the dialog shows them by row."""
        if key.startswith("oral."):
            position = int(key.removeprefix("oral."))
            if position < len(self._oral_rows):
                return f"oral.{self._oral_rows[position]}"
        return key

    def _write(self, draft: OutcomeDraft) -> None:
        if self._existing is None:
            record_outcome(self._ctx, self._episode_id, draft)
        else:
            correct_outcome(
                self._ctx,
                self._existing.id,
                draft,
                expected_version=self._existing.version,
                reason=self.reason.text() if self.reason is not None else "",
            )

    @classmethod
    def ask(
        cls,
        ctx: ServiceContext,
        episode_id: int,
        score_kind: str,
        existing: OutcomeEntryView | None = None,
        *,
        has_baseline: bool = False,
        parent: QWidget | None = None,
    ) -> bool:
        return cls.run(
            cls(ctx, episode_id, score_kind, existing, has_baseline=has_baseline, parent=parent)
        )
