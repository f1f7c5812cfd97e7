"""Control characters in free text: every field the domain validates refuses them with a message
naming the field, before anything is written, on SQLite and on PostgreSQL.

Single-line fields refuse U+0000-U+001F and U+007F; multi-line fields (notes, reasons,
descriptions) keep line feeds, carriage returns and tabs and refuse the rest. Passwords keep
their own rule (only NUL is refused) and are checked here to stay that way.

The service tests at the end run on both back ends (`tests.pg_support.parametrise_backends`):
PostgreSQL would refuse a NUL only when the row is written, with no field named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from sqlalchemy import func, select

from pathway_app.app import load_configuration
from pathway_app.domain.catalogues import Catalogue
from pathway_app.domain.errors import ValidationError
from pathway_app.domain.followup import (
    FollowUpItem,
    FollowUpStatus,
    add_item,
    change_status,
    close_episode_reason,
    make_series,
)
from pathway_app.domain.outcomes import (
    OUTCOMES_FILE,
    OutcomeDraft,
    OutcomesConfig,
    load_outcomes,
    validate_outcome,
)
from pathway_app.domain.procedure import ProcedureDetails, validate_details, validate_pump_implant
from pathway_app.domain.readiness import (
    PreopTest,
    ScreeningTrial,
    apply_override,
    validate_preop_test,
    validate_trial,
)
from pathway_app.domain.records import (
    EpisodeDraft,
    PatientDraft,
    validate_episode,
    validate_patient,
    validate_reason,
)
from pathway_app.domain.recovery import (
    RECOVERY_FILE,
    Complication,
    MonitoringNote,
    RecoveryConfig,
    WoundCareInstruction,
    discharge_blockers,
    discharge_decision,
    load_recovery,
    urgent_items,
    validate_complication,
    validate_monitoring_note,
    validate_wound_care,
)
from pathway_app.domain.refill_records import (
    ExposureDraft,
    FillKind,
    ImplantDraft,
    validate_explanation,
    validate_exposure,
    validate_fill_fields,
    validate_implant_fields,
)
from pathway_app.domain.refills import Explanation
from pathway_app.domain.template import PathwayTemplate
from pathway_app.domain.text import (
    check_control_characters,
    clean_text,
    control_character_message,
    has_control_character,
    is_control_character,
)
from pathway_app.domain.users import UserDraft, validate_user
from pathway_app.resources import resource_path
from pathway_app.services.context import ServiceContext
from pathway_app.services.followup import add_followup
from pathway_app.services.milestones import mark_skipped
from pathway_app.services.patients import register_patient
from pathway_app.services.refills import record_refill
from pathway_app.storage.orm import AuditEntry, Fill, Milestone, Patient
from pathway_app.storage.orm_followup import FollowUpEntry
from tests.domain.test_procedure import PROCEDURE, SETTINGS
from tests.domain.test_procedure import implant as pump_implant
from tests.domain.test_readiness import CONFIG as READINESS
from tests.domain.test_readiness import check as readiness_of
from tests.domain.test_readiness import ready_preparation
from tests.domain.test_refills import refill
from tests.factories import morphine_fill
from tests.pg_support import parametrise_backends
from tests.services.test_refill_service import REFILL_AT, implant, make_episode

TODAY = date(2026, 11, 26)
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

C0 = [chr(code) for code in range(0x20)]
DEL = "\x7f"
LINE_BREAKS_AND_TAB = ["\n", "\r", "\t"]
REFUSED_IN_A_LINE = [*C0, DEL]
REFUSED_IN_NOTES = [ch for ch in REFUSED_IN_A_LINE if ch not in LINE_BREAKS_AND_TAB]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrise_backends(metafunc)


# --- what each validator needs besides the text under test -------------------------------------


@cache
def _configs() -> tuple[PathwayTemplate, Catalogue, RecoveryConfig, OutcomesConfig]:
    template, catalogue = load_configuration()
    return (
        template,
        catalogue,
        load_recovery(resource_path(RECOVERY_FILE)),
        load_outcomes(resource_path(OUTCOMES_FILE)),
    )


def _episode(surgeon: str) -> object:
    template, catalogue, _, _ = _configs()
    draft = EpisodeDraft(
        7,
        "noncancer-pain",
        "morphine",
        "isomed-8472-20-05",
        date(2027, 1, 12),
        surgeon,
        "hospital-or",
    )
    return validate_episode(
        draft,
        template,
        today=TODAY,
        known_drugs=set(catalogue.drugs),
        known_pump_models=set(catalogue.pumps),
        birth_date=date(1960, 5, 17),
    )


def _patient(**text: Any) -> object:
    draft = PatientDraft("MRN-001", "Müller", "Anna", date(1960, 5, 17))
    return validate_patient(replace(draft, **text), TODAY)


ITEM = FollowUpItem(purpose="Wound check", due_on=date(2026, 12, 8))


def _complication(**text: Any) -> object:
    _, _, recovery, _ = _configs()
    entry = Complication("other", date(2026, 11, 1), "mild", detail="Itch")
    return validate_complication(
        replace(entry, **text), operation_on=date(2026, 11, 1), today=TODAY, config=recovery
    )


def _discharge(reason: str) -> object:
    _, _, recovery, _ = _configs()
    return discharge_decision(discharge_blockers(recovery.discharge_checklist, set()), reason)


def _red_flags(note: str) -> object:
    _, _, recovery, _ = _configs()
    return urgent_items({recovery.red_flags[0].key}, NOW, recovery.red_flags, note)


def _outcome(**text: Any) -> object:
    _, _, _, outcomes = _configs()
    draft = OutcomeDraft(
        assessed_on=TODAY,
        kind="follow-up",
        pain_nrs=4,
        side_effects=frozenset({"other"}),
        side_effect_other="Dry mouth",
    )
    draft = replace(draft, **text)
    return validate_outcome(draft, outcomes, score_kind="pain", today=TODAY)


def _preop(**text: Any) -> object:
    test = PreopTest(
        PREOP_TEST.key,
        date(2026, 11, 20),
        date(2026, 11, 24),
        "fine",
        "Dr A",
        date(2026, 11, 25),
    )
    return validate_preop_test(replace(test, **text), TODAY, READINESS)


def _trial(**text: Any) -> object:
    trial = ScreeningTrial(date(2026, 10, 1), "Morphine", "1 mg", percent_relief=70)
    return validate_trial(replace(trial, **text), "noncancer-pain", TODAY, READINESS)


def _override(reason: str = "Consent on paper", by: str = "Dr B") -> object:
    return apply_override(readiness_of(ready_preparation(consent_on=None)), reason, by, NOW)


def _fill(**text: Any) -> dict[str, str]:
    errors = validate_fill_fields(morphine_fill(NOW, **text), NOW, kind=FillKind.INITIAL)
    if errors:
        raise ValidationError(errors)
    return errors


def _explanation(note: str) -> dict[str, str]:
    draft = morphine_fill(NOW, explanation=Explanation.OTHER, explanation_note=note)
    errors = validate_explanation(draft, flagged=True)
    if errors:
        raise ValidationError(errors)
    return errors


def _implant_serial(serial: str) -> dict[str, str]:
    draft = ImplantDraft(1, "isomed-8472-20-05", serial, None, None, False, NOW, morphine_fill(NOW))
    errors = validate_implant_fields(draft, NOW)
    if errors:
        raise ValidationError(errors)
    return errors


def _in_pump_implant(name: str) -> Callable[[str], object]:
    return lambda text: validate_pump_implant(pump_implant(**{name: text}), PROCEDURE)


def _in_fill(name: str) -> Callable[[str], object]:
    return lambda text: _fill(**{name: text})


def _user(**text: Any) -> object:
    draft = UserDraft("anna", "Anna Lee", "coordinator", "correct horse battery")
    return validate_user(replace(draft, **text))


@dataclass(frozen=True)
class Field:
    """One validated free-text field: ``call`` runs its validator with ``text`` in the field."""

    name: str
    field: str
    call: Callable[[str], object]
    multiline: bool
    label: str
    context: str = ""

    def errors(self, text: str) -> dict[str, str]:
        try:
            self.call(text)
        except ValidationError as exc:
            return exc.field_errors
        return {}


def line(
    name: str, field: str, call: Callable[[str], object], label: str, context: str = ""
) -> Field:
    return Field(name, field, call, multiline=False, label=label, context=context)


def note(
    name: str, field: str, call: Callable[[str], object], label: str, context: str = ""
) -> Field:
    return Field(name, field, call, multiline=True, label=label, context=context)


PREOP_TEST = READINESS.tests[0]
PHYSICIAN = next(r for r in PROCEDURE.roles if r.key == "implanting-physician")


FIELDS = [
    # records: patients, episodes, every reason that goes through validate_reason
    line("patient.mrn", "mrn", lambda t: _patient(mrn=t), "MRN"),
    line("patient.family_name", "family_name", lambda t: _patient(family_name=t), "family name"),
    line("patient.given_name", "given_name", lambda t: _patient(given_name=t), "given name"),
    line("episode.surgeon", "surgeon", _episode, "surgeon's name"),
    note("reason", "reason", validate_reason, "reason"),
    # follow-up
    line("followup.purpose", "purpose", lambda t: add_item(t, TODAY, today=TODAY), "purpose"),
    note(
        "followup.notes",
        "notes",
        lambda t: add_item("Call", TODAY, today=TODAY, notes=t),
        "note",
    ),
    line(
        "followup.series_purpose",
        "purpose",
        lambda t: make_series(t, TODAY, 6, series_id="s-1", count=2),
        "purpose",
    ),
    note(
        "followup.series_notes",
        "notes",
        lambda t: make_series("Pump check", TODAY, 6, series_id="s-1", count=2, notes=t),
        "note",
    ),
    note(
        "followup.cancel_reason",
        "cancel_reason",
        lambda t: change_status(ITEM, FollowUpStatus.CANCELLED, now=NOW, reason=t),
        "reason",
    ),
    note("episode.close_text", "text", lambda t: close_episode_reason("deceased", t), "reason"),
    # recovery: stay, wound care, complications, red flags, discharge
    line(
        "monitoring.author",
        "author",
        lambda t: validate_monitoring_note(
            MonitoringNote(NOW - timedelta(hours=1), t, "Dry"), admitted_at=None, now=NOW
        ),
        "author's name",
    ),
    note(
        "monitoring.text",
        "text",
        lambda t: validate_monitoring_note(
            MonitoringNote(NOW - timedelta(hours=1), "Nurse A", t), admitted_at=None, now=NOW
        ),
        "note",
    ),
    line(
        "wound_care.given_by",
        "given_by",
        lambda t: validate_wound_care(
            WoundCareInstruction(t, NOW - timedelta(hours=1)), operation_at=None, now=NOW
        ),
        "name of the person who gave the instructions",
    ),
    note(
        "wound_care.notes",
        "notes",
        lambda t: validate_wound_care(
            WoundCareInstruction("Nurse B", NOW - timedelta(hours=1), t), operation_at=None, now=NOW
        ),
        "note",
    ),
    note(
        "complication.action_taken",
        "action_taken",
        lambda t: _complication(action_taken=t),
        "action taken",
    ),
    note("complication.detail", "detail", lambda t: _complication(detail=t), "description"),
    note("red_flags.note", "note", _red_flags, "note"),
    note("discharge.override_reason", "override_reason", _discharge, "reason"),
    # outcomes
    line(
        "outcome.function_text",
        "function_text",
        lambda t: _outcome(function_text=t),
        "function description",
    ),
    line(
        "outcome.side_effect_other",
        "side_effect_other",
        lambda t: _outcome(side_effect_other=t),
        "other side effect",
    ),
    note("outcome.note", "note", lambda t: _outcome(note=t), "note"),
    # readiness: pre-operative tests, screening trial, override
    note("preop.result", "result", lambda t: _preop(result=t), "result", PREOP_TEST.name),
    line(
        "preop.reviewed_by",
        "reviewed_by",
        lambda t: _preop(reviewed_by=t),
        "reviewer's name",
        PREOP_TEST.name,
    ),
    line("trial.drug", "drug", lambda t: _trial(drug=t), "trial drug"),
    line("trial.dose", "dose", lambda t: _trial(dose=t), "trial dose"),
    note("override.reason", "override_reason", lambda t: _override(reason=t), "reason"),
    line(
        "override.by",
        "override_by",
        lambda t: _override(by=t),
        "name of the person who authorised it",
    ),
    # procedure: personnel and the pump record
    line(
        "procedure.personnel",
        "personnel.implanting-physician",
        lambda t: validate_details(
            ProcedureDetails(
                "monitored-local", "hospital-or", {"implanting-physician": ("Dr Smith", t)}
            ),
            PROCEDURE,
            SETTINGS,
        ),
        "name",
        PHYSICIAN.name,
    ),
    *(
        line(
            f"pump_implant.{name}",
            name,
            _in_pump_implant(name),
            label,
        )
        for name, label in (
            ("pump_model", "pump model"),
            ("serial", "serial number"),
            ("drug", "drug"),
            ("concentration_unit", "concentration unit"),
            ("catheter_tip_level", "catheter tip level"),
            ("fill_checked_by", "second checker's name"),
        )
    ),
    # refills: the fill form, the explanation, the implant, exposures, the refill check
    *(
        line(f"fill.{name}", name, _in_fill(name), label)
        for name, label in (
            ("operator", "operator's name"),
            ("second_checker", "second checker's name"),
            ("lot", "lot number"),
            ("needle", "needle type"),
            ("location_method", "location method"),
        )
    ),
    note("fill.notes", "notes", lambda t: _fill(notes=t), "note"),
    note("fill.explanation_note", "explanation_note", _explanation, "explanation"),
    line("implant.serial", "serial", _implant_serial, "serial number"),
    note(
        "exposure.note",
        "note",
        lambda t: validate_exposure(ExposureDraft(1, "heat", TODAY, None, t)),
        "note",
    ),
    line("refill.operator", "operator", lambda t: refill(operator=t), "operator's name"),
    line(
        "refill.second_checker",
        "second_checker",
        lambda t: refill(second_checker=t),
        "second checker's name",
    ),
    note(
        "refill.over_max_reason",
        "over_max_reason",
        lambda t: refill(nominal_flow_ml_per_day=1.0, confirm_over_max=True, over_max_reason=t),
        "reason",
    ),
    # users
    line("user.username", "username", lambda t: _user(username=t), "user name"),
    line("user.display_name", "display_name", lambda t: _user(display_name=t), "display name"),
]
SINGLE_LINE = [f for f in FIELDS if not f.multiline]
MULTI_LINE = [f for f in FIELDS if f.multiline]


def ids(field: Field) -> str:
    return field.name


# --- the helper ---------------------------------------------------------------------------------


def test_single_line_refuses_c0_and_del_and_nothing_else_below_u00a0() -> None:
    refused = [chr(c) for c in range(0xA0) if is_control_character(chr(c))]
    assert refused == REFUSED_IN_A_LINE


def test_multi_line_keeps_line_feed_carriage_return_and_tab() -> None:
    refused = [chr(c) for c in range(0xA0) if is_control_character(chr(c), multiline=True)]
    assert refused == REFUSED_IN_NOTES


@pytest.mark.parametrize(
    "text", ["Zoë Ørjan", "王秀英", "محمد", "🙂", "O'Brien-Łukasz", "\u200b", "\u0085", "\u00a0"]
)
def test_unicode_text_is_not_a_control_character(text: str) -> None:
    assert not has_control_character(text)
    assert not has_control_character(text, multiline=True)


def test_message_names_the_field_and_says_what_to_do() -> None:
    assert control_character_message("family name") == (
        "The family name contains a control character; remove it."
    )
    assert control_character_message("result", context="Blood count") == (
        "Blood count: the result contains a control character; remove it."
    )


def test_an_earlier_message_for_the_field_is_kept() -> None:
    errors = {"note": "Enter the note."}
    assert not check_control_characters(errors, "note", "a\x00b", "note")
    assert errors == {"note": "Enter the note."}


def test_clean_text_trims_and_reports_one_problem() -> None:
    errors: dict[str, str] = {}
    assert clean_text(errors, "lot", "  L-1 ", "lot number", 64, required=True) == "L-1"
    assert errors == {}
    clean_text(errors, "lot", "L\x00 1", "lot number", 64, required=True)
    clean_text(errors, "note", "a\nb\x1bc", "note", 2000, required=False, multiline=True)
    clean_text(errors, "ok", "a\r\nb\tc", "note", 2000, required=False, multiline=True)
    clean_text(errors, "gone", " ", "operator's name", 100, required=True)
    assert errors == {
        "lot": "The lot number contains a control character; remove it.",
        "note": "The note contains a control character; remove it.",
        "gone": "Enter the operator's name.",
    }


# --- every validated field ----------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS, ids=ids)
def test_the_field_accepts_plain_text(field: Field) -> None:
    assert field.field not in field.errors("Plain-1")


@pytest.mark.parametrize("field", FIELDS, ids=ids)
def test_a_nul_is_refused_with_a_message_naming_the_field(field: Field) -> None:
    expected = control_character_message(field.label, context=field.context)
    assert field.errors("Plain\x00-1").get(field.field) == expected


@pytest.mark.parametrize("field", FIELDS, ids=ids)
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_a_nul_anywhere_is_refused(field: Field, where: str) -> None:
    text = {"start": "\x00Plain-1", "middle": "Pla\x00in-1", "end": "Plain-1\x00"}[where]
    assert "control character" in field.errors(text).get(field.field, "")


@pytest.mark.parametrize("field", SINGLE_LINE, ids=ids)
def test_a_single_line_field_refuses_every_c0_character_and_del(field: Field) -> None:
    accepted = [
        f"U+{ord(ch):04X}"
        for ch in REFUSED_IN_A_LINE
        if "control character" not in field.errors(f"Pla{ch}in-1").get(field.field, "")
    ]
    assert accepted == []


@pytest.mark.parametrize("field", MULTI_LINE, ids=ids)
def test_a_multi_line_field_refuses_the_other_control_characters(field: Field) -> None:
    accepted = [
        f"U+{ord(ch):04X}"
        for ch in REFUSED_IN_NOTES
        if "control character" not in field.errors(f"Pla{ch}in-1").get(field.field, "")
    ]
    assert accepted == []


@pytest.mark.parametrize("field", MULTI_LINE, ids=ids)
@pytest.mark.parametrize("text", ["Line one\nline two", "Dose\t10 mg", "Line one\r\nline two"])
def test_a_multi_line_field_keeps_line_breaks_and_tabs(field: Field, text: str) -> None:
    assert field.field not in field.errors(text)


def test_a_multi_line_value_is_returned_as_typed() -> None:
    assert validate_reason(" Line one\r\nline\ttwo \n") == "Line one\r\nline\ttwo"


def test_a_trailing_newline_of_a_single_line_field_is_trimmed_as_before() -> None:
    assert validate_patient(
        PatientDraft("MRN-001\n", "Müller\r\n", "Anna\t", date(1960, 5, 17)), TODAY
    ) == PatientDraft("MRN-001", "Müller", "Anna", date(1960, 5, 17))


def test_side_effect_other_is_not_checked_when_other_is_not_ticked() -> None:
    _, _, _, outcomes = _configs()
    draft = OutcomeDraft(assessed_on=TODAY, kind="follow-up", pain_nrs=4, side_effect_other="a\x00")
    assert validate_outcome(draft, outcomes, score_kind="pain", today=TODAY).side_effect_other == ""


def test_a_preop_result_without_its_date_is_checked_too() -> None:
    test = PreopTest(PREOP_TEST.key, result="a\x00b")
    with pytest.raises(ValidationError) as info:
        validate_preop_test(test, TODAY, READINESS)
    assert "control character" in info.value.field_errors["result"]


# --- passwords keep their own rule --------------------------------------------------------------


def test_a_password_may_hold_control_characters_except_nul() -> None:
    for ch in [c for c in REFUSED_IN_A_LINE if c != "\x00"]:
        assert validate_user(
            UserDraft("anna", "", "coordinator", f"correct{ch}horse")
        ).password == (f"correct{ch}horse")
    with pytest.raises(ValidationError) as info:
        validate_user(UserDraft("anna", "", "coordinator", "correct\x00horse"))
    assert info.value.field_errors == {"password": "The password contains a control character."}


# --- services: refused before anything is written, on both back ends ----------------------------


def counts(ctx: ServiceContext) -> dict[str, int]:
    with ctx.db.reading() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Patient, FollowUpEntry, Fill, AuditEntry)
        }


def test_a_nul_in_a_patient_name_is_refused_by_name(ctx: ServiceContext, db_backend: str) -> None:
    with pytest.raises(ValidationError) as info:
        register_patient(ctx, PatientDraft("N-1", "Nul\x00Byte", "Ann", date(1960, 5, 1)))
    assert info.value.field_errors == {
        "family_name": "The family name contains a control character; remove it."
    }
    assert counts(ctx) == {"Patient": 0, "FollowUpEntry": 0, "Fill": 0, "AuditEntry": 0}


def test_a_nul_in_a_follow_up_note_is_refused_and_nothing_is_written(
    ctx: ServiceContext, db_backend: str
) -> None:
    episode_id = make_episode(ctx)
    before = counts(ctx)
    with pytest.raises(ValidationError) as info:
        add_followup(ctx, episode_id, "Phone call", TODAY + timedelta(days=7), notes="ok\x00")
    assert info.value.field_errors == {"notes": "The note contains a control character; remove it."}
    assert counts(ctx) == before


def test_a_nul_in_a_refill_note_is_refused_and_nothing_is_written(
    ctx: ServiceContext, db_backend: str
) -> None:
    episode_id = make_episode(ctx)
    implant(ctx, episode_id)
    before = counts(ctx)
    with pytest.raises(ValidationError) as info:
        record_refill(
            ctx,
            episode_id,
            morphine_fill(REFILL_AT, aspirated_ml=9.5, notes="Septum found\x00 first time"),
        )
    assert info.value.field_errors == {"notes": "The note contains a control character; remove it."}
    assert counts(ctx) == before


def test_a_nul_in_a_skip_reason_is_refused_and_the_milestone_stays_planned(
    ctx: ServiceContext, db_backend: str
) -> None:
    make_episode(ctx)
    with ctx.db.reading() as session:
        milestone = session.scalars(select(Milestone).order_by(Milestone.id)).first()
        assert milestone is not None
        milestone_id, state = milestone.id, milestone.state
    before = counts(ctx)
    with pytest.raises(ValidationError) as info:
        mark_skipped(ctx, milestone_id, "Not needed\x00")
    assert info.value.field_errors == {
        "reason": "The reason contains a control character; remove it."
    }
    assert counts(ctx) == before
    with ctx.db.reading() as session:
        row = session.get(Milestone, milestone_id)
        assert row is not None and row.state == state
